/**
 * The CLI's HTTP client: finds the API and token, calls it, turns problem+json into
 * readable errors, and follows an SSE stream with Last-Event-ID resumption.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultDataDir } from '../config.ts';

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
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

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
    throw new CliError('no Drover API to talk to', [
      'start one with `drover up` (it saves its address and admin token for the CLI),',
      'or set DROVER_URL and DROVER_TOKEN, or pass --url and --token',
    ]);
  }
  return { url: url.replace(/\/$/, ''), token };
}

export class ApiClient {
  constructor(private readonly connection: Connection) {}

  /** Calls the API; throws a CliError carrying the problem's detail and field errors. */
  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const response = await this.fetch(method, path, body, headers);
    if (response.status === 204) return undefined as T;
    const type = response.headers.get('content-type') ?? '';
    return (type.includes('json') ? response.json() : response.text()) as Promise<T>;
  }

  /** Like request, but returns the raw response (downloads). */
  async fetch(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    let response: Response;
    const isBinary = Buffer.isBuffer(body);
    try {
      response = await fetch(this.connection.url + path, {
        method,
        headers: {
          authorization: `Bearer ${this.connection.token}`,
          ...(body !== undefined ? { 'content-type': isBinary ? 'application/octet-stream' : 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : isBinary ? new Uint8Array(body as Buffer) : JSON.stringify(body),
      });
    } catch (error) {
      throw new CliError(
        `cannot reach the Drover API at ${this.connection.url}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`,
        ['is `drover up` running? check DROVER_URL or --url'],
      );
    }
    if (!response.ok) {
      const text = await response.text();
      let problem: { detail?: string; title?: string; errors?: Array<{ field: string; message: string }> };
      try {
        problem = JSON.parse(text);
      } catch {
        problem = { detail: text };
      }
      const details = (problem.errors ?? []).map((error) => `${error.field}: ${error.message}`);
      if (response.status === 401) details.push('check DROVER_TOKEN or --token');
      throw new CliError(problem.detail ?? problem.title ?? `HTTP ${response.status}`, details);
    }
    return response;
  }

  /**
   * Follows an SSE stream, reconnecting with Last-Event-ID after a drop, until `onEvent`
   * returns true. Gapless: the server resends everything after the last id seen.
   */
  async followEvents(
    path: string,
    onEvent: (event: { id?: string; event?: string; data: string }) => boolean | Promise<boolean>,
  ): Promise<void> {
    let lastId: string | undefined;
    for (let failures = 0; ;) {
      try {
        const response = await this.fetch('GET', path, undefined, {
          accept: 'text/event-stream',
          ...(lastId ? { 'last-event-id': lastId } : {}),
        });
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          failures = 0;
          buffer += decoder.decode(chunk, { stream: true });
          let boundary: number;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const message: { id?: string; event?: string; data: string } = { data: '' };
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'id') message.id = value;
              else if (field === 'event') message.event = value;
              else if (field === 'data') message.data += (message.data ? '\n' : '') + value;
            }
            if (!message.data) continue;
            if (message.id) lastId = message.id;
            if (await onEvent(message)) return;
          }
        }
      } catch (error) {
        if (error instanceof CliError && !error.message.startsWith('cannot reach')) throw error;
        if (++failures > 30) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
