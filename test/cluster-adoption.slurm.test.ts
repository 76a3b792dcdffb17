/**
 * Exactly-once submission to a real cluster: a worker process is killed (SIGKILL) right
 * after the scheduler accepted the job and before Drover recorded it, the window the
 * submission key exists for. The next attempt, on another worker, finds the job under the
 * first attempt's key and adopts it; the cluster's accounting shows one job. Drover runs as
 * separate processes on PostgreSQL here, because a process has to die.
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

before(async () => {
  service = await startDroverService({
    DROVER_CATALOGUE: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(','),
  });
  await service.startRole('controller');
});
after(async () => {
  await service?.stop();
});

/** Job ids the cluster's accounting holds under a job name (a Drover submission key). */
async function accountedJobs(name: string): Promise<string[]> {
  const { stdout } = await run('sacct', ['-X', '-P', '-n', '-S', '2000-01-01', '--name', name, '-o', 'JobID']);
  return stdout.split('\n').filter(Boolean);
}

describe('a worker killed between the scheduler accepting a job and Drover recording it', () => {
  for (const resource of ['hpc-slurm', 'hpc-pbs']) {
    it(`on ${resource}: the retry adopts the job, and the cluster ran it once`, { timeout: 180_000 }, async () => {
      const doomed = await service.startRole('worker', { env: { DROVER_FAULT_KILL_AFTER_SUBMIT: '1' } });
      const exited = new Promise<string | null>((resolve) =>
        doomed.child.once('exit', (_code, signal) => resolve(signal)),
      );
      const created = await service.call('POST', '/api/v1/experiments', {
        application: 'pi-monte-carlo',
        resource,
        inputs: { samples: 100000 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id;

      assert.equal(await exited, 'SIGKILL', 'the worker died right after submitting');
      const submitTask = (await service.call('GET', `/api/v1/experiments/${id}`)).body.tasks.find(
        (task: any) => task.kind === 'submit',
      );
      const keyOf = (attempt: number) => `drover-${id.replaceAll('-', '').slice(0, 16)}-${submitTask.id}-${attempt}`;
      const firstKey = keyOf(1);
      const jobsBefore = await waitFor(
        'the job to reach the accounting',
        async () => {
          const jobs = await accountedJobs(firstKey);
          return jobs.length > 0 ? jobs : null;
        },
        30_000,
        250,
      );
      assert.equal(jobsBefore.length, 1, 'the scheduler accepted the job');
      assert.equal(
        (await service.call('GET', `/api/v1/experiments/${id}`)).body.job,
        null,
        'Drover had not recorded it',
      );

      const survivor = await service.startRole('worker');
      try {
        const done = await waitForState(service, id, ['completed', 'failed', 'canceled'], 120_000);
        assert.equal(done.state, 'completed', JSON.stringify({ failure: done.failure, tasks: done.tasks }));
        assert.equal(done.job.submissionKey, firstKey, 'the job of the first attempt was adopted');
        assert.equal(done.job.nativeId, jobsBefore[0]);
        assert.ok(done.tasks.find((task: any) => task.kind === 'submit').attempt >= 2, 'the submit task was retried');
        const events = (await eventsOf(service, id)).items;
        assert.ok(
          events.some(
            (event) =>
              event.entity === 'job' && /adopted job \d+ submitted by an earlier attempt/.test(event.message ?? ''),
          ),
        );
        // One job in the cluster's accounting for this experiment, under any attempt's key.
        const keys = Array.from({ length: 5 }, (_, index) => keyOf(index + 1));
        const all = (await Promise.all(keys.map(accountedJobs))).flat();
        assert.deepEqual(all, [jobsBefore[0]], 'the cluster ran exactly one job');
      } finally {
        survivor.child.kill('SIGTERM');
        await new Promise((resolve) => survivor.child.once('exit', resolve));
      }
    });
  }
});
