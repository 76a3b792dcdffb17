import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobSpec } from '../port.ts';
import { renderBatchJobBody } from '../batch-job-body.ts';
import { formatSlurmTimeLimit, renderSlurmScript } from './render-slurm-script.ts';

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

test('renders the directives, then the shared body', () => {
  const script = renderSlurmScript(spec);
  const directives = script.split('\n').filter((line) => line.startsWith('#SBATCH '));
  assert.deepEqual(directives, [
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
  ]);
  assert.ok(script.startsWith('#!/bin/bash\n#SBATCH '));
  assert.ok(script.endsWith(renderBatchJobBody(spec).join('\n')));
  assert.match(script, /^'g16' 'input file'\\''s\.com'$/m);
  assert.match(script, /^module load gaussian$/m);
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
  assert.throws(() => renderSlurmScript({ ...spec, workdir: '/home/x/%j' }), RangeError);
  assert.throws(() => renderSlurmScript({ ...spec, queue: 'long --uid=0' }), RangeError);
  assert.throws(() => renderSlurmScript({ ...spec, submissionKey: 'a,b' }), RangeError);
});

test('formats time limits as HH:MM:SS, with days from one day on', () => {
  assert.equal(formatSlurmTimeLimit(1), '00:01:00');
  assert.equal(formatSlurmTimeLimit(90), '01:30:00');
  assert.equal(formatSlurmTimeLimit(1440), '1-00:00:00');
  assert.equal(formatSlurmTimeLimit(1500), '1-01:00:00');
});
