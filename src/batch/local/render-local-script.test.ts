import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderLocalScript } from './render-local-script.ts';

test('renders the whole script, each user value one quoted word on the command line', () => {
  const script = renderLocalScript({
    submissionKey: 'task-7.attempt-2',
    workdir: '/srv/drover/scratch/exp 1',
    jobName: 'heat.run',
    nodes: 1,
    coresPerNode: 1,
    walltimeMinutes: 1.5,
    environmentSetup: ['export OMP_NUM_THREADS=1'],
    argv: ['node', '--label=run 1\n#SBATCH --partition=gpu', "it's \u2028 {{steps}}"],
    environment: { DROVER_APPLICATION: 'heat' },
  });
  assert.equal(
    script,
    [
      '#!/bin/bash',
      '# drover-submission-key: task-7.attempt-2',
      '# drover-job-name: heat.run',
      '# Rendered by Drover for the local scheduler; every user-given value below is one quoted word.',
      '',
      "drover_job_directory='/srv/drover/scratch/exp 1/.drover-job/task-7.attempt-2'",
      "cd -- '/srv/drover/scratch/exp 1' || exit 1",
      '',
      '# ln -s is atomic: the one copy (of any attempt of the task) that creates the link owns the task.',
      "if ! ln -sT -- task-7.attempt-2 '/srv/drover/scratch/exp 1/.drover-job/task-7.attempt-2.task' 2>/dev/null; then",
      "  # Already claimed: another copy runs (or ran) this task's job. Anything else is an error.",
      "  [ -L '/srv/drover/scratch/exp 1/.drover-job/task-7.attempt-2.task' ] && exit 0",
      '  exit 1',
      'fi',
      '# A job directory made before task claims existed is the claim of its key.',
      'if ! mkdir -- "$drover_job_directory" 2>/dev/null; then',
      '  [ -d "$drover_job_directory" ] && exit 0',
      '  exit 1',
      'fi',
      '',
      '# Start ticks (field 22 of /proc/$$/stat) tell this process apart from a later one with the same pid.',
      'if read -r drover_stat < "/proc/$$/stat" 2>/dev/null; then',
      '  read -r -a drover_stat_fields <<< "${drover_stat##*) }"',
      "  printf '%s\\n' \"${drover_stat_fields[19]}\" > \"$drover_job_directory/start-ticks\"",
      'fi',
      "printf '%s\\n' \"$$\" > \"$drover_job_directory/pid.tmp\" &&",
      '  mv -f -- "$drover_job_directory/pid.tmp" "$drover_job_directory/pid"',
      '',
      '# However the script ends (setup failure included), record the status; tmp + mv so a reader never sees half of it.',
      'drover_record_exit() {',
      "  printf '%s\\n' \"$1\" > \"$drover_job_directory/exit-code.tmp\" &&",
      '    mv -f -- "$drover_job_directory/exit-code.tmp" "$drover_job_directory/exit-code"',
      '}',
      "trap 'drover_record_exit \"$?\"' EXIT",
      '# Without these, a signal would run the EXIT trap with the status of an earlier command;',
      '# bash runs them once the command in the foreground has ended.',
      "trap 'exit 129' HUP",
      "trap 'exit 130' INT",
      "trap 'exit 143' TERM",
      '',
      'exec > stdout.txt 2> stderr.txt < /dev/null',
      "export DROVER_APPLICATION='heat'",
      '',
      '# Environment setup from the application deployment (trusted, verbatim).',
      'export OMP_NUM_THREADS=1',
      '',
      '# The command, under the walltime: TERM at 90 s, KILL 5 s later if it ignores TERM.',
      'SECONDS=0',
      "timeout --signal=TERM --kill-after=5 90 'node' $'--label=run 1\\x0a#SBATCH --partition=gpu' $'it\\'s \\xe2\\x80\\xa8 {{steps}}'",
      'drover_status=$?',
      '# timeout exits 124 (TERM worked) or 137 (KILL needed); the elapsed time rules out a command that chose 124 itself.',
      'if { [ "$drover_status" -eq 124 ] || [ "$drover_status" -eq 137 ]; } && [ "$SECONDS" -ge 90 ]; then',
      '  : > "$drover_job_directory/walltime-exceeded"',
      'fi',
      'exit "$drover_status"',
      '',
    ].join('\n'),
  );
});

test('refuses environment setup lines that are not one line, or that a scheduler would read as a directive', () => {
  const spec = { submissionKey: 'k', workdir: '/tmp/x', jobName: 'j', nodes: 1, coresPerNode: 1, walltimeMinutes: 1, argv: ['true'] };
  assert.throws(() => renderLocalScript({ ...spec, environmentSetup: ['module load a\rmodule load b'] }), /environmentSetup\[0\] must be one line/);
  assert.throws(() => renderLocalScript({ ...spec, environmentSetup: ['ok', ' #BSUB -q x'] }), /environmentSetup\[1\] must not begin with "#"/);
});
