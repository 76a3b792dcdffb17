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

/** Takes over `reply` and opens an event stream on it. */
export function openEventStream(reply: FastifyReply, heartbeatMs = 15_000): EventStream {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write('retry: 2000\n\n');
  const streams = openStreams.get(reply.server.server) ?? new Set<ServerResponse>();
  openStreams.set(reply.server.server, streams);
  streams.add(raw);
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), heartbeatMs);
  // The server keeps the process alive while it listens; a heartbeat never should.
  heartbeat.unref();
  // A client that left while its request was authorised and read has closed the response
  // already: 'close' will not come again, and the heartbeat and the subscriptions made for
  // it would live on (seen: a test process that never exited, held by this interval).
  let gone = raw.destroyed || raw.socket === null || raw.socket.destroyed;
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
      if (gone) cleanup();
      else raw.on('close', cleanup);
    },
  };
  const close = () => {
    gone = true;
    stream.closed = true;
    clearInterval(heartbeat);
    streams.delete(raw);
  };
  if (gone) close();
  else raw.on('close', close);
  return stream;
}
