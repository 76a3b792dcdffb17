import { test } from 'node:test';
import assert from 'node:assert/strict';
import { programOf } from './program-of.ts';

test('programOf names argv[0], or the program env runs past its assignments and options', () => {
  assert.equal(programOf(['squeue', '-h']), 'squeue');
  assert.equal(programOf(['env', 'SLURM_TIME_FORMAT=%s', 'squeue', '--me']), 'squeue');
  assert.equal(programOf(['env', '-i', 'A=1', 'B=2', 'sacct', '-X']), 'sacct');
  assert.equal(programOf(['env', 'A=1']), 'env');
  assert.equal(programOf(['bash', '-c', 'script', 'drover-find']), 'bash');
  assert.equal(
    programOf(['bash', '-c', 'script', 'drover-status', 'marker', '2048', 'env', 'SLURM_TIME_FORMAT=%s', 'squeue']),
    'squeue',
  );
});
