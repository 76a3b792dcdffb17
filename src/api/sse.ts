/**
 * Server-sent events on a Fastify reply: headers, a reconnect hint, heartbeats so proxies
 * keep the connection, and cleanup when the client goes away.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The open streams of each HTTP server (one per Fastify root and its plugins), ended when it stops. */
const openStreams = new WeakMap<object, Set<ServerResponse>>();

/**
 * Ends every event stream `app` has open. A stopping server calls it first (its `preClose`
 * hook): a hijacked stream would otherwise hold the close for as long as the client stays, and
 * the client would go on showing "live" while every request failed.
 */
export function endEventStreams(app: FastifyInstance): void {
  for (const raw of openStreams.get(app.server) ?? []) raw.end();
}

/** An open event stream. */
export interface EventStream {
  /** Sends one event (`id` lets the browser resume with Last-Event-ID). */
  send(event: { id?: string | number; type: string; data: unknown }): void;
  /** Sends a last event (no `id`: nothing follows it to resume from) and closes the stream. */
  end(event: { type: string; data: unknown }): void;
  /** Runs `cleanup` when the client disconnects or the stream ends. */
  onClose(cleanup: () => void): void;
  readonly closed: boolean;
}

/**
 * Takes over `reply` and opens an event stream on it. A client that has already gone (it
 * left while the request was being authenticated or loaded: its `close` has fired, before
 * anyone listened) gets a stream that is closed at once, whose `onClose` cleanups run at
 * once, and no heartbeat: a heartbeat that no `close` would ever stop kept the process of
 * a browser test alive after its last test (about 1 run in 20).
 */
export function openEventStream(reply: FastifyReply, heartbeatMs = 15_000): EventStream {
  reply.hijack();
  const raw = reply.raw;
  const streams = openStreams.get(reply.server.server) ?? new Set<ServerResponse>();
  openStreams.set(reply.server.server, streams);
  /** The connection has closed and the cleanups have run. */
  let disconnected = false;
  const cleanups: Array<() => void> = [];
  const stream = {
    closed: false,
    send({ id, type, data }: { id?: string | number; type: string; data: unknown }) {
      if (stream.closed) return;
      raw.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end(event: { type: string; data: unknown }) {
      stream.send(event);
      stream.closed = true;
      raw.end();
    },
    onClose(cleanup: () => void) {
      if (disconnected) cleanup();
      else cleanups.push(cleanup);
    },
  };
  const disconnect = () => {
    if (disconnected) return;
    disconnected = true;
    stream.closed = true;
    streams.delete(raw);
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  if (raw.destroyed || !raw.socket || raw.socket.destroyed) {
    disconnect();
    return stream;
  }
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write('retry: 2000\n\n');
  streams.add(raw);
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), heartbeatMs);
  raw.on('close', () => {
    clearInterval(heartbeat);
    disconnect();
  });
  return stream;
}
