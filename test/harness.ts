/**
 * Test harness: a real Drover (API on a real socket, worker, controller) on a fresh
 * database of the test PostgreSQL server (test/test-database.ts) with the demo catalogue,
 * plus small HTTP helpers. No mocks.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ConfigInput } from '../src/config.ts';
import { startDrover, type RunningDrover } from '../src/main.ts';
import { createTestDatabase } from './test-database.ts';
import { droverBin } from './drover-bin.ts';

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));
export const adminToken = 'test-admin-token-0123456789abcdef';

export interface TestDrover {
  url: string;
  dataDir: string;
  drover: RunningDrover;
  /** Calls the API as the admin (or with `token`); returns status, headers and parsed body. */
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
    headers?: Record<string, string>,
  ): Promise<ApiResponse>;
  stop(): Promise<void>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

/**
 * Starts a Drover with fast polling so tests run in seconds, on a fresh database copied
 * from the migrated template (dropped at stop) unless `overrides` names a `databaseUrl`.
 * `roles` are all three by default; the API alone leaves launched experiments queued.
 */
export async function startTestDrover(
  overrides: ConfigInput = {},
  roles: Array<'api' | 'worker' | 'controller'> = ['api', 'worker', 'controller'],
): Promise<TestDrover> {
  const dataDir = await mkdtemp(join(tmpdir(), 'drover-test-'));
  const database = overrides.databaseUrl ? undefined : await createTestDatabase();
  const config = loadConfig(
    {
      memory: true,
      databaseUrl: database?.url,
      dataDir,
      port: 0,
      adminToken,
      logLevel: 'silent',
      worker: { pollMs: 200, leaseMs: 5000 },
      controller: { pollMs: 150 },
      ...overrides,
    },
    {},
  );
  let drover: RunningDrover;
  try {
    drover = await startDrover(config, roles);
  } catch (error) {
    await database?.drop();
    throw error;
  }
  const url = drover.url!;
  return {
    url,
    dataDir,
    drover,
    call: (method, path, body, token = adminToken, headers = {}) => call(url, method, path, body, token, headers),
    async stop() {
      try {
        await drover.stop();
      } finally {
        await database?.drop();
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = adminToken,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const binary = Buffer.isBuffer(body);
  const response = await fetch(url + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': binary ? 'application/octet-stream' : 'application/json' } : {}),
      ...headers,
    },
    body:
      body === undefined
        ? undefined
        : binary
          ? new Uint8Array(body as Buffer)
          : typeof body === 'string'
            ? body
            : JSON.stringify(body),
  });
  const type = response.headers.get('content-type') ?? '';
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: type.includes('json') && text ? JSON.parse(text) : text,
  };
}

/**
 * The cookies of a new browser session at the Drover at `url` for `token` (POST /me/session,
 * as the sign-in page's token form does), for a browser context's `addCookies`: the web UI
 * keeps no token of its own.
 */
export async function sessionCookies(
  url: string,
  token: string,
): Promise<Array<{ name: string; value: string; url: string; httpOnly: boolean; sameSite: 'Lax' }>> {
  const response = await fetch(`${url}/api/v1/me/session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  if (response.status !== 201)
    throw new Error(`POST /me/session answered ${response.status}: ${await response.text()}`);
  return response.headers.getSetCookie().map((line) => {
    const [pair] = line.split(';');
    const separator = pair.indexOf('=');
    return {
      name: pair.slice(0, separator),
      value: pair.slice(separator + 1),
      url,
      httpOnly: /;\s*HttpOnly/i.test(line),
      sameSite: 'Lax' as const,
    };
  });
}

/**
 * Runs each of `closers` in order, every one even when an earlier one throws, then throws
 * the first error: for `after` hooks, where one server, browser or provider left open keeps
 * the test process alive after its tests have passed.
 */
export async function closeEach(...closers: Array<() => Promise<unknown> | undefined>): Promise<void> {
  const errors: unknown[] = [];
  for (const close of closers) {
    try {
      await close();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
}

/** One message of a server-sent event stream: its `id:`, `event:` and `data:` lines, and the block as sent. */
export interface ServerSentEvent {
  id: string | undefined;
  event: string | undefined;
  data: string | undefined;
  block: string;
}

/** The messages of an SSE response body, in order, as they arrive (a block per blank-line-ended message). */
export async function* serverSentEvents(body: ReadableStream<Uint8Array> | null): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let boundary: number;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      yield {
        id: /^id: (.*)$/m.exec(block)?.[1],
        event: /^event: (.*)$/m.exec(block)?.[1],
        data: /^data: (.*)$/m.exec(block)?.[1],
        block,
      };
    }
  }
}

/** Polls `probe` until it returns a truthy value, or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Waits until an experiment reaches one of `states`; returns it. */
export async function waitForState(
  drover: Pick<TestDrover, 'call'>,
  id: string,
  states: string[],
  timeoutMs = 30_000,
  token?: string,
) {
  return waitFor(
    `experiment ${id} to reach ${states.join('|')}`,
    async () => {
      const response = await drover.call('GET', `/api/v1/experiments/${id}`, undefined, token);
      return states.includes(response.body.state) ? response.body : null;
    },
    timeoutMs,
  );
}

/** Asserts-friendly view of an experiment's events: seqs and "entity label from->to" lines. */
export async function eventsOf(drover: Pick<TestDrover, 'call'>, id: string, token?: string) {
  const response = await drover.call('GET', `/api/v1/experiments/${id}/events`, undefined, token);
  const items: any[] = response.body.items;
  return {
    items,
    seqs: items.map((event) => event.seq),
    moves: items.map(
      (event) =>
        `${event.entity} ${event.entity === 'experiment' ? '' : event.label + ' '}${event.fromState ?? 'new'}->${event.toState}`,
    ),
  };
}

/** Processes (pid list) whose session id is `sessionId`: a local job's whole process tree. */
export async function processesInSession(sessionId: number): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is the state, fields[3] the session id; zombies are already dead
    if (fields[0] !== 'Z' && Number(fields[3]) === sessionId) pids.push(Number(entry));
  }
  return pids;
}

/** What a `drover` command printed, and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Makes a user of the bootstrap gateway as the admin; returns their token. */
export async function createUser(drover: Pick<TestDrover, 'call'>, name: string): Promise<string> {
  const user = await drover.call('POST', '/api/v1/users', { name });
  if (user.status !== 201)
    throw new Error(`creating user ${name} answered ${user.status}: ${JSON.stringify(user.body)}`);
  return user.body.token as string;
}

/** A test fixture application, `exit-with`: a program that exits with the code given as input `code`. */
export const exitWithApplication = {
  name: 'exit-with',
  title: 'Exits with the given code (test fixture)',
  inputs: [{ name: 'code', type: 'integer', required: true }],
  outputs: [],
  deployments: { '*': { command: ['node', '-e', 'process.exit(Number(process.argv[1]))', '--', '{{code}}'] } },
};

/**
 * A test fixture application, `sleep-for`: sleeps `seconds` (default 600), so that an
 * admitted experiment stays active without loading the machine.
 */
export const sleepForApplication = {
  name: 'sleep-for',
  title: 'Sleeps (test fixture)',
  inputs: [{ name: 'seconds', type: 'integer', default: 600 }],
  outputs: [],
  deployments: { '*': { command: ['sleep', '{{seconds}}'] } },
};

/** The body of POST /resources for a local resource with one queue, `normal`, with `limits` (admission). */
export function localResourceWithLimits(name: string, dataDir: string, limits: Record<string, number>) {
  return {
    name,
    kind: 'local',
    config: {
      scratchDir: join(dataDir, `${name}-scratch`),
      queues: [{ name: 'normal', maxWalltimeMinutes: 60, maxCores: 4, ...limits }],
    },
  };
}

/**
 * Runs `drover ...args` as a child process against the API at `url`, in `workDir` (also
 * its data folder), as `token` (default the admin), with `environment` added. With `program:
 * 'bash'`, runs `bash ...args` in that environment instead (a pipe, a command line to copy).
 */
export function runCli(
  args: string[],
  options: { url: string; workDir: string; token?: string; environment?: Record<string, string>; program?: 'bash' },
): Promise<CliRun> {
  const { url, workDir, token = adminToken, environment = {}, program } = options;
  return new Promise((resolve) => {
    execFile(
      program ?? process.execPath,
      program ? args : [droverBin, ...args],
      {
        cwd: workDir,
        env: { ...process.env, DROVER_URL: url, DROVER_TOKEN: token, DROVER_DATA_DIR: workDir, ...environment },
        timeout: 60_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? ((error as any).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
