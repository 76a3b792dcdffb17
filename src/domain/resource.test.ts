/**
 * resolveJobSettings (what a user asked for, the deployment's defaults, then Drover's,
 * checked against the queue's limits) and pollIntervalMs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment } from './application.ts';
import { pollIntervalMs, resolveJobSettings, type ResourceSpec } from './resource.ts';

const cluster: ResourceSpec = {
  name: 'hpc',
  kind: 'slurm',
  config: {
    scratchDir: '/scratch',
    queues: [
      { name: 'short', maxWalltimeMinutes: 60, maxCores: 8 },
      { name: 'long', maxWalltimeMinutes: 1440, maxCores: 64, maxNodes: 4 },
    ],
  },
};
const plain: Deployment = { command: ['run'] };

/** The problems' fields for `requested` on `cluster` with `deployment`. */
function problemFields(requested: Parameters<typeof resolveJobSettings>[2], deployment: Deployment = plain): string[] {
  return resolveJobSettings(cluster, deployment, requested).problems.map((problem) => problem.field);
}

describe('resolveJobSettings', () => {
  test('with nothing asked, the first queue, 1 node, 1 core and 10 minutes', () => {
    assert.deepEqual(resolveJobSettings(cluster, plain, {}), {
      settings: { queue: 'short', nodes: 1, coresPerNode: 1, walltimeMinutes: 10, memoryMb: undefined },
      problems: [],
    });
  });

  test("the deployment's defaults come before Drover's", () => {
    const deployment: Deployment = {
      command: ['run'],
      queue: 'long',
      nodes: 2,
      coresPerNode: 4,
      walltimeMinutes: 120,
      memoryMb: 2048,
    };
    assert.deepEqual(resolveJobSettings(cluster, deployment, {}).settings, {
      queue: 'long',
      nodes: 2,
      coresPerNode: 4,
      walltimeMinutes: 120,
      memoryMb: 2048,
    });
  });

  test("what the user asks for comes before the deployment's defaults", () => {
    const deployment: Deployment = {
      command: ['run'],
      queue: 'long',
      nodes: 2,
      coresPerNode: 4,
      walltimeMinutes: 120,
      memoryMb: 2048,
    };
    const requested = { queue: 'short', nodes: 1, coresPerNode: 8, walltimeMinutes: 30, memoryMb: 512 };
    assert.deepEqual(resolveJobSettings(cluster, deployment, requested), { settings: requested, problems: [] });
  });

  test('an unknown queue is the only problem reported, naming the queues there are', () => {
    const { settings, problems } = resolveJobSettings(cluster, plain, { queue: 'gpu', nodes: -1 });
    assert.equal(settings.queue, 'gpu');
    assert.deepEqual(problems, [{ field: 'queue', message: 'unknown queue "gpu" on hpc; queues: short, long' }]);
  });

  test('a resource without queues has no default queue', () => {
    const empty: ResourceSpec = { ...cluster, config: { ...cluster.config, queues: [] } };
    const { settings, problems } = resolveJobSettings(empty, plain, {});
    assert.equal(settings.queue, '');
    assert.deepEqual(problems, [{ field: 'queue', message: 'unknown queue undefined on hpc; queues: ' }]);
  });

  test('numbers must be positive', () => {
    assert.deepEqual(problemFields({ nodes: 0, coresPerNode: -2, walltimeMinutes: 0, memoryMb: -1 }), [
      'nodes',
      'coresPerNode',
      'walltimeMinutes',
      'memoryMb',
    ]);
    assert.deepEqual(problemFields({ walltimeMinutes: Number.NaN }), ['walltimeMinutes']);
  });

  test('nodes, cores and memory are whole numbers; walltime need not be', () => {
    assert.deepEqual(problemFields({ nodes: 1.5 }), ['nodes']);
    assert.deepEqual(problemFields({ coresPerNode: 2.5 }), ['coresPerNode']);
    assert.deepEqual(resolveJobSettings(cluster, plain, { memoryMb: 1.5 }).problems, [
      { field: 'memoryMb', message: 'must be a whole number of megabytes' },
    ]);
    assert.deepEqual(problemFields({ walltimeMinutes: 0.5 }), []);
  });

  test("the queue's walltime, core and node limits hold, inclusive", () => {
    assert.deepEqual(problemFields({ walltimeMinutes: 60, nodes: 2, coresPerNode: 4 }), []);
    assert.deepEqual(resolveJobSettings(cluster, plain, { walltimeMinutes: 61 }).problems, [
      { field: 'walltimeMinutes', message: 'must be at most 60 on queue short' },
    ]);
    assert.deepEqual(resolveJobSettings(cluster, plain, { nodes: 3, coresPerNode: 3 }).problems, [
      { field: 'coresPerNode', message: 'nodes x cores must be at most 8 on queue short' },
    ]);
    assert.deepEqual(resolveJobSettings(cluster, plain, { queue: 'long', nodes: 5 }).problems, [
      { field: 'nodes', message: 'must be at most 4 on queue long' },
    ]);
  });

  test("a deployment's defaults are checked like a user's values", () => {
    assert.deepEqual(problemFields({}, { command: ['run'], walltimeMinutes: 90 }), ['walltimeMinutes']);
  });
});

describe('pollIntervalMs', () => {
  test("a resource's own pollIntervalSeconds wins", () => {
    assert.equal(pollIntervalMs({ ...cluster, config: { ...cluster.config, pollIntervalSeconds: 0.5 } }, 1000), 500);
  });

  test('a local resource is polled every controller pass, a cluster every 5 s', () => {
    assert.equal(pollIntervalMs({ ...cluster, kind: 'local' }, 250), 250);
    assert.equal(pollIntervalMs(cluster, 250), 5000);
    assert.equal(pollIntervalMs({ ...cluster, kind: 'pbs' }, 250), 5000);
  });
});
