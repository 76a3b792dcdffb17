import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ownerKey,
  ownerLineKey,
  planAdmission,
  queueKey,
  type AdmissionCandidate,
  type AdmissionLimits,
  type AdmissionState,
} from './admission.ts';

const at = { gatewayId: 'g', resource: 'r', queue: 'q' };
/** `count` experiments of `owner` (ids `owner-1`...), launched in that order. */
const flood = (owner: string, count: number, extra: Partial<AdmissionCandidate> = {}): AdmissionCandidate[] =>
  Array.from({ length: count }, (_, index) => ({
    ...at,
    id: `${owner}-${index + 1}`,
    ownerId: owner,
    cores: 1,
    priority: 0,
    ...extra,
  }));

function state(limits: AdmissionLimits, extra: Partial<AdmissionState> = {}): AdmissionState {
  return {
    limitsOf: () => limits,
    activeByOwner: new Map(),
    activeByQueue: new Map(),
    gatewayCapsOf: () => undefined,
    activeByGateway: new Map(),
    shares: new Map(),
    ...extra,
  };
}

/**
 * The order the candidates start in when one place frees at a time: plan, start the one
 * admitted, let it run to its end (its owner's usage grows by one core-hour), plan again.
 */
function startOrder(candidates: AdmissionCandidate[], base: AdmissionState): string[] {
  const started: string[] = [];
  let waiting = candidates;
  const shares = new Map(base.shares);
  while (waiting.length > 0) {
    const plan = planAdmission(waiting, { ...base, shares });
    assert.equal(plan.admit.length, 1, 'one place, one start');
    const [id] = plan.admit;
    const owner = waiting.find((candidate) => candidate.id === id)!;
    const share = shares.get(ownerKey(owner)) ?? { weight: 1, usage: 0 };
    shares.set(ownerKey(owner), { ...share, usage: share.usage + 1 });
    started.push(id);
    waiting = waiting.filter((candidate) => candidate.id !== id);
  }
  return started;
}

describe('planAdmission', () => {
  test("a newcomer's experiment does not wait behind another user's flood", () => {
    const candidates = [...flood('heavy', 6), ...flood('newcomer', 2)];
    const plan = planAdmission(candidates, state({ maxActiveJobs: 2 }));
    assert.deepEqual(plan.admit, ['heavy-1', 'newcomer-1']);
    assert.deepEqual(
      plan.waits.map((wait) => `${wait.id} #${wait.place}`),
      ['heavy-2 #1', 'newcomer-2 #2', 'heavy-3 #3', 'heavy-4 #4', 'heavy-5 #5', 'heavy-6 #6'],
    );
    assert.equal(plan.waits[0].reason, 'queue q of r runs at most 2 experiments at once, and all are taken');
  });

  test('one place at a time, three users share it in turn; what they already run counts', () => {
    const candidates = [...flood('a', 4), ...flood('b', 2), ...flood('c', 1)];
    const running = new Map([[ownerLineKey({ ...at, ownerId: 'a' }), 1]]);
    assert.deepEqual(startOrder(candidates, state({ maxActiveJobs: 1 }, { activeByOwner: running })), [
      'b-1',
      'c-1',
      'a-1',
      'b-2',
      'a-2',
      'a-3',
      'a-4',
    ]);
  });

  test('recent usage lowers a user until the others catch up; a weight of 2 gets about twice the starts', () => {
    const candidates = [...flood('used', 3), ...flood('fresh', 3)];
    const shares = new Map([[ownerKey({ gatewayId: 'g', ownerId: 'used' }), { weight: 1, usage: 2 }]]);
    assert.deepEqual(startOrder(candidates, state({ maxActiveJobs: 1 }, { shares })), [
      'fresh-1',
      'fresh-2',
      'used-1',
      'fresh-3',
      'used-2',
      'used-3',
    ]);
    const weighted = new Map([[ownerKey({ gatewayId: 'g', ownerId: 'double' }), { weight: 2, usage: 0 }]]);
    const both = [...flood('double', 4), ...flood('single', 4)];
    assert.deepEqual(startOrder(both, state({ maxActiveJobs: 1 }, { shares: weighted })), [
      'double-1',
      'single-1',
      'double-2',
      'double-3',
      'double-4',
      'single-2',
      'single-3',
      'single-4',
    ]);
  });

  test("a user's priority reorders their own line, not others'", () => {
    const mine = flood('me', 3);
    mine[2].priority = 5;
    const candidates = [...mine, ...flood('other', 2)];
    assert.deepEqual(startOrder(candidates, state({ maxActiveJobs: 1 })), [
      'me-3',
      'other-1',
      'me-1',
      'other-2',
      'me-2',
    ]);
  });

  test("the per-user limit holds back its owner only; others' experiments go past", () => {
    const candidates = [...flood('a', 3), ...flood('b', 1)];
    const plan = planAdmission(candidates, state({ maxJobsPerUser: 1 }));
    assert.deepEqual(plan.admit, ['a-1', 'b-1']);
    assert.deepEqual(
      plan.waits.map((wait) => [wait.id, wait.place, wait.reason]),
      [
        ['a-2', 1, '1 of your experiments is active on queue q of r, the most it allows one user'],
        ['a-3', 2, '1 of your experiments is active on queue q of r, the most it allows one user'],
      ],
    );
  });

  test('cores in use: nothing smaller jumps ahead of a large request; a request larger than the limit runs alone', () => {
    const key = queueKey(at);
    const candidates = [...flood('big', 1, { cores: 6 }), ...flood('small', 2, { cores: 1 })];
    const busy = state({ maxActiveCores: 8 }, { activeByQueue: new Map([[key, { jobs: 1, cores: 4 }]]) });
    const plan = planAdmission(candidates, busy);
    assert.deepEqual(plan.admit, [], 'the small ones wait behind the big one');
    assert.equal(plan.waits[0].reason, 'queue q of r allows 8 cores in use at once; 4 are in use and this needs 6');
    const huge = flood('huge', 1, { cores: 16 });
    assert.deepEqual(planAdmission(huge, state({ maxActiveCores: 8 })).admit, ['huge-1']);
  });

  test("a gateway's cap holds back all its users on every queue, and another gateway not at all", () => {
    const other = { gatewayId: 'h', resource: 'r', queue: 'q' };
    const candidates = [...flood('a', 2), ...flood('b', 1, { queue: 'elsewhere' }), ...flood('c', 2, other)];
    const capped = state(
      {},
      {
        gatewayCapsOf: (gatewayId) => (gatewayId === 'g' ? { maxActiveExperiments: 3 } : undefined),
        activeByGateway: new Map([['g', { jobs: 2, cores: 2 }]]),
      },
    );
    const plan = planAdmission(candidates, capped);
    assert.deepEqual(plan.admit, ['a-1', 'c-1', 'c-2']);
    assert.deepEqual(
      plan.waits.map((wait) => [wait.id, wait.place, wait.reason]),
      [
        ['b-1', 1, 'gateway g runs at most 3 experiments at once, and all are taken'],
        ['a-2', 2, 'gateway g runs at most 3 experiments at once, and all are taken'],
      ],
    );
  });

  test('experiments on queues without limits, or whose resource is gone, are admitted', () => {
    const candidates = flood('x', 3);
    assert.deepEqual(planAdmission(candidates, state({})).admit, ['x-1', 'x-2', 'x-3']);
    assert.deepEqual(planAdmission(candidates, { ...state({}), limitsOf: () => undefined }).admit, [
      'x-1',
      'x-2',
      'x-3',
    ]);
  });
});
