/**
 * Event streams and clients that leave: a stream's cleanups run when its client goes, also
 * when the client left before the stream was opened (while its request was being
 * authenticated), which used to leave a heartbeat running for ever (it held a browser test's
 * process open after its last test).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { openEventStream, type EventStream } from './sse.ts';

let app: FastifyInstance;
let port: number;
/** What the route did: the stream it opened and whether its cleanup ran. */
let opened: { stream: EventStream; cleanedUp: boolean } | null = null;

before(async () => {
  app = Fastify();
  app.get<{ Querystring: { wait?: string } }>('/stream', async (request, reply) => {
    if (request.query.wait) {
      // As an authentication hook would: the client leaves during this await.
      await new Promise((resolve) => request.raw.socket.once('close', resolve));
    }
    const stream = openEventStream(reply, 20);
    opened = { stream, cleanedUp: false };
    const current = opened;
    stream.onClose(() => (current.cleanedUp = true));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(() => app?.close());

/** Sends a GET for `path` on a raw socket; resolves with the socket once `untilData` (or nothing) arrives. */
function request(path: string, untilData: boolean) {
  return new Promise<ReturnType<typeof connect>>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      if (!untilData) resolve(socket);
    });
    if (untilData) socket.once('data', () => resolve(socket));
  });
}

async function until(what: string, probe: () => boolean): Promise<void> {
  for (let tries = 0; tries < 200 && !probe(); tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(probe(), what);
}

it('cleans up when the client of an open stream goes away', async () => {
  opened = null;
  const socket = await request('/stream', true);
  assert.equal(opened!.stream.closed, false);
  socket.destroy();
  await until('the stream closes and its cleanups run', () => opened!.stream.closed && opened!.cleanedUp);
});

it('gives a client that left before its stream opened a closed stream, and runs its cleanups at once', async () => {
  opened = null;
  const socket = await request('/stream?wait=1', false);
  // Give the server the request, then leave while the route still waits.
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  await until('the route opens its stream', () => opened !== null);
  assert.equal(opened!.stream.closed, true, 'nothing is left to write to');
  assert.equal(opened!.cleanedUp, true, 'its cleanups ran, though no close will ever come');
});
