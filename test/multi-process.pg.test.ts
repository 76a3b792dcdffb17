/**
 * Drover as a service on PostgreSQL: `drover migrate`, then `drover api`, two
 * `drover worker`s and two `drover controller`s as separate processes. Experiments run
 * end to end; workers killed with SIGKILL over and over lose nothing and run no job twice;
 * killing the leading controller hands its duties to the standby.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsOf, waitFor, waitForState } from './harness.ts';
import { startDroverService, type DroverService } from './service.ts';

let service: DroverService;
before(async () => {
  service = await startDroverService();
});
after(async () => {
  await service?.stop();
});

const startRole = (role: string) => service.startRole(role);
const api = { call: (method: string, path: string, body?: unknown) => service.call(method, path, body) };

describe('api, workers and controllers as separate processes on PostgreSQL', () => {
  it('runs experiments end to end across processes', async () => {
    await Promise.all([startRole('worker'), startRole('worker'), startRole('controller'), startRole('controller')]);
    const ids: string[] = [];
    for (let index = 0; index < 6; index++) {
      const created = await api.call('POST', '/api/v1/experiments', {
        application: 'pi-monte-carlo',
        resource: 'local',
        inputs: { samples: 20000 + index },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids.push(created.body.id);
    }
    for (const id of ids) {
      const done = await waitForState(api, id, ['completed', 'failed', 'canceled'], 60_000);
      assert.equal(done.state, 'completed', JSON.stringify(done.failure));
      const { seqs } = await eventsOf(api, id);
      assert.deepEqual(
        seqs,
        seqs.map((_, index) => index + 1),
      );
    }
    assert.match(await leaderHolder(), /^controller-\d+-/, 'one controller leads');
  });

  it('survives workers killed with SIGKILL again and again: every job runs exactly once', async () => {
    const app = await api.call('POST', '/api/v1/applications', {
      name: 'marked-job',
      title: 'Appends its experiment id to a marker file, then sleeps (test fixture)',
      inputs: [{ name: 'marker', type: 'string', required: true }],
      outputs: [],
      deployments: {
        '*': { command: ['bash', '-c', 'echo "$DROVER_EXPERIMENT_ID" >> "$1"; sleep 1', '--', '{{marker}}'] },
      },
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const marker = join(service.dataDir, 'starts.log');
    const workers = service.children.filter((child) => child.spawnargs.includes('worker'));
    const ids: string[] = [];
    for (let index = 0; index < 12; index++) {
      const created = await api.call('POST', '/api/v1/experiments', {
        application: 'marked-job',
        resource: 'local',
        inputs: { marker },
      });
      assert.equal(created.status, 201);
      ids.push(created.body.id);
    }
    // Kill a worker every 400 ms and start a fresh one, for 6 s.
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      workers.shift()?.kill('SIGKILL');
      workers.push((await startRole('worker')).child);
    }
    for (const id of ids) {
      const done = await waitForState(api, id, ['completed', 'failed', 'canceled'], 90_000);
      assert.equal(done.state, 'completed', `${id}: ${JSON.stringify(done.failure)} ${JSON.stringify(done.tasks)}`);
      const { seqs } = await eventsOf(api, id);
      assert.deepEqual(
        seqs,
        seqs.map((_, index) => index + 1),
      );
    }
    const starts = (await readFile(marker, 'utf8')).trim().split('\n').sort();
    assert.deepEqual(starts, [...ids].sort(), 'each job started exactly once');
  });

  it('hands the controller duties to the standby when the leader is killed', async () => {
    const leader = await leaderHolder();
    const leaderPid = Number(/^controller-(\d+)-/.exec(leader)![1]);
    const created = await api.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      inputs: { duration_seconds: 2 },
    });
    await waitFor(
      'the job to run',
      async () => (await api.call('GET', `/api/v1/experiments/${created.body.id}`)).body.job?.state === 'running',
    );
    const leaderProcess = service.children.find((child) => child.pid === leaderPid);
    assert.ok(leaderProcess, `the leader ${leader} is one of ours`);
    leaderProcess.kill('SIGKILL');
    const done = await waitForState(api, created.body.id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const next = await leaderHolder();
    assert.notEqual(next, leader, 'the standby leads now');
  });
});

async function leaderHolder(): Promise<string> {
  return (await service.query<{ holder: string }>('select holder from controller_leadership'))[0].holder;
}
