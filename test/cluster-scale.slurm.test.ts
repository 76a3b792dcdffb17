/**
 * 200 concurrent experiments on the Slurm test cluster through the HTTP API, and the
 * scheduler calls they cost, read from Drover's own /metrics as an operator would: every
 * poll is ONE squeue for all of the resource's active jobs (plus at most one sacct for jobs
 * that left the queue), never a call per job.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDrover, waitFor, type TestDrover } from './harness.ts';
import { testClusterSsh } from './test-cluster.ts';

const experiments = 200;
let drover: TestDrover;

before(async () => {
  drover = await startTestDrover({ worker: { concurrency: 32, pollMs: 200, leaseMs: 30_000 } });
  const resource = {
    name: 'hpc-scale',
    kind: 'slurm',
    config: {
      scratchDir: '/home/hpcuser/scratch',
      pollIntervalSeconds: 1,
      ssh: { ...testClusterSsh, maxSessions: 8 },
      queues: [{ name: 'debug', maxWalltimeMinutes: 10, maxCores: 8 }],
    },
  };
  assert.equal((await drover.call('POST', '/api/v1/resources', resource)).status, 201);
  const application = {
    name: 'sleep-briefly',
    title: 'Sleep a little and say which sample this is',
    inputs: [{ name: 'sample', type: 'integer', minimum: 0, required: true }],
    deployments: {
      '*': {
        command: ['bash', '-c', 'echo "sample $1"; sleep 1', 'sleep-briefly', '{{sample}}'],
        queue: 'debug',
        walltimeMinutes: 2,
      },
    },
  };
  assert.equal((await drover.call('POST', '/api/v1/applications', application)).status, 201);
});
after(async () => {
  await drover?.stop();
});

/** A metric's value from /metrics, summed over the series whose labels include all of `labels`. */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = (await drover.call('GET', '/metrics')).body as string;
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const series = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => series[key] === value)) total += Number(match[3]);
  }
  return total;
}

it(`runs ${experiments} concurrent experiments with one squeue per poll`, { timeout: 600_000 }, async () => {
  const started = Date.now();
  const ids = await Promise.all(
    Array.from({ length: experiments }, async (_, sample) => {
      const created = await drover.call('POST', '/api/v1/experiments', {
        application: 'sleep-briefly',
        resource: 'hpc-scale',
        inputs: { sample },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    }),
  );
  await waitFor(
    `all ${experiments} experiments to finish`,
    async () => {
      const page = await drover.call(
        'GET',
        `/api/v1/experiments?resource=hpc-scale&state=completed,failed,canceled&limit=${experiments}`,
      );
      return page.body.items.length === experiments;
    },
    540_000,
    2000,
  );
  const seconds = (Date.now() - started) / 1000;
  const failed = (
    await drover.call('GET', `/api/v1/experiments?resource=hpc-scale&state=failed,canceled&limit=${experiments}`)
  ).body.items;
  assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)));
  const sample = (await drover.call('GET', `/api/v1/experiments/${ids[17]}/outputs/stdout.txt`)).body;
  assert.equal(sample, 'sample 17\n');

  const polls = await metric('drover_scheduler_polls_total', { resource: 'hpc-scale' });
  const squeue = await metric('drover_resource_commands_total', { resource: 'hpc-scale', program: 'squeue' });
  const sacct = await metric('drover_resource_commands_total', { resource: 'hpc-scale', program: 'sacct' });
  const jobsPolled = await metric('drover_scheduler_poll_jobs_sum', { resource: 'hpc-scale' });
  const bigPolls = polls - (await metric('drover_scheduler_poll_jobs_bucket', { resource: 'hpc-scale', le: '10' }));
  console.log(
    `${experiments} experiments in ${seconds.toFixed(1)} s: ${polls} polls covering ${jobsPolled} job observations, ` +
      `${squeue} squeue and ${sacct} sacct calls (${bigPolls} polls covered more than 10 jobs)`,
  );
  assert.ok(polls > 0);
  assert.equal(squeue, polls, 'every poll is exactly one squeue, whatever the number of jobs');
  assert.ok(sacct <= polls, `at most one sacct per poll (${sacct} for ${polls} polls)`);
  assert.ok(jobsPolled >= experiments, 'every job was observed');
  assert.ok(bigPolls > 0, 'polls covered many jobs at once');
});
