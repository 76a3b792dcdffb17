import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobSpec } from '../port.ts';
import { renderSlurmScript } from '../slurm/render-slurm-script.ts';
import { formatPbsWalltime, renderPbsArrayScript, renderPbsScript } from './render-pbs-script.ts';
import { TaskError } from '../../domain/failure.ts';

/** A spec no attempt can submit fails for good: a final `invalid-job-spec`, never a retry. */
const invalidJobSpec = (error: unknown) =>
  error instanceof TaskError && error.code === 'invalid-job-spec' && error.retryable === false;

const spec: JobSpec = {
  submissionKey: 'task-7.attempt-2',
  workdir: '/home/hpcuser/work/exp-1',
  jobName: 'gaussian.run',
  queue: 'long',
  account: 'chem-lab',
  nodes: 2,
  coresPerNode: 4,
  memoryMb: 2048,
  walltimeMinutes: 1500,
  environmentSetup: [],
  argv: ['g16', 'input.com'],
};

test('renders the whole script: the directives, without -o/-e (qsub gets them), then the body the Slurm script has', () => {
  const hostile = { ...spec, argv: ['g16', 'label\n#PBS -q gpu\n#SBATCH -p gpu'] };
  const lines = renderPbsScript(hostile).split('\n');
  const header = [
    '#!/bin/bash',
    '#PBS -N task-7.attempt-2',
    '#PBS -l nodes=2:ppn=4,walltime=25:00:00',
    '#PBS -l mem=2048mb',
    '#PBS -q long',
    '#PBS -A chem-lab',
  ];
  assert.deepEqual(lines.slice(0, header.length), header);
  // The Slurm test holds the body line by line; the PBS body is the same text.
  const slurmLines = renderSlurmScript(hostile).split('\n');
  assert.deepEqual(
    lines.slice(header.length),
    slurmLines.slice(slurmLines.findIndex((line) => line.startsWith('# drover-submission-key'))),
  );
  assert.equal(lines.at(-2), "'g16' $'label\\x0a#PBS -q gpu\\x0a#SBATCH -p gpu'");
});

test('leaves out the optional directives', () => {
  const { queue, account, memoryMb, ...required } = spec;
  assert.deepEqual(
    renderPbsScript(required)
      .split('\n')
      .filter((line) => line.startsWith('#PBS ')),
    ['#PBS -N task-7.attempt-2', '#PBS -l nodes=2:ppn=4,walltime=25:00:00'],
  );
});

test('refuses values that could change the script or the qsub command line', () => {
  assert.throws(() => renderPbsScript({ ...spec, workdir: '/home/x y' }), invalidJobSpec);
  assert.throws(() => renderPbsScript({ ...spec, account: 'a;b' }), invalidJobSpec);
});

test('formats walltimes as HH:MM:SS, hours past 24 included', () => {
  assert.equal(formatPbsWalltime(1), '00:01:00');
  assert.equal(formatPbsWalltime(90), '01:30:00');
  assert.equal(formatPbsWalltime(1500), '25:00:00');
});

test("an array's wrapper: the array's name and the spec's resources, then the wrapper body with PBS's index", () => {
  const lines = renderPbsArrayScript('drover-array-0a1b', { ...spec, arrayGroup: 'sweep-1' }).split('\n');
  assert.deepEqual(lines.slice(0, 6), [
    '#!/bin/bash',
    '#PBS -N drover-array-0a1b',
    '#PBS -l nodes=2:ppn=4,walltime=25:00:00',
    '#PBS -l mem=2048mb',
    '#PBS -q long',
    '#PBS -A chem-lab',
  ]);
  assert.ok(lines.includes('# drover-job-scripts'), 'the table goes in at submit time');
  assert.ok(lines.includes('drover_index=${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-${SLURM_ARRAY_TASK_ID:-}}}'));
  assert.equal(lines.at(-2), 'exec bash -- "$drover_job_script" > stdout.txt 2> stderr.txt');
});
