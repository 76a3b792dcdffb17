/**
 * Server-sent events on a Fastify reply: headers, a reconnect hint, heartbeats so proxies
 * keep the connection, and cleanup when the client goes away.
 */
import type { FastifyReply } from 'fastify';

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
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), heartbeatMs);
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
      raw.on('close', cleanup);
    },
  };
  raw.on('close', () => {
    stream.closed = true;
    clearInterval(heartbeat);
  });
  return stream;
}
