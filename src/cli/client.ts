/**
 * The CLI's connection to the API: finds the address and token, calls the API through the
 * shared typed client (src/api-client/, generated from the OpenAPI document), turns
 * problem+json into readable errors, and follows an SSE stream with Last-Event-ID resumption.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, createDroverClient, ok, type DroverClient } from '../api-client/client.ts';
import { defaultDataDir } from '../data-dir.ts';
import { exitCodes } from './exit-codes.ts';
import { httpFetch } from './http-fetch.ts';

/**
 * Thrown for API errors and usage mistakes; the CLI prints it and exits non-zero. The CLI's
 * own family (see domain/errors.ts): an API problem arrives here as its detail text, so
 * the CLI never depends on the server's error classes.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly details: string[] = [],
    /** One of {@link exitCodes}: `refused` unless the command line or the connection is at fault. */
    readonly exitCode: number = exitCodes.refused,
  ) {
    super(message);
  }
}

/** The options every command has (`drover --url --token --json`). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Where the API is and the token to call it with. */
export interface Connection {
  url: string;
  token: string;
}

/** Where `drover up` leaves the API address and admin token for the CLI. */
export function credentialsFile(dataDir = process.env.DROVER_DATA_DIR || defaultDataDir()): string {
  return join(dataDir, 'cli.json');
}

/** The API address and token: flags, then DROVER_URL/DROVER_TOKEN, then the file `drover up` wrote. */
export function resolveConnection(options: { url?: string; token?: string }): Connection {
  let saved: Partial<Connection> = {};
  try {
    saved = JSON.parse(readFileSync(credentialsFile(), 'utf8'));
  } catch {
    // no saved credentials: flags or environment must say
  }
  const url = options.url ?? process.env.DROVER_URL ?? saved.url;
  const token = options.token ?? process.env.DROVER_TOKEN ?? saved.token;
  if (!url || !token) {
    throw new CliError(
      'no Drover API to talk to',
      [
        'start one with `drover up` (it saves its address and admin token for the CLI),',
        'or set DROVER_URL and DROVER_TOKEN, or pass --url and --token',
      ],
      exitCodes.unreachable,
    );
  }
  return { url: url.replace(/\/$/, ''), token };
}

/** The typed client of a connection, and the address its errors name. */
export interface CliClient {
  api: DroverClient;
  url: string;
}

/**
 * The shared typed client (src/api-client/) for `connection`. A request that cannot reach the
 * server throws a CliError that says where it tried and what to check.
 */
export function connect(connection: Connection): CliClient {
  const api = createDroverClient({
    baseUrl: connection.url,
    token: () => connection.token,
    fetch: httpFetch,
    // A create carries an Idempotency-Key (creationHeader), so it may be sent again while the
    // API restarts or its store does: the server creates once.
    retry: {
      onRetry: (reason, waitMs) =>
        process.stderr.write(`drover: ${reason}; trying again in ${waitMs / 1000} s with the same Idempotency-Key\n`),
    },
  });
  api.use({
    onError({ error }) {
      const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      return new CliError(
        `cannot reach the Drover API at ${connection.url}: ${cause}`,
        ['is `drover up` running? check DROVER_URL or --url'],
        exitCodes.unreachable,
      );
    },
  });
  return { api, url: connection.url };
}

/** The `--idempotency-key` option of the commands that create: flags and help. */
export const idempotencyKeyOption = [
  '--idempotency-key <key>',
  'a key of yours for this creation (default: a new one each run): within 24 hours, the same command with the same key creates nothing more and prints what the first created',
] as const;

/**
 * The Idempotency-Key header of a creating call: the user's `key`, or a new one for this run
 * of the command, so that its own retries (retryKeyedRequests) create once.
 */
export function creationHeader(key?: string): { 'idempotency-key': string } {
  return { 'idempotency-key': key ?? randomUUID() };
}

/**
 * The data of a typed call, or a CliError carrying the problem's detail and field errors
 * (with a hint on the token for a 401). A 204 answers undefined.
 */
export async function call<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  try {
    return await ok(pending);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const details = (error.problem.errors ?? []).map(({ field, message }) => `${field}: ${message}`);
    if (error.status === 401) details.push('check DROVER_TOKEN or --token');
    throw new CliError(error.problem.detail ?? error.problem.title ?? `HTTP ${error.status}`, details);
  }
}

/** One server-sent event: its id, name and data text. */
export interface StreamEvent {
  id?: string;
  event?: string;
  data: string;
}

/**
 * Follows an experiment's event stream, reconnecting with Last-Event-ID after a drop, until
 * `onEvent` returns true or the server ends the stream (`event: end`, once the experiment has
 * ended). Gapless: the server resends everything after the last id seen.
 */
export async function followEvents(
  { api }: CliClient,
  id: string,
  onEvent: (event: StreamEvent) => boolean | Promise<boolean>,
): Promise<void> {
  let lastId: string | undefined;
  for (let failures = 0; ;) {
    try {
      const body = await call(
        api.GET('/api/v1/experiments/{id}/events', {
          params: { path: { id } },
          headers: { accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) },
          parseAs: 'stream',
        }),
      );
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        failures = 0;
        buffer += decoder.decode(chunk, { stream: true });
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const message: StreamEvent = { data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') message.id = value;
            else if (field === 'event') message.event = value;
            else if (field === 'data') message.data += (message.data ? '\n' : '') + value;
          }
          // The server's last word: the experiment has ended and every event was sent.
          if (message.event === 'end') return;
          if (!message.data) continue;
          if (message.id) lastId = message.id;
          if (await onEvent(message)) return;
        }
      }
    } catch (error) {
      if (error instanceof CliError && error.exitCode !== exitCodes.unreachable) throw error;
      if (++failures > 30)
        throw error instanceof CliError
          ? error
          : new CliError(`lost the event stream of ${id}: ${(error as Error).message}`, [], exitCodes.unreachable);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
