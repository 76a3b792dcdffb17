/**
 * A fresh PostgreSQL database per test, for the suites that run on the PostgreSQL store:
 * `openFreshDatabase` creates `drover_test_<random>` on the server at DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres) and the store it returns drops it on close.
 * When there is no server, it fails saying how to start one (a skipped test would hide a
 * broken tier).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Store } from '../src/store/port.ts';
import { openStoreDroppingOnClose } from './test-database.ts';

const adminUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** Creates an empty database and opens a store on it; closing the store drops the database. */
export async function openFreshDatabase(): Promise<Store> {
  const database = `drover_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`create database ${database}`));
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return openStoreDroppingOnClose({ url: url.toString(), drop: async () => void (await dropDatabase(database)) });
}

function dropDatabase(database: string): Promise<unknown> {
  return withAdmin((admin) => admin.query(`drop database if exists ${database} with (force)`));
}

/** Runs `work` on a short-lived connection to the admin database. */
async function withAdmin<T>(work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  admin.on('error', () => {});
  try {
    await admin.connect();
  } catch (error) {
    const reason = (error as Error).message || (error as { code?: string }).code || String(error);
    throw new Error(
      `PostgreSQL is not reachable at ${withoutPassword(adminUrl)} (${reason}); start it with scripts/start-postgres.sh or set DATABASE_URL`,
      { cause: error },
    );
  }
  try {
    return await work(admin);
  } finally {
    await admin.end().catch(() => {});
  }
}

function withoutPassword(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return connectionString;
  }
}
