/**
 * What a client sees while Drover's PostgreSQL restarts: `drover api` as its own process on a
 * PostgreSQL server of the test's own (an embedded one, so stopping it disturbs nothing else)
 * answers 503 problem+json with Retry-After, and its readiness says so, while the server is
 * down; then the same process serves again, without a restart of its own. A CLI create
 * made meanwhile waits and creates once, its retries carrying one Idempotency-Key.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeCluster, startEmbeddedServer, type EmbeddedServer } from '../src/store/embedded-server.ts';
import type { DroverService } from './service.ts';
import { runCli } from './harness.ts';

let folder: string;
let server: EmbeddedServer | undefined;
let drover: DroverService | undefined;
const postgresDir = () => join(folder, 'postgres');

before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'drover-outage-'));
  await mkdir(postgresDir(), { mode: 0o700 });
  server = await startEmbeddedServer({ dataDir: postgresDir(), durable: false });
  // test/service.ts puts the service's database on the server at DATABASE_URL.
  const previous = process.env.DATABASE_URL;
  process.env.DATABASE_URL = server.urlOf('postgres');
  try {
    const { startDroverService } = await import('./service.ts');
    drover = await startDroverService();
  } finally {
    if (previous === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = previous;
  }
});
after(async () => {
  await drover?.stop().catch(() => {});
  await server?.stop().catch(() => {});
  removeCluster(postgresDir());
  await rm(folder, { recursive: true, force: true });
});

it('answers 503 with Retry-After while its PostgreSQL is down, and serves again once it is back', async () => {
  assert.equal((await drover!.call('GET', '/api/v1/experiments')).status, 200);

  await server!.stop();
  const down = await drover!.call('GET', '/api/v1/experiments');
  assert.equal(down.status, 503, JSON.stringify(down.body));
  assert.equal(down.headers.get('retry-after'), '2');
  assert.match(down.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(down.body.type, 'urn:drover:problem:store-unavailable');
  assert.match(down.body.detail, /cannot reach its store just now .*try again in 2 s/);
  const created = await drover!.call('POST', '/api/v1/experiments', {
    application: 'pi-monte-carlo',
    resource: 'local',
    inputs: { samples: 1000 },
  });
  assert.equal(created.status, 503, 'a write is refused the same way, not failed as an internal error');
  assert.equal((await drover!.call('GET', '/readyz')).status, 503);

  server = await startEmbeddedServer({ dataDir: postgresDir(), durable: false });
  const deadline = Date.now() + 20_000;
  let back = await drover!.call('GET', '/api/v1/experiments');
  while (back.status !== 200 && Date.now() < deadline) {
    await sleep(250);
    back = await drover!.call('GET', '/api/v1/experiments');
  }
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.equal((await drover!.call('GET', '/readyz')).status, 200);
  assert.equal(drover!.children[0]!.exitCode, null, 'the same API process, never restarted');
});

it('lets a CLI create made while PostgreSQL is down wait for it, and creates the experiment once', async () => {
  await server!.stop();
  const name = 'made during an outage';
  const submitting = runCli(['submit', 'pi-monte-carlo', '-i', 'samples=1000', '-n', name, '--draft'], {
    url: drover!.url,
    workDir: folder,
  });
  await sleep(3000);
  server = await startEmbeddedServer({ dataDir: postgresDir(), durable: false });
  const run = await submitting;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /answered 503 \(unavailable\); trying again in [\d.]+ s with the same Idempotency-Key/);
  const rows = await drover!.query<{ id: string }>('select id from experiments where name = $1', [name]);
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.match(run.stdout, new RegExp(rows[0]!.id));
});
