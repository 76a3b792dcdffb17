/**
 * Exactly once across a resume, on the real test cluster: the submit of a resumed run is
 * killed (SIGKILL) right after Slurm accepted its job and before Drover recorded it. The
 * retry adopts that job, submitted under the resumed run's key, never the failed job of the
 * run before; the cluster's accounting shows one job per run. Drover runs as separate
 * processes on PostgreSQL, because a process has to die.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventsOf, projectRoot, waitFor, waitForState } from './harness.ts';
import { startDroverService, type DroverService } from './service.ts';

const run = promisify(execFile);
let service: DroverService;

/** Fails (exit 3) the first time it runs in a working directory, succeeds after. */
const failsOnce = {
  name: 'fails-once',
  title: 'Fails the first time (test fixture)',
  inputs: [],
  outputs: [],
  deployments: {
    '*': {
      command: ['sh', '-c', 'if [ -e ran-before ]; then echo second; else : > ran-before; exit 3; fi'],
      queue: 'debug',
      walltimeMinutes: 2,
    },
  },
};

before(async () => {
  service = await startDroverService({
    DROVER_CATALOGUE: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(','),
  });
  await service.startRole('controller');
  const created = await service.call('POST', '/api/v1/applications', failsOnce);
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
after(async () => {
  await service?.stop();
});

/** Job ids the cluster's accounting holds under a job name (a Drover submission key). */
async function accountedJobs(name: string): Promise<string[]> {
  const { stdout } = await run('sacct', ['-X', '-P', '-n', '-S', '2000-01-01', '--name', name, '-o', 'JobID']);
  return stdout.split('\n').filter(Boolean);
}

async function stopWorker(worker: Awaited<ReturnType<DroverService['startRole']>>): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  const exited = new Promise((resolve) => worker.child.once('exit', resolve));
  worker.child.kill('SIGTERM');
  await exited;
}

describe('a resumed submit killed between Slurm accepting its job and Drover recording it', () => {
  it(
    'adopts the resumed run’s job, not the failed one, and the cluster ran one job per run',
    { timeout: 240_000 },
    async () => {
      const first = await service.startRole('worker');
      const created = await service.call('POST', '/api/v1/experiments', {
        application: 'fails-once',
        resource: 'hpc-slurm',
        inputs: {},
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id;
      const failed = await waitForState(service, id, ['failed', 'completed'], 120_000);
      assert.equal(failed.state, 'failed');
      const failedJob = failed.job;
      await stopWorker(first);

      const doomed = await service.startRole('worker', { env: { DROVER_FAULT_KILL_AFTER_SUBMIT: '1' } });
      const died = new Promise<string | null>((resolve) =>
        doomed.child.once('exit', (_code, signal) => resolve(signal)),
      );
      const resumed = await service.call('POST', `/api/v1/experiments/${id}/resume`);
      assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
      assert.equal(await died, 'SIGKILL', 'the worker died right after submitting');

      const submitTask = failed.tasks.find((task: any) => task.kind === 'submit');
      const keyOf = (attempt: number) => `drover-${id.replaceAll('-', '').slice(0, 16)}-${submitTask.id}-${attempt}`;
      assert.equal(failedJob.submissionKey, keyOf(1));
      const resumedJobs = await waitFor(
        "the resumed run's job to reach the accounting",
        async () => {
          const jobs = await accountedJobs(keyOf(2));
          return jobs.length > 0 ? jobs : null;
        },
        30_000,
        250,
      );
      assert.equal(resumedJobs.length, 1);
      assert.equal(
        (await service.call('GET', `/api/v1/experiments/${id}`)).body.job.id,
        failedJob.id,
        'Drover had not recorded the new job',
      );

      const survivor = await service.startRole('worker');
      try {
        const done = await waitForState(service, id, ['completed', 'failed', 'canceled'], 120_000);
        assert.equal(done.state, 'completed', JSON.stringify({ failure: done.failure, tasks: done.tasks }));
        assert.equal(done.run, 2);
        assert.equal(done.job.submissionKey, keyOf(2), "the resumed run's job was adopted");
        assert.equal(done.job.nativeId, resumedJobs[0]);
        assert.notEqual(done.job.nativeId, failedJob.nativeId);
        const events = (await eventsOf(service, id)).items;
        const adopted = events.filter((event) => event.entity === 'job' && /^adopted job/.test(event.message ?? ''));
        assert.deepEqual(
          adopted.map((event) => event.label),
          [resumedJobs[0]],
        );
        const keys = Array.from({ length: 6 }, (_, index) => keyOf(index + 1));
        const all = (await Promise.all(keys.map(accountedJobs))).flat();
        assert.deepEqual(all, [failedJob.nativeId, resumedJobs[0]], 'one job per run');
      } finally {
        await stopWorker(survivor);
      }
    },
  );
});
