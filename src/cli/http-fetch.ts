/**
 * The CLI's fetch: one request over node:http (or node:https), answered as a standard
 * Response. Node.js's global fetch (undici) compiles its WebAssembly HTTP parser on first
 * use and waits for that compilation when the process exits: measured here on Node.js 20,
 * one `fetch` made a command take 0.5-1 s longer than the same request over node:http,
 * against a CLI budget of 300 ms (bench/cli.bench.ts).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/**
 * Sends `request` and resolves with the response as soon as its headers arrive; the body
 * streams (server-sent events, downloads) and cancelling it closes the connection.
 * Redirects are not followed (the API answers none). Rejects like fetch: with a TypeError
 * "fetch failed" whose `cause` is the network error (ECONNREFUSED ...), or the signal's
 * reason when `request.signal` aborts.
 */
export async function httpFetch(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  if (body) headers['content-length'] = String(body.length);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send(url, { method: request.method, headers, signal: request.signal }, (incoming) =>
      resolve(toResponse(incoming)),
    );
    outgoing.on('error', (error) =>
      reject(request.signal.aborted ? request.signal.reason : new TypeError('fetch failed', { cause: error })),
    );
    outgoing.end(body);
  });
}

function toResponse(incoming: IncomingMessage): Response {
  const headers = new Headers();
  for (let index = 0; index < incoming.rawHeaders.length; index += 2)
    headers.append(incoming.rawHeaders[index]!, incoming.rawHeaders[index + 1]!);
  const status = incoming.statusCode ?? 502;
  // A Response refuses a body for these statuses, even an empty one.
  const bodyless = status === 204 || status === 205 || status === 304;
  if (bodyless) incoming.resume();
  return new Response(bodyless ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), {
    status,
    statusText: incoming.statusMessage,
    headers,
  });
}
