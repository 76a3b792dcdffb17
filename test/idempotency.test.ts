/**
 * Idempotency keys on the routes that create (src/api/idempotency.ts), through the HTTP
 * API: a retry with the same key gets the first answer and creates nothing, concurrent
 * retries create once, a key used for another request is refused, a failed request stores
 * nothing, keys are per user, and a key ends after 24 hours. The CLI's own retries are in
 * test/store-outage.pg.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exitWithApplication,
  runCli,
  startTestDrover,
  type ApiResponse,
  type TestDrover,
  createUser,
} from './harness.ts';

let drover: TestDrover;
let alice: string;
let bob: string;
let workDir: string;
before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'drover-idempotency-'));
  // The API alone: launched experiments stay queued, which is all these tests look at.
  drover = await startTestDrover({}, ['api']);
  const token = (name: string) => createUser(drover, name);
  alice = await token('alice');
  bob = await token('bob');
});
after(async () => {
  await drover?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const pi = (name: string) => ({ application: 'pi-monte-carlo', resource: 'local', name, inputs: { samples: 100 } });

function post(path: string, body: unknown, key: string | null, token = alice): Promise<ApiResponse> {
  return drover.call('POST', path, body, token, key === null ? {} : { 'idempotency-key': key });
}

/** The experiments named `name` that `token` sees. */
async function named(name: string, token = alice): Promise<Array<{ id: string }>> {
  // Fewer than 200 in all here: one page holds them.
  const page = await drover.call('GET', '/api/v1/experiments?limit=200', undefined, token);
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return page.body.items.filter((item: { name: string }) => item.name === name);
}

describe('idempotency keys', () => {
  it('answers a retry with the same key with the first answer, and creates one experiment', async () => {
    const key = randomUUID();
    const first = await post('/api/v1/experiments', pi('retried once'), key);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const again = await post('/api/v1/experiments', pi('retried once'), key);
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers.get('location'), `/api/v1/experiments/${first.body.id}`);
    assert.deepEqual(again.body, first.body);
    assert.deepEqual(
      (await named('retried once')).map((item) => item.id),
      [first.body.id],
    );
    // Without a key, the same body is a new request each time, as before.
    const plain = [
      await post('/api/v1/experiments', pi('no key'), null),
      await post('/api/v1/experiments', pi('no key'), null),
    ];
    assert.deepEqual(
      plain.map((response) => response.status),
      [201, 201],
    );
    assert.equal((await named('no key')).length, 2);
  });

  it('creates once when the retries arrive together', async () => {
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => post('/api/v1/experiments', pi('eight at once'), key)),
    );
    assert.deepEqual(
      answers.map((answer) => answer.status),
      Array(8).fill(201),
      JSON.stringify(answers.map((answer) => answer.body)),
    );
    assert.equal(new Set(answers.map((answer) => answer.body.id)).size, 1);
    assert.equal(answers.filter((answer) => answer.headers.get('idempotent-replayed') === 'true').length, 7);
    assert.equal((await named('eight at once')).length, 1);
  });

  it('refuses a key used again for another request with 422, creating nothing', async () => {
    const key = randomUUID();
    assert.equal((await post('/api/v1/experiments', pi('first use'), key)).status, 201);
    const reused = await post('/api/v1/experiments', pi('second use'), key);
    assert.equal(reused.status, 422, JSON.stringify(reused.body));
    assert.equal(reused.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(reused.body.type, 'urn:drover:problem:idempotency-key-reused');
    assert.match(reused.body.detail, /answered another request/);
    assert.deepEqual(reused.body.errors, [{ field: 'Idempotency-Key', message: 'use a new key for a new request' }]);
    assert.equal((await named('second use')).length, 0);
    // Another route is another request too.
    const batch = await post('/api/v1/experiments/batch', { items: [pi('first use')] }, key);
    assert.equal(batch.status, 422, JSON.stringify(batch.body));
  });

  it('stores nothing for a request that failed: its retry runs again', async () => {
    const key = randomUUID();
    const body = {
      application: 'exit-with',
      resource: 'local',
      name: 'after the application exists',
      inputs: { code: 0 },
    };
    const refused = await post('/api/v1/experiments', body, key);
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    const added = await drover.call('POST', '/api/v1/applications', exitWithApplication);
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const retried = await post('/api/v1/experiments', body, key);
    assert.equal(retried.status, 201, JSON.stringify(retried.body));
    assert.equal(retried.headers.get('idempotent-replayed'), null);
  });

  it('keeps keys per user', async () => {
    const key = randomUUID();
    const forAlice = await post('/api/v1/experiments', pi('alice keyed'), key, alice);
    const forBob = await post('/api/v1/experiments', pi('bob keyed'), key, bob);
    assert.equal(forAlice.status, 201, JSON.stringify(forAlice.body));
    assert.equal(forBob.status, 201, JSON.stringify(forBob.body));
    assert.notEqual(forBob.body.id, forAlice.body.id);
    assert.equal(forBob.headers.get('idempotent-replayed'), null);
  });

  it('creates a batch, a sweep and a clone once for a key', async () => {
    const batchKey = randomUUID();
    const items = [pi('batch keyed 1'), pi('batch keyed 2')];
    const batches = [
      await post('/api/v1/experiments/batch', { items }, batchKey),
      await post('/api/v1/experiments/batch', { items }, batchKey),
    ];
    assert.deepEqual(
      batches.map((response) => response.status),
      [201, 201],
    );
    assert.deepEqual(batches[1].body, batches[0].body);
    assert.equal((await named('batch keyed 1')).length + (await named('batch keyed 2')).length, 2);

    const sweepKey = randomUUID();
    const sweep = {
      application: 'pi-monte-carlo',
      resource: 'local',
      name: 'keyed sweep',
      inputs: {},
      vary: { samples: { values: [10, 20, 30] } },
    };
    const sweeps = [await post('/api/v1/sweeps', sweep, sweepKey), await post('/api/v1/sweeps', sweep, sweepKey)];
    assert.deepEqual(
      sweeps.map((response) => response.status),
      [201, 201],
      JSON.stringify(sweeps[0].body),
    );
    assert.equal(sweeps[1].body.id, sweeps[0].body.id);
    assert.equal(sweeps[1].headers.get('location'), `/api/v1/sweeps/${sweeps[0].body.id}`);
    const listed = await drover.call('GET', '/api/v1/sweeps', undefined, alice);
    assert.equal(listed.body.items.filter((item: { name: string }) => item.name === 'keyed sweep').length, 1);

    const parent = await post('/api/v1/experiments', pi('clone parent'), null);
    const cloneKey = randomUUID();
    const clonePath = `/api/v1/experiments/${parent.body.id}/clone`;
    const clones = [
      await post(clonePath, { name: 'keyed clone', inputs: { samples: 200 } }, cloneKey),
      await post(clonePath, { name: 'keyed clone', inputs: { samples: 200 } }, cloneKey),
    ];
    assert.deepEqual(
      clones.map((response) => response.status),
      [201, 201],
    );
    assert.equal(clones[1].body.id, clones[0].body.id);
    assert.equal((await named('keyed clone')).length, 1);
  });

  it('takes the quoted form of a key, and refuses a key it cannot take', async () => {
    const key = randomUUID();
    const quoted = await post('/api/v1/experiments', pi('quoted key'), `"${key}"`);
    assert.equal(quoted.status, 201, JSON.stringify(quoted.body));
    const bare = await post('/api/v1/experiments', pi('quoted key'), key);
    assert.equal(bare.headers.get('idempotent-replayed'), 'true');
    assert.equal(bare.body.id, quoted.body.id);
    for (const bad of ['has a space', 'x'.repeat(256), '""']) {
      const refused = await post('/api/v1/experiments', pi('bad key'), bad);
      assert.equal(refused.status, 400, `${bad}: ${JSON.stringify(refused.body)}`);
      assert.equal(refused.body.type, 'urn:drover:problem:invalid-idempotency-key');
      assert.equal(refused.body.errors[0].field, 'Idempotency-Key');
    }
    assert.equal((await named('bad key')).length, 0);
  });

  it('forgets a key after 24 hours: the same request then creates again', async () => {
    const key = randomUUID();
    const first = await post('/api/v1/experiments', pi('a day later'), key);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    await drover.drover.store.query(
      `update idempotency_keys set created_at = now() - interval '24 hours 1 minute' where key = $1`,
      [key],
    );
    const later = await post('/api/v1/experiments', pi('a day later'), key);
    assert.equal(later.status, 201, JSON.stringify(later.body));
    assert.equal(later.headers.get('idempotent-replayed'), null);
    assert.notEqual(later.body.id, first.body.id);
    const [{ count }] = await drover.drover.store.query<{ count: number }>(
      'select count(*)::int as count from idempotency_keys where key = $1',
      [key],
    );
    assert.equal(count, 1, 'the expired key was replaced');
  });

  it('lets a script run `drover submit` again with its key and get the same experiment', async () => {
    const key = `nightly-${randomUUID()}`;
    const submit = (name: string) =>
      runCli(['submit', 'pi-monte-carlo', '-i', 'samples=100', '-n', name, '--idempotency-key', key, '--json'], {
        url: drover.url,
        workDir,
        token: alice,
      });
    const first = await submit('cli keyed');
    assert.equal(first.code, 0, first.stderr);
    const again = await submit('cli keyed');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).id, JSON.parse(first.stdout).id);
    assert.equal((await named('cli keyed')).length, 1);
    const other = await submit('cli keyed, another request');
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /answered another request of yours/);
    assert.match(other.stderr, /Idempotency-Key: use a new key for a new request/);
  });
});
