/**
 * Drover as a service for tests: a fresh PostgreSQL database, `drover migrate`, then
 * `drover api` and any other roles as separate processes (real `bin/drover.js`), so tests
 * can kill them like an operator's machine would.
 */
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { droverBin } from './drover-bin.ts';
import { adminToken, call, type ApiResponse } from './harness.ts';

/** The server the databases go on, read at each call (a chaos run starts a server per run). */
const serverUrl = () => process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** A Drover whose roles run as child processes on their own PostgreSQL database. */
export interface DroverService {
  url: string;
  databaseUrl: string;
  dataDir: string;
  /** Every role process started so far (the api first). */
  children: ChildProcess[];
  call(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** Starts one role (`worker`, `controller` ...); resolves once it reports it started. */
  startRole(
    role: string,
    options?: { args?: string[]; env?: Record<string, string> },
  ): Promise<{ child: ChildProcess; output: () => string }>;
  /** Runs a query on the service's database. */
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Kills every role and drops the database. */
  stop(): Promise<void>;
}

/** Runs `work` with a client on the server's maintenance database. */
async function onServer<T>(work: (client: pg.Client) => Promise<T>, connectionString = serverUrl()): Promise<T> {
  const client = new pg.Client({ connectionString });
  await client.connect().catch((error) => {
    throw new Error(
      `PostgreSQL is not reachable at ${connectionString} (${error.message}); start it with scripts/start-postgres.sh`,
    );
  });
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates the database, migrates it and starts `drover api`. `env` is added to every role's environment. */
export async function startDroverService(env: Record<string, string> = {}): Promise<DroverService> {
  const databaseName = `drover_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(serverUrl());
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();
  const dataDir = await mkdtemp(join(tmpdir(), 'drover-service-'));
  const children: ChildProcess[] = [];
  const environment = (extra: Record<string, string> = {}) => ({
    ...process.env,
    DATABASE_URL: databaseUrl,
    DROVER_DATA_DIR: dataDir,
    DROVER_ADMIN_TOKEN: adminToken,
    DROVER_CONTROLLER_POLL_MS: '200',
    DROVER_WORKER_POLL_MS: '200',
    DROVER_LEASE_MS: '2000',
    DROVER_CONTROLLER_LEADERSHIP_MS: '2000',
    DROVER_LOG_LEVEL: 'warn',
    ...env,
    ...extra,
  });

  const startRole: DroverService['startRole'] = (role, options = {}) => {
    const child = spawn(process.execPath, [droverBin, role, ...(options.args ?? [])], {
      env: environment(options.env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stderr!.on('data', (chunk) => (output += chunk));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`drover ${role} did not start:\n${output}`)), 90_000);
      const check = setInterval(() => {
        if (/Drover is running|started\./.test(output)) {
          clearTimeout(timer);
          clearInterval(check);
          resolve({ child, output: () => output });
        }
      }, 50);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        clearInterval(check);
        reject(new Error(`drover ${role} exited with ${code ?? signal}:\n${output}`));
      });
    });
  };

  await onServer((client) => client.query(`create database ${databaseName}`));
  const migrated = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, [droverBin, 'migrate'], { env: environment() }, (error, _stdout, stderr) =>
      resolve({ code: error ? 1 : 0, stderr }),
    ),
  );
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stderr, /the schema is up to date/);
  const api = await startRole('api', { args: ['--port', '0'] });
  const apiUrl = /API:\s+(http:\/\/\S+)\/api\/v1/.exec(api.output())![1];

  return {
    url: apiUrl,
    databaseUrl,
    dataDir,
    children,
    call: (method, path, body) => call(apiUrl, method, path, body),
    startRole,
    query: (sql, params) => onServer(async (client) => (await client.query(sql, params as any[])).rows, databaseUrl),
    async stop() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await onServer((client) => client.query(`drop database if exists ${databaseName} with (force)`)).catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
