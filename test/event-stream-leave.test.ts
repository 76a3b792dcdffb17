/**
 * Clients that leave an event stream while it is being opened (during authentication): the
 * per-user cap on open streams must not count them, or a user whose browser navigated away
 * at the wrong moment a few times is refused every stream from then on.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { adminToken, startTestDrover, type TestDrover } from './harness.ts';

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover({ limits: { eventStreamsPerUser: 1 } }, ['api']);
});
after(() => drover?.stop());

/** Asks for the changes stream and leaves as soon as the request is written. */
function openAndLeave(): Promise<void> {
  const { hostname, port } = new URL(drover.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.end(
        `GET /api/v1/experiments/changes HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${adminToken}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      socket.destroy();
      resolve();
    });
  });
}

it('does not count a stream whose client left while it was being opened', async () => {
  for (let round = 0; round < 10; round += 1) await openAndLeave();
  // The server has seen every one of them go.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const abort = new AbortController();
  const response = await fetch(`${drover.url}/api/v1/experiments/changes`, {
    headers: { authorization: `Bearer ${adminToken}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  assert.equal(response.status, 200, 'the one stream this user may hold is free');
  abort.abort();
  await response.body?.cancel().catch(() => {});
});
