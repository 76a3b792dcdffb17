/**
 * Resource `auto` through the HTTP API and the CLI, with the real schedulers asked: an
 * application deployed on a local resource (one experiment at a time per user) and on the
 * test cluster's Slurm and PBS resources. With Drover's own line on the local resource hours
 * long, a cluster resource takes it (the less busy of the two when both are idle), and the
 * job runs there.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  localResourceWithLimits,
  projectRoot,
  runCli,
  startTestDrover,
  waitForState,
  type TestDrover,
} from './harness.ts';

let drover: TestDrover;
let workDir: string;

/** Sleeps, then writes out.txt; on the local resource within its one-at-a-time queue, on the cluster in debug. */
const pickMe = {
  name: 'pick-me',
  title: 'Sleep, then write out.txt',
  inputs: [{ name: 'seconds', type: 'integer', minimum: 0, maximum: 600, default: 0 }],
  outputs: ['out.txt'],
  deployments: Object.fromEntries(
    (['local-one', 'hpc-slurm', 'hpc-pbs'] as const).map((resource) => [
      resource,
      {
        command: ['bash', '-c', 'sleep "$1"; echo done > out.txt', 'pick-me', '{{seconds}}'],
        queue: resource === 'local-one' ? 'normal' : 'debug',
        // Long on the local resource: each experiment ahead in its line counts an hour.
        walltimeMinutes: resource === 'local-one' ? 60 : 5,
      },
    ]),
  ),
};

before(async () => {
  drover = await startTestDrover({
    catalogue: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(','),
  });
  workDir = await mkdtemp(join(tmpdir(), 'drover-choice-'));
  const local = await drover.call(
    'POST',
    '/api/v1/resources',
    localResourceWithLimits('local-one', drover.dataDir, { maxJobsPerUser: 1 }),
  );
  assert.equal(local.status, 201, JSON.stringify(local.body));
  const application = await drover.call('POST', '/api/v1/applications', pickMe);
  assert.equal(application.status, 201, JSON.stringify(application.body));
});
after(async () => {
  await drover?.stop();
  await rm(workDir, { recursive: true, force: true });
});

it('picks the resource expected to start first, says why, and the experiment runs there', async () => {
  // Two on the local resource by name: one runs, one waits; its line is now hours long (an hour each).
  for (let index = 0; index < 2; index++) {
    const named = await drover.call('POST', '/api/v1/experiments', {
      application: 'pick-me',
      resource: 'local-one',
      inputs: { seconds: 120 },
    });
    assert.equal(named.status, 201, JSON.stringify(named.body));
  }
  const localLine =
    /local-one: runs at once on the Drover host, (1 of the gateway's experiments active there, )?2 ahead in Drover's line, a typical run 60 min \(its walltime\)/;

  const first = await drover.call('POST', '/api/v1/experiments', {
    application: 'pick-me',
    resource: 'auto',
    inputs: { seconds: 1 },
  });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.match(first.body.resource, /^hpc-(slurm|pbs)$/, first.body.resourceChoice);
  assert.match(first.body.resourceChoice, /^Drover chose hpc-(slurm|pbs) \(auto\), expected to start first: /);
  assert.match(first.body.resourceChoice, localLine);
  assert.match(first.body.resourceChoice, /Slurm expects a start (at once|in \d+ (min|h))/);
  assert.match(first.body.resourceChoice, /\d+ jobs? waiting in debug \(qstat\)/);

  const cli = await runCli(['submit', 'pick-me', '--resource', 'auto', '-i', 'seconds=1'], {
    url: drover.url,
    workDir,
  });
  assert.equal(cli.code, 0, cli.stderr);
  const [line, why] = cli.stdout.split('\n');
  const id = line.split(/\s+/)[0];
  assert.match(why, /^ {2}Drover chose hpc-(slurm|pbs) \(auto\), expected to start first: /);
  assert.match(why, localLine);
  // With both cluster resources idle when the second is weighed, the one not running the first
  // takes it. Both resources share the one test node, so the first's job often makes Slurm
  // expect a later start (then Slurm's estimate decides, and either answer is right).
  if (/Slurm expects a start at once/.test(why) && /: 0 jobs waiting/.test(why)) {
    assert.notEqual(why.trim().split(' ')[2], first.body.resource, why);
  }

  for (const experiment of [first.body.id, id]) {
    const done = await waitForState(drover, experiment, ['completed', 'failed', 'canceled'], 180_000);
    assert.equal(done.state, 'completed', JSON.stringify({ failure: done.failure, job: done.job }));
    assert.match(done.resource, /^hpc-(slurm|pbs)$/);
    assert.match(done.job.nativeId, /^\d+/);
  }
  const done = await waitForState(drover, id, ['completed'], 1000);
  assert.equal(done.resourceChoice, why.trim());
  // `drover show` says the same.
  const show = await runCli(['show', id], { url: drover.url, workDir });
  assert.match(show.stdout, new RegExp(`chosen +Drover chose ${done.resource} \\(auto\\)`));
  // The created event carries every candidate, weighed.
  const events = await drover.call('GET', `/api/v1/experiments/${id}/events`);
  const created = events.body.items.find((event: { toState: string }) => event.toState === 'created');
  assert.deepEqual(
    created.data.resourceChoice.candidates.map((candidate: { resource: string }) => candidate.resource),
    ['hpc-pbs', 'hpc-slurm', 'local-one'],
  );

  for (const experiment of (await drover.call('GET', '/api/v1/experiments?resource=local-one')).body.items) {
    await drover.call('POST', `/api/v1/experiments/${experiment.id}/cancel`);
  }
});

it('refuses what auto cannot do, with a reason', async () => {
  const withQueue = await drover.call('POST', '/api/v1/experiments', {
    application: 'pick-me',
    resource: 'auto',
    queue: 'debug',
  });
  assert.equal(withQueue.status, 400);
  assert.equal(withQueue.body.errors[0].field, 'queue');
  assert.match(withQueue.body.errors[0].message, /each resource's deployment picks its queue/);

  const tooBig = await drover.call('POST', '/api/v1/experiments', {
    application: 'pick-me',
    resource: 'auto',
    coresPerNode: 64,
  });
  assert.equal(tooBig.status, 400);
  assert.match(tooBig.body.detail, /no resource can run pick-me with these settings/);

  const reserved = await drover.call('POST', '/api/v1/resources', localResourceWithLimits('auto', drover.dataDir, {}));
  assert.equal(reserved.status, 400);
  assert.match(reserved.body.errors[0].message, /"auto" is reserved/);
});
