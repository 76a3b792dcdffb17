/**
 * Event streams: a client that leaves before its stream opens (while its request is still
 * authorised and read) leaves nothing behind: no heartbeat, no subscription.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { openEventStream, type EventStream } from './sse.ts';

test('a client gone before the stream opened: the stream is closed and its cleanups run at once', async () => {
  const app = Fastify();
  let opened!: (stream: EventStream) => void;
  const stream = new Promise<EventStream>((resolve) => (opened = resolve));
  const cleanups: string[] = [];
  app.get('/stream', async (_request, reply) => {
    // The route's own work (authorisation, a read) outlasts the client.
    await sleep(300);
    const events = openEventStream(reply, 20);
    events.onClose(() => cleanups.push('unsubscribed'));
    opened(events);
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const leaving = new AbortController();
    const request = fetch(`${url}/stream`, { signal: leaving.signal }).catch(() => 'aborted');
    await sleep(100);
    leaving.abort();
    assert.equal(await request, 'aborted');
    const events = await stream;
    assert.equal(events.closed, true, 'the stream knows its client is gone');
    assert.deepEqual(cleanups, ['unsubscribed'], 'what the route set up for the client is undone');
    events.send({ type: 'ignored', data: {} });
  } finally {
    await app.close();
  }
});
