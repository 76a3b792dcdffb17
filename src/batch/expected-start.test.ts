import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countQueued, describeWait, readTestOnlyStart, slurmShapeOptions } from './expected-start.ts';

test('sbatch --test-only start is read against the login node clock', () => {
  assert.equal(
    readTestOnlyStart(
      '1796220572\n',
      'sbatch: Job 6 to start at 1796221472 using 8 processors on nodes vm in partition debug\n',
    ),
    900,
  );
  // A start in the past (the job would start at once) is no wait.
  assert.equal(
    readTestOnlyStart('1796220572\n', 'sbatch: Job 2 to start at 1796220570 using 1 processors on nodes vm'),
    0,
  );
  assert.equal(readTestOnlyStart('1796220572\n', 'allocation failure: Invalid partition name specified'), null);
});

test('the shape becomes the options the job script would set, and a name that is not plain is refused', () => {
  assert.deepEqual(
    slurmShapeOptions({ queue: 'debug', nodes: 1, coresPerNode: 4, memoryMb: 512, walltimeMinutes: 90 }),
    ['--partition=debug', '--nodes=1', '--ntasks-per-node=4', '--mem=512M', '--time=01:30:00'],
  );
  assert.throws(
    () => slurmShapeOptions({ queue: 'debug --uid=0', nodes: 1, coresPerNode: 1, walltimeMinutes: 1 }),
    RangeError,
  );
  assert.throws(() => slurmShapeOptions({ nodes: 0, coresPerNode: 1, walltimeMinutes: 1 }), RangeError);
});

test('the queue length counts waiting jobs in the queue, every user', () => {
  const qstat = `Job id              Name             Username        Time Use S Queue
------------------- ---------------- --------------- -------- - ---------------
3                   wrap             hpcuser         00:00:00 C debug
8                   wrap             alice           00:00:00 Q debug
9                   wrap             hpcuser         00:00:00 Q debug
10                  wrap             hpcuser         00:00:00 R debug
11                  wrap             hpcuser         00:00:00 Q long
`;
  assert.equal(countQueued(qstat, 'debug'), 2);
  assert.equal(countQueued(qstat, undefined), 3);
  assert.equal(countQueued('', 'debug'), 0);
});

test('waits read as words', () => {
  assert.equal(describeWait(0), 'at once');
  assert.equal(describeWait(900), 'in 15 min');
  assert.equal(describeWait(7500), 'in 2 h 5 min');
});
