/**
 * The PostgreSQL store when the server ends its connections, as a restart or an operator's
 * pg_terminate_backend does: a transaction caught in the middle fails (the process lives on),
 * the pool's next transaction works, and a listener connects again, however long the server
 * refuses it. On a database of its own on the server at DATABASE_URL.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { openPostgresStore } from './postgres-store.ts';
import type { Store } from './port.ts';

const adminUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const database = `drover_test_${randomBytes(6).toString('hex')}`;
let store: Store;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Ends every session on the test database but the caller's, as a server restart would. */
const endSessions = () =>
  admin(
    `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database}' and pid <> pg_backend_pid()`,
  );

before(async () => {
  await admin(`create database ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  store = await openPostgresStore({ connectionString: url.toString(), maxConnections: 2 });
});
after(async () => {
  await store?.close();
  await admin(`drop database if exists ${database} with (force)`);
});

it('a transaction whose connection the server ends fails, the process lives on, and the next one runs', async () => {
  const caught = await store
    .transaction(async (tx) => {
      await tx.query('select 1');
      await endSessions();
      await sleep(300); // the server's message arrives while no query runs
      await tx.query('select 2');
    })
    .then(
      () => null,
      (error: Error) => error,
    );
  assert.ok(caught instanceof Error, 'the transaction failed');
  // Every pooled connection was ended too: the pool replaces them.
  for (let attempt = 0; attempt < 3; attempt++) {
    const rows = await store.transaction((tx) => tx.query<{ n: number }>('select 41 + 1 as n'));
    assert.deepEqual(rows, [{ n: 42 }]);
  }
});

it('a listener connects again after the server ends its session, even when the server refuses it for a while', async () => {
  const heard: string[] = [];
  const stop = await store.listen('drover_test_channel', (payload) => heard.push(payload));
  try {
    await admin(`alter database ${database} with allow_connections false`);
    await endSessions();
    // Its first attempts to connect again are refused.
    await sleep(1500);
    await admin(`alter database ${database} with allow_connections true`);
    const deadline = Date.now() + 15_000;
    while (!heard.includes('back')) {
      assert.ok(Date.now() < deadline, `no notification after the listener's session ended (heard ${heard.join(',')})`);
      await store.query(`select pg_notify('drover_test_channel', 'back')`).catch(() => {});
      await sleep(200);
    }
  } finally {
    await admin(`alter database ${database} with allow_connections true`);
    await stop();
  }
});
