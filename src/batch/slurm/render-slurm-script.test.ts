import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobSpec } from '../port.ts';
import { formatSlurmTimeLimit, renderSlurmArrayScript, renderSlurmScript } from './render-slurm-script.ts';
import { TaskError } from '../../domain/failure.ts';

/** A spec no attempt can submit fails for good: a final `invalid-job-spec`, never a retry. */
const invalidJobSpec = (error: unknown) =>
  error instanceof TaskError && error.code === 'invalid-job-spec' && error.retryable === false;

const spec: JobSpec = {
  submissionKey: 'task-7.attempt-2',
  workdir: '/home/hpcuser/work/exp-1/',
  jobName: 'gaussian.run',
  queue: 'long',
  account: 'chem-lab',
  nodes: 2,
  coresPerNode: 4,
  memoryMb: 2048,
  walltimeMinutes: 90.2,
  environmentSetup: ['module load gaussian'],
  argv: ['g16', "input file's.com"],
};

/** Every line of the script for `spec`, with a label that tries to add a directive and a command. */
const hostileArgv = [
  'g16',
  "input file's.com",
  'label\n#SBATCH --partition=gpu\n#PBS -q gpu #',
  '\r\ntouch /tmp/pwned',
];

test('renders the whole script: the directives, then the shared body, user values as one line each', () => {
  const script = renderSlurmScript({ ...spec, argv: hostileArgv, environment: { LABEL: "a\r\n#BSUB -q x'" } });
  assert.equal(
    script,
    [
      '#!/bin/bash',
      '#SBATCH --job-name=task-7.attempt-2',
      '#SBATCH --comment=gaussian.run',
      '#SBATCH --chdir=/home/hpcuser/work/exp-1',
      '#SBATCH --output=/home/hpcuser/work/exp-1/stdout.txt',
      '#SBATCH --error=/home/hpcuser/work/exp-1/stderr.txt',
      '#SBATCH --partition=long',
      '#SBATCH --account=chem-lab',
      '#SBATCH --nodes=2',
      '#SBATCH --ntasks-per-node=4',
      '#SBATCH --mem=2048M',
      '#SBATCH --time=01:31:00',
      '# drover-submission-key: task-7.attempt-2',
      '# drover-job-name: gaussian.run',
      '# Rendered by Drover; every user-given value below is one quoted word.',
      '',
      "drover_job_directory='/home/hpcuser/work/exp-1/.drover-job/task-7.attempt-2'",
      'drover_walltime_seconds=5460',
      'drover_started_at=',
      '',
      '# Writes one line to a job file; tmp + mv so a reader never sees half of it.',
      'drover_write() {',
      `  { printf '%s\\n' "$2" > "$drover_job_directory/$1.tmp" &&`,
      '    mv -f -- "$drover_job_directory/$1.tmp" "$drover_job_directory/$1"; } 2> /dev/null',
      '}',
      '',
      '# However the script ends (signal, setup failure included), record how, exit-code last.',
      '# Set before anything else runs, so that a signal at any later moment is recorded.',
      '# It first ignores further signals: a scheduler signals every process of the job at',
      '# once, so the command may end first and its TERM reach this script while it records;',
      '# a TERM trap run then would exit before exit-code was written, and the job be lost.',
      'drover_finish() {',
      "  trap '' HUP INT TERM",
      '  trap - EXIT',
      '  local status=$1 ended_at',
      "  printf -v ended_at '%(%s)T' -1",
      '  drover_write ended-at "$ended_at"',
      '  # The scheduler stops a job at its time limit with SIGTERM (SIGKILL later), counted',
      "  # from its own start: before this script's, and in whole seconds here. Hence the margin.",
      '  if [ "$status" -gt 128 ] && [ -n "$drover_started_at" ] && [ $((ended_at - drover_started_at + 10)) -ge "$drover_walltime_seconds" ]; then',
      '    : > "$drover_job_directory/walltime-exceeded"',
      '  fi',
      '  drover_write exit-code "$status"',
      '  exit "$status"',
      '}',
      `trap 'drover_finish "$?"' EXIT`,
      '# A signal records 128 + its number, not the status of an earlier command; bash runs',
      '# these once the command in the foreground has ended.',
      "trap 'drover_finish 129' HUP",
      "trap 'drover_finish 130' INT",
      "trap 'drover_finish 143' TERM",
      '',
      "cd -- '/home/hpcuser/work/exp-1/' || exit 1",
      'mkdir -p -- "$drover_job_directory" || exit 1',
      "# A requeued job runs this script again: the previous run's ending is not this one's.",
      'rm -f -- "$drover_job_directory/exit-code" "$drover_job_directory/ended-at" "$drover_job_directory/walltime-exceeded"',
      "printf -v drover_started_at '%(%s)T' -1",
      'drover_write node "$HOSTNAME"',
      'drover_write started-at "$drover_started_at"',
      '',
      "export LABEL=$'a\\x0d\\x0a#BSUB -q x\\''",
      '',
      '# Environment setup from the application deployment (trusted, verbatim).',
      'module load gaussian',
      '',
      `'g16' 'input file'\\''s.com' $'label\\x0a#SBATCH --partition=gpu\\x0a#PBS -q gpu #' $'\\x0d\\x0atouch /tmp/pwned'`,
      '',
    ].join('\n'),
  );
});

test('leaves out the optional directives', () => {
  const { queue, account, memoryMb, ...required } = spec;
  const script = renderSlurmScript(required);
  assert.doesNotMatch(script, /--partition|--account|--mem/);
});

test('directives come before any command, where sbatch reads them', () => {
  const lines = renderSlurmScript(spec).split('\n');
  const lastDirective = lines.map((line) => line.startsWith('#SBATCH')).lastIndexOf(true);
  const firstCommand = lines.findIndex((line) => line !== '' && !line.startsWith('#'));
  assert.ok(lastDirective < firstCommand);
});

test('refuses values that could change the script', () => {
  assert.throws(() => renderSlurmScript({ ...spec, workdir: '/home/x/%j' }), invalidJobSpec);
  assert.throws(() => renderSlurmScript({ ...spec, queue: 'long --uid=0' }), invalidJobSpec);
  assert.throws(() => renderSlurmScript({ ...spec, submissionKey: 'a,b' }), invalidJobSpec);
  assert.throws(
    () => renderSlurmScript({ ...spec, environmentSetup: ['module load x\n#SBATCH -p gpu'] }),
    /environmentSetup\[0\] must be one line/,
  );
  assert.throws(() => renderSlurmScript({ ...spec, environmentSetup: ['#SBATCH -p gpu'] }), /must not begin with "#"/);
  assert.throws(() => renderSlurmScript({ ...spec, argv: ['a\0b'] }), /NUL/);
});

test('formats time limits as HH:MM:SS, with days from one day on', () => {
  assert.equal(formatSlurmTimeLimit(1), '00:01:00');
  assert.equal(formatSlurmTimeLimit(90), '01:30:00');
  assert.equal(formatSlurmTimeLimit(1440), '1-00:00:00');
  assert.equal(formatSlurmTimeLimit(1500), '1-01:00:00');
});

test("an array's wrapper: the array's name, the group, the spec's resources, output to /dev/null, each element its own script", () => {
  const lines = renderSlurmArrayScript('drover-array-0a1b', {
    ...spec,
    arrayGroup: 'sweep-1',
    argv: hostileArgv,
  }).split('\n');
  // The resource directives are the lone job's (its lines 6 to 11).
  const resources = renderSlurmScript(spec).split('\n').slice(6, 12);
  assert.deepEqual(resources[0], '#SBATCH --partition=long');
  assert.deepEqual(lines, [
    '#!/bin/bash',
    '#SBATCH --job-name=drover-array-0a1b',
    '#SBATCH --comment=sweep-1',
    '#SBATCH --output=/dev/null',
    '#SBATCH --error=/dev/null',
    ...resources,
    '# Rendered by Drover: a job array whose element i runs the i-th job script below as its',
    '# own job, in its own workdir; the directives above are the same for every element.',
    'drover_job_scripts=()',
    '# drover-job-scripts',
    'drover_index=${SLURM_ARRAY_TASK_ID:-}',
    '[[ $drover_index =~ ^[0-9]+$ ]] && drover_job_script=${drover_job_scripts[drover_index]:-} &&',
    '  [ -n "$drover_job_script" ] || { echo "Drover: no job script for array index $drover_index" >&2; exit 1; }',
    'drover_workdir=${drover_job_script%/.drover-job/*}',
    'cd -- "$drover_workdir" || exit 1',
    'exec bash -- "$drover_job_script" > stdout.txt 2> stderr.txt',
    '',
  ]);
  assert.throws(
    () => renderSlurmArrayScript('drover-array-0a1b', { ...spec, arrayGroup: 'sweep 1\n#SBATCH -p gpu' }),
    invalidJobSpec,
  );
});
