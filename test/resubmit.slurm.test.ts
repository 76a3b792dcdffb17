/**
 * Automatic resubmit on the real test cluster (scripts/start-slurm.sh), through Slurm's own
 * commands and the PBS wrappers: a job that runs past its walltime of 1 minute is resubmitted
 * by itself with 2 minutes, and completes. The cluster enforces no memory limit (task/none,
 * no OverMemoryKill), so the memory path is not exercised here (src/domain/resubmit.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventsOf, projectRoot, startTestDrover, waitForState, type TestDrover } from './harness.ts';

/** Sleeps `seconds` on the cluster; one automatic resubmit with twice the walltime. */
const sleepOnCluster = {
  name: 'sleep-resubmitted',
  title: 'Sleeps (test fixture)',
  inputs: [{ name: 'seconds', type: 'integer', minimum: 1, maximum: 600 }],
  outputs: [],
  resubmit: { attempts: 1, walltimeFactor: 2 },
  deployments: { '*': { command: ['sleep', '{{seconds}}'], queue: 'debug', walltimeMinutes: 1 } },
};

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover({
    catalogue: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(','),
  });
  const created = await drover.call('POST', '/api/v1/applications', sleepOnCluster);
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
after(async () => {
  await drover?.stop();
});

describe('automatic resubmit on the test cluster', () => {
  it('resubmits a job past its walltime with twice the walltime, on Slurm and PBS', { timeout: 420_000 }, async () => {
    const ids = new Map<string, string>();
    for (const resource of ['hpc-slurm', 'hpc-pbs']) {
      const created = await drover.call('POST', '/api/v1/experiments', {
        application: 'sleep-resubmitted',
        resource,
        // Slurm checks time limits every 30 s or so: a job under a 1-minute limit may run to
        // about 95 s before it is killed. 100 s outlasts that and fits 2 minutes.
        name: `needs 100 s on ${resource}`,
        inputs: { seconds: 100 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids.set(resource, created.body.id);
    }
    for (const [resource, id] of ids) {
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 400_000);
      assert.equal(done.state, 'completed', `${resource}: ${JSON.stringify(done.failure)}`);
      assert.equal(done.resubmits, 1);
      assert.equal(done.settings.walltimeMinutes, 2);
      const { items, seqs } = await eventsOf(drover, id);
      assert.deepEqual(
        seqs,
        seqs.map((_, index) => index + 1),
      );
      const jobs = items.filter((event) => event.entity === 'job');
      const ended = jobs.filter((event) => ['timed-out', 'completed'].includes(event.toState));
      assert.deepEqual(
        ended.map((event) => event.toState),
        ['timed-out', 'completed'],
        resource,
      );
      if (resource === 'hpc-slurm') assert.equal(ended[0].data.nativeState, 'TIMEOUT');
      assert.notEqual(ended[0].entityId, ended[1].entityId, 'two jobs');
      const resubmitted = items.filter((event) => event.label === 'resubmitted');
      assert.deepEqual(
        resubmitted.map((event) => event.message),
        ['the job ran past its walltime: resubmitted with walltime 1 min -> 2 min (automatic resubmit 1 of 1)'],
      );
      assert.ok(resubmitted[0].seq > ended[0].seq && resubmitted[0].seq < ended[1].seq);
    }
  });
});
