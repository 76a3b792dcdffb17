/**
 * A webhook receiver for tests: a real HTTP server on loopback that records every request
 * (headers and body as received) and answers what the test scripts per path (default 200),
 * and can hold a request unanswered until the test lets it go.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface ReceivedHook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON. */
  json: any;
  at: number;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:<port> */
  url: string;
  received: ReceivedHook[];
  /** Answers the next requests to `path` with these statuses in turn, then 200. */
  script(path: string, statuses: number[]): void;
  /** Holds requests to `path` unanswered (the sender waits) until `release`. */
  hold(path: string): void;
  release(path: string): void;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const scripts = new Map<string, number[]>();
  const held = new Map<string, ServerResponse[] | null>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = request.url ?? '/';
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {}
      received.push({ path, headers: request.headers, body, json, at: Date.now() });
      const waiting = held.get(path);
      if (waiting) {
        waiting.push(response);
        return;
      }
      const status = scripts.get(path)?.shift() ?? 200;
      response
        .writeHead(status, { 'content-type': 'text/plain' })
        .end(status === 200 ? 'thanks' : `scripted ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    script: (path, statuses) => scripts.set(path, [...statuses]),
    hold: (path) => held.set(path, []),
    release(path) {
      const waiting = held.get(path) ?? [];
      held.delete(path);
      for (const response of waiting) if (!response.destroyed) response.writeHead(200).end('late thanks');
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** True when `hook` carries a valid Drover-Signature under `secret` (as a receiver checks it). */
export function signatureIsValid(hook: ReceivedHook, secret: string): boolean {
  const timestamp = String(hook.headers['drover-timestamp'] ?? '');
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${hook.body}`).digest('hex')}`;
  const given = String(hook.headers['drover-signature'] ?? '');
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}
