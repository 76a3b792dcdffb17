/**
 * Workers as members, with every role a separate process on PostgreSQL (test/service.ts):
 * a worker killed while it holds a task is shown lost within a few heartbeats and its task
 * runs elsewhere at once (long before its 2-minute lease), without costing an attempt;
 * SIGTERM drains a worker (it finishes within the grace period, or hands the task back
 * without costing an attempt, and takes nothing new); the workers list (API, CLI) is the
 * platform operator's alone; and a client on a second API process sees every event of an
 * experiment launched through the first. `DROVER_FAULT_STAGE_IN_DELAY_MS` (main.ts) makes a
 * worker hold its stage-in for a while.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken, call, eventsOf, runCli, serverSentEvents, waitFor, waitForState } from './harness.ts';
import { startDroverService, type DroverService } from './service.ts';

let service: DroverService;
let workDir: string;
before(async () => {
  // A lease far longer than any wait below: a task that comes back came back because its
  // worker was found lost or handed it back, not because the lease ran out.
  service = await startDroverService({ DROVER_WORKER_HEARTBEAT_MS: '300', DROVER_LEASE_MS: '120000' });
  workDir = await mkdtemp(join(tmpdir(), 'drover-workers-cli-'));
  await service.startRole('controller');
});
after(async () => {
  await service?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const api = { call: (method: string, path: string, body?: unknown) => service.call(method, path, body) };
const holdStageIn = (ms: number, env: Record<string, string> = {}) =>
  service.startRole('worker', { env: { DROVER_FAULT_STAGE_IN_DELAY_MS: String(ms), ...env } });

async function createExperiment(launch = true): Promise<string> {
  const created = await api.call('POST', '/api/v1/experiments', {
    application: 'pi-monte-carlo',
    resource: 'local',
    inputs: { samples: 20000 },
    launch,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}

/** The registered id of the worker process `child`. */
async function workerIdOf(child: ChildProcess): Promise<string> {
  return waitFor(`worker ${child.pid} to register`, async () => {
    const rows = await service.query<{ id: string }>(`select id from workers where pid = $1`, [child.pid]);
    return rows[0]?.id ?? null;
  });
}

/** Waits until the experiment's stage-in runs under `workerId`. */
async function waitForStageInHeldBy(experimentId: string, workerId: string): Promise<void> {
  await waitFor(`${workerId} to hold the stage-in of ${experimentId}`, async () => {
    const rows = await service.query(
      `select 1 from tasks where experiment_id = $1 and kind = 'stage-in' and state = 'running' and lease_owner = $2`,
      [experimentId, workerId],
    );
    return rows.length > 0 || null;
  });
}

async function stageInOf(experimentId: string) {
  const [row] = await service.query<{ state: string; attempt: number; max_attempts: number }>(
    `select state, attempt, max_attempts from tasks where experiment_id = $1 and kind = 'stage-in'`,
    [experimentId],
  );
  return row;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

/** SIGKILLs every worker process started so far: each test starts its own (one that failed may have left one). */
function killWorkers(): void {
  for (const child of service.children.filter((process) => process.spawnargs.includes('worker')))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function workersListed() {
  const listed = await api.call('GET', '/api/v1/workers');
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  return new Map<string, any>(listed.body.items.map((worker: any) => [worker.id, worker]));
}

describe('workers as members, as separate processes on PostgreSQL', () => {
  it('shows a killed worker lost within a few heartbeats and runs its task elsewhere at once, its attempt not counted', async () => {
    killWorkers();
    const slow = await holdStageIn(600_000);
    const slowId = await workerIdOf(slow.child);
    const id = await createExperiment();
    await waitForStageInHeldBy(id, slowId);
    const fast = await service.startRole('worker');
    const fastId = await workerIdOf(fast.child);
    slow.child.kill('SIGKILL');

    // Within the 2-minute lease by far: the lost worker's task went back at once.
    const done = await waitForState(api, id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.deepEqual(await stageInOf(id), { state: 'completed', attempt: 2, max_attempts: 4 });
    const { items, seqs } = await eventsOf(api, id);
    assert.deepEqual(
      seqs,
      seqs.map((_, index) => index + 1),
    );
    const back = items.find(
      (event) => event.label === 'stage-in' && event.toState === 'ready' && event.fromState === 'running',
    );
    assert.equal(
      back?.message,
      'attempt 1 does not count (the worker running this task stopped heartbeating); back in the queue',
    );

    const workers = await workersListed();
    assert.equal(workers.get(slowId)?.state, 'lost');
    const shown = workers.get(fastId);
    assert.deepEqual(
      {
        state: shown.state,
        kinds: shown.kinds,
        resources: shown.resources,
        host: shown.host,
        pid: shown.pid,
        version: shown.version,
        heartbeatMs: shown.heartbeatMs,
      },
      {
        state: 'active',
        kinds: ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out'],
        resources: null,
        host: hostname(),
        pid: fast.child.pid,
        version: '0.1.0',
        heartbeatMs: 300,
      },
    );

    const table = await runCli(['workers'], { url: service.url, workDir });
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0], /^ID\s+STATE\s+HOST\s+PID\s+VERSION\s+KINDS\s+RESOURCES\s+RUNNING\s+HEARTBEAT$/);
    assert.match(lines.find((line) => line.startsWith(slowId)) ?? '', new RegExp(`^${slowId}\\s+lost\\s`));
    assert.match(
      lines.find((line) => line.startsWith(fastId)) ?? '',
      new RegExp(`^${fastId}\\s+active\\s+\\S+\\s+${fast.child.pid}\\s+0\\.1\\.0\\s+all\\s+all\\s+0/64\\s+\\d+s ago$`),
    );
    const json = await runCli(['workers', '--json'], { url: service.url, workDir });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(
      JSON.parse(json.stdout)
        .items.map((worker: any) => worker.id)
        .sort(),
      [...workers.keys()].sort(),
    );
  });

  it('shows the workers to the platform operator alone', async () => {
    const gateway = await api.call('POST', '/api/v1/gateways', { id: 'physics', name: 'Physics' });
    assert.equal(gateway.status, 201, JSON.stringify(gateway.body));
    const refused = await call(service.url, 'GET', '/api/v1/workers', undefined, gateway.body.admin.token);
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.match(refused.body.detail ?? refused.body.title, /only the platform operator/);
    const cli = await runCli(['workers'], { url: service.url, workDir, token: gateway.body.admin.token });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /only the platform operator .*may see the workers/);
  });

  it('drains on SIGTERM: finishes the task it runs within the grace period, takes nothing new, and stops', async () => {
    killWorkers();
    const drainer = await holdStageIn(3000, { DROVER_WORKER_DRAIN_GRACE_MS: '60000' });
    const drainerId = await workerIdOf(drainer.child);
    const id = await createExperiment();
    await waitForStageInHeldBy(id, drainerId);
    drainer.child.kill('SIGTERM');
    assert.equal(await exited(drainer.child), 0);
    assert.deepEqual(await stageInOf(id), { state: 'completed', attempt: 1, max_attempts: 3 });
    const [submit] = await service.query(`select state from tasks where experiment_id = $1 and kind = 'submit'`, [id]);
    assert.equal(submit.state, 'ready', 'the draining worker took nothing new');
    assert.equal((await workersListed()).get(drainerId)?.state, 'stopped');

    await service.startRole('worker');
    const done = await waitForState(api, id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
  });

  it('hands a task back on SIGTERM when the grace period ends first, without costing an attempt', async () => {
    killWorkers();
    const holder = await holdStageIn(600_000, { DROVER_WORKER_DRAIN_GRACE_MS: '500' });
    const holderId = await workerIdOf(holder.child);
    const id = await createExperiment();
    await waitForStageInHeldBy(id, holderId);
    holder.child.kill('SIGTERM');
    assert.equal(await exited(holder.child), 0);
    assert.deepEqual(await stageInOf(id), { state: 'ready', attempt: 1, max_attempts: 4 });
    const { items } = await eventsOf(api, id);
    assert.equal(
      items.at(-1).message,
      'attempt 1 does not count (its worker stopped and handed the task back unfinished); back in the queue',
    );
    assert.equal((await workersListed()).get(holderId)?.state, 'stopped');

    await service.startRole('worker');
    const done = await waitForState(api, id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.deepEqual(await stageInOf(id), { state: 'completed', attempt: 2, max_attempts: 4 });
  });

  it('streams every event of an experiment launched through one API process to a client of another', async () => {
    const second = await service.startRole('api', { args: ['--port', '0'] });
    const secondUrl = /API:\s+(http:\/\/\S+)\/api\/v1/.exec(second.output())![1];
    assert.notEqual(secondUrl, service.url);
    const id = await createExperiment(false);
    const streamed = readEvents(secondUrl, id);
    await waitFor('the stream on the second API to open', async () => (await streamed.opened) || null);
    const launched = await api.call('POST', `/api/v1/experiments/${id}/launch`);
    assert.equal(launched.status, 200, JSON.stringify(launched.body));
    const { seen, end } = await streamed.done;
    const { items } = await eventsOf(api, id);
    assert.equal(end.state, 'completed');
    assert.deepEqual(
      seen.map((event) => event.seq),
      items.map((event) => event.seq),
      'every event, in order, none twice',
    );
    const summary = (event: any) => [
      event.seq,
      event.entity,
      event.label,
      event.fromState,
      event.toState,
      event.message,
    ];
    assert.deepEqual(seen.map(summary), items.map(summary));
  });
});

/** Reads the event stream of experiment `id` on the API at `url` until it ends. */
function readEvents(url: string, id: string) {
  let markOpen!: (open: boolean) => void;
  const opened = new Promise<boolean>((resolve) => (markOpen = resolve));
  const done = (async () => {
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), 60_000);
    try {
      const response = await fetch(`${url}/api/v1/experiments/${id}/events`, {
        headers: { authorization: `Bearer ${adminToken}`, accept: 'text/event-stream' },
        signal: controller.signal,
      });
      assert.equal(response.status, 200);
      markOpen(true);
      const seen: any[] = [];
      for await (const message of serverSentEvents(response.body)) {
        if (!message.data || message.event === 'progress') continue;
        if (message.event === 'end') return { seen, end: JSON.parse(message.data) };
        seen.push(JSON.parse(message.data));
      }
      throw new Error(`the stream closed without its end after ${seen.length} events`);
    } finally {
      clearTimeout(timeout);
    }
  })();
  return { opened, done };
}
