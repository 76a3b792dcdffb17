/**
 * Drover as a service on PostgreSQL: `drover migrate`, then `drover api`, two
 * `drover worker`s and two `drover controller`s as separate processes. Experiments run
 * end to end; workers killed with SIGKILL over and over lose nothing and run no job twice;
 * killing the leading controller hands its duties to the standby.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { adminToken, call, eventsOf, projectRoot, waitFor, waitForState } from './harness.ts';

const baseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const databaseName = `drover_test_${randomBytes(6).toString('hex')}`;
const databaseUrl = (() => {
  const url = new URL(baseUrl);
  url.pathname = `/${databaseName}`;
  return url.toString();
})();
const children: ChildProcess[] = [];
let dataDir: string;

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect().catch((error) => {
    throw new Error(`PostgreSQL is not reachable at ${baseUrl} (${error.message}); start it with scripts/start-postgres.sh`);
  });
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function environment(extra: Record<string, string> = {}) {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    DROVER_DATA_DIR: dataDir,
    DROVER_ADMIN_TOKEN: adminToken,
    DROVER_CONTROLLER_POLL_MS: '200',
    DROVER_WORKER_POLL_MS: '200',
    DROVER_LEASE_MS: '2000',
    DROVER_CONTROLLER_LEADERSHIP_MS: '2000',
    DROVER_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Starts one drover role as its own process; resolves once it reports it started. */
function startRole(role: string, args: string[] = []): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [join(projectRoot, 'bin/drover.js'), role, ...args], { env: environment(), stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let output = '';
  child.stderr!.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`drover ${role} did not start:\n${output}`)), 30_000);
    const check = setInterval(() => {
      if (/Drover is running|started\./.test(output)) {
        clearTimeout(timer);
        clearInterval(check);
        resolve({ child, output: () => output });
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(check);
      reject(new Error(`drover ${role} exited with ${code}:\n${output}`));
    });
  });
}

let url: string;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'drover-pg-'));
  await admin((client) => client.query(`create database ${databaseName}`));
  const migrated = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, [join(projectRoot, 'bin/drover.js'), 'migrate'], { env: environment() }, (error, _stdout, stderr) =>
      resolve({ code: error ? 1 : 0, stderr }),
    ),
  );
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stderr, /the schema is up to date/);
  const api = await startRole('api', ['--port', '0']);
  url = /API:\s+(http:\/\/\S+)\/api\/v1/.exec(api.output())![1];
});

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await admin((client) => client.query(`drop database if exists ${databaseName} with (force)`)).catch(() => {});
  await rm(dataDir, { recursive: true, force: true });
});

const api = { call: (method: string, path: string, body?: unknown) => call(url, method, path, body) };

describe('api, workers and controllers as separate processes on PostgreSQL', () => {
  it('runs experiments end to end across processes', async () => {
    await Promise.all([startRole('worker'), startRole('worker'), startRole('controller'), startRole('controller')]);
    const ids: string[] = [];
    for (let index = 0; index < 6; index++) {
      const created = await api.call('POST', '/api/v1/experiments', { application: 'pi-monte-carlo', resource: 'local', inputs: { samples: 20000 + index } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids.push(created.body.id);
    }
    for (const id of ids) {
      const done = await waitForState(api, id, ['completed', 'failed', 'canceled'], 60_000);
      assert.equal(done.state, 'completed', JSON.stringify(done.failure));
      const { seqs } = await eventsOf(api, id);
      assert.deepEqual(seqs, seqs.map((_, index) => index + 1));
    }
    assert.match(await leaderHolder(), /^controller-\d+-/, 'one controller leads');
  });

  it('survives workers killed with SIGKILL again and again: every job runs exactly once', async () => {
    const app = await api.call('POST', '/api/v1/applications', {
      name: 'marked-job',
      title: 'Appends its experiment id to a marker file, then sleeps (test fixture)',
      inputs: [{ name: 'marker', type: 'string', required: true }],
      outputs: [],
      deployments: { '*': { command: ['bash', '-c', 'echo "$DROVER_EXPERIMENT_ID" >> "$1"; sleep 1', '--', '{{marker}}'] } },
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const marker = join(dataDir, 'starts.log');
    const workers = children.filter((child) => child.spawnargs.includes('worker'));
    const ids: string[] = [];
    for (let index = 0; index < 12; index++) {
      const created = await api.call('POST', '/api/v1/experiments', { application: 'marked-job', resource: 'local', inputs: { marker } });
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
      assert.deepEqual(seqs, seqs.map((_, index) => index + 1));
    }
    const starts = (await readFile(marker, 'utf8')).trim().split('\n').sort();
    assert.deepEqual(starts, [...ids].sort(), 'each job started exactly once');
  });

  it('hands the controller duties to the standby when the leader is killed', async () => {
    const leader = await leaderHolder();
    const leaderPid = Number(/^controller-(\d+)-/.exec(leader)![1]);
    const created = await api.call('POST', '/api/v1/experiments', { application: 'heat-simulation', resource: 'local', inputs: { duration_seconds: 2 } });
    await waitFor('the job to run', async () => (await api.call('GET', `/api/v1/experiments/${created.body.id}`)).body.job?.state === 'running');
    const leaderProcess = children.find((child) => child.pid === leaderPid);
    assert.ok(leaderProcess, `the leader ${leader} is one of ours`);
    leaderProcess.kill('SIGKILL');
    const done = await waitForState(api, created.body.id, ['completed', 'failed', 'canceled'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const next = await leaderHolder();
    assert.notEqual(next, leader, 'the standby leads now');
  });
});

async function leaderHolder(): Promise<string> {
  const database = new pg.Client({ connectionString: databaseUrl });
  await database.connect();
  try {
    return (await database.query('select holder from controller_leadership')).rows[0].holder;
  } finally {
    await database.end();
  }
}
