import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseResource, expectedWaitSeconds, type ResourceOutlook } from './resource-choice.ts';

const outlook = (resource: string, change: Partial<ResourceOutlook> = {}): ResourceOutlook => ({
  resource,
  droverAhead: 0,
  active: 0,
  typicalRunSeconds: 600,
  typicalRunBasis: 'recent runs',
  scheduler: { startsInSeconds: 0, basis: 'Slurm expects a start at once' },
  ...change,
});

test('the resource whose scheduler expects the earliest start is chosen, and the event says why for each', () => {
  const choice = chooseResource([
    outlook('hpc-slurm', { scheduler: { startsInSeconds: 900, basis: 'Slurm expects a start in 15 min' } }),
    outlook('hpc-pbs', { scheduler: { queuedAhead: 0, basis: '0 jobs waiting in debug (qstat)' } }),
  ]);
  assert.equal(choice.resource, 'hpc-pbs');
  assert.equal(
    choice.summary,
    'Drover chose hpc-pbs (auto), expected to start first: 0 jobs waiting in debug (qstat); hpc-slurm: Slurm expects a start in 15 min',
  );
  assert.deepEqual(
    choice.candidates.map((candidate) => candidate.expectedWaitSeconds),
    [900, 0],
  );
});

test('a queue length counts a typical run per waiting job, and Drover line counts too', () => {
  assert.equal(expectedWaitSeconds(outlook('p', { scheduler: { queuedAhead: 3, basis: '' } })), 1800);
  assert.equal(expectedWaitSeconds(outlook('l', { droverAhead: 2, typicalRunSeconds: 60 })), 120);
  const choice = chooseResource([
    outlook('local', {
      droverAhead: 30,
      typicalRunSeconds: 60,
      scheduler: { startsInSeconds: 0, basis: 'runs at once on the Drover host' },
    }),
    outlook('hpc-slurm', { scheduler: { startsInSeconds: 300, basis: 'Slurm expects a start in 5 min' } }),
  ]);
  assert.equal(choice.resource, 'hpc-slurm');
  assert.match(
    choice.summary,
    /local: runs at once on the Drover host, 30 ahead in Drover's line, a typical run 1 min \(recent runs\)/,
  );
});

test('idle resources tie: the one where the gateway has fewer experiments active wins, then the first', () => {
  const choice = chooseResource([
    outlook('a', { active: 2 }),
    outlook('b', { active: 1 }),
    outlook('c', { active: 1 }),
  ]);
  assert.equal(choice.resource, 'b');
  assert.match(
    choice.summary,
    /^Drover chose b \(auto\), expected to start first: Slurm expects a start at once, 1 of the gateway's experiments active there; a: /,
  );
});

test('a minute is no difference', () => {
  assert.equal(chooseResource([outlook('a'), outlook('b')]).resource, 'a');
  assert.equal(
    chooseResource([outlook('a', { scheduler: { startsInSeconds: 50, basis: '' } }), outlook('b')]).resource,
    'a',
  );
  assert.equal(
    chooseResource([outlook('a', { scheduler: { startsInSeconds: 61, basis: '' } }), outlook('b')]).resource,
    'b',
  );
});

test('a scheduler that does not answer is passed over; with none answering, Drover line decides', () => {
  const down = { unanswered: 'did not answer (connection refused)' };
  const choice = chooseResource([
    outlook('hpc-slurm', { scheduler: down }),
    outlook('hpc-pbs', { scheduler: { queuedAhead: 9, basis: '9 waiting' } }),
  ]);
  assert.equal(choice.resource, 'hpc-pbs');
  assert.match(choice.summary, /hpc-slurm: did not answer \(connection refused\)/);
  const none = chooseResource([
    outlook('a', { scheduler: down, droverAhead: 4 }),
    outlook('b', { scheduler: down, droverAhead: 1 }),
  ]);
  assert.equal(none.resource, 'b');
  assert.match(none.summary, /^Drover chose b \(auto\): no scheduler answered, so by its own line/);
});

test('no candidates is a programming error', () => {
  assert.throws(() => chooseResource([]), RangeError);
});
