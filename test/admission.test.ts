/**
 * Admission (issue 13): a launch over a queue's per-user limit is never refused; it waits
 * `queued` with a reason and its place in line, and starts by itself when a place frees,
 * first launched first. Another user's launch does not wait behind it. Seen through the
 * HTTP API and the CLI, with the real controller and worker.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsOf, runCli, startTestDrover, waitFor, type TestDrover } from './harness.ts';

let drover: TestDrover;
let workDir: string;
let alice: string;
let bob: string;

before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-admission-'));
  const resource = await drover.call('POST', '/api/v1/resources', {
    name: 'limited',
    kind: 'local',
    config: {
      scratchDir: join(drover.dataDir, 'limited-scratch'),
      queues: [{ name: 'normal', maxWalltimeMinutes: 60, maxCores: 4, maxJobsPerUser: 2 }],
    },
  });
  assert.equal(resource.status, 201, JSON.stringify(resource.body));
  // Sleeps, so that an admitted experiment stays active without loading the machine.
  const application = await drover.call('POST', '/api/v1/applications', {
    name: 'sleep-for',
    title: 'Sleeps (test fixture)',
    inputs: [{ name: 'seconds', type: 'integer', default: 300 }],
    outputs: [],
    deployments: { '*': { command: ['sleep', '{{seconds}}'] } },
  });
  assert.equal(application.status, 201, JSON.stringify(application.body));
  const token = async (name: string) => {
    const user = await drover.call('POST', '/api/v1/users', { name });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    return user.body.token as string;
  };
  alice = await token('alice');
  bob = await token('bob');
});
after(async () => {
  await drover?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const sleeper = (name: string, extra: Record<string, unknown> = {}) => ({
  application: 'sleep-for',
  resource: 'limited',
  name,
  inputs: {},
  ...extra,
});

interface Seen {
  state: string;
  waiting: { reason: string; place: number } | null;
}

async function seen(id: string, token: string): Promise<Seen> {
  const response = await drover.call('GET', `/api/v1/experiments/${id}`, undefined, token);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return { state: response.body.state, waiting: response.body.waiting };
}

/** Waits until every experiment shows what `expected` says: a state, or `#n` for waiting n-th in line. */
async function until(ids: string[], token: string, expected: string[]): Promise<void> {
  let last: string[] = [];
  await waitFor(
    `experiments to be ${expected.join(', ')}`,
    async () => {
      last = [];
      for (const id of ids) {
        const { state, waiting } = await seen(id, token);
        last.push(waiting ? `#${waiting.place}` : state);
      }
      return last.every((shown, index) => shown === expected[index]);
    },
    30_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last seen: ${last.join(', ')}`);
  });
}

describe('admission', () => {
  it('keeps launches over the per-user limit waiting in line and starts them as places free', async () => {
    const batch = await drover.call(
      'POST',
      '/api/v1/experiments/batch',
      { items: [0, 1, 2].map((index) => sleeper(`alice ${index}`)) },
      alice,
    );
    assert.equal(batch.status, 201, 'a batch over the limit is accepted, not refused');
    const single = await drover.call('POST', '/api/v1/experiments', sleeper('alice 3'), alice);
    assert.equal(single.status, 201, 'a single launch over the limit is accepted, not refused');
    const draft = await drover.call('POST', '/api/v1/experiments', sleeper('alice 4', { launch: false }), alice);
    assert.equal(draft.status, 201);
    const launched = await drover.call('POST', `/api/v1/experiments/${draft.body.id}/launch`, undefined, alice);
    assert.ok(launched.status < 300, JSON.stringify(launched.body));
    const ids = [...batch.body.items.map((item: { id: string }) => item.id), single.body.id, draft.body.id];

    await until(ids, alice, ['executing', 'executing', '#1', '#2', '#3']);
    const third = await seen(ids[2], alice);
    assert.equal(third.state, 'queued');
    assert.equal(
      third.waiting!.reason,
      '2 of your experiments are active on queue normal of limited, the most it allows one user',
    );

    // Another user's launch does not wait behind alice's.
    const other = await drover.call('POST', '/api/v1/experiments', sleeper('bob 0'), bob);
    assert.equal(other.status, 201);
    await until([other.body.id], bob, ['executing']);

    // The list and the CLI show the place in line and why.
    const list = await drover.call('GET', '/api/v1/experiments?q=alice', undefined, alice);
    const waitingInList = list.body.items.filter((item: Seen) => item.waiting).map((item: Seen) => item.waiting!.place);
    assert.deepEqual(waitingInList.sort(), [1, 2, 3]);
    const show = await runCli(['show', ids[3]], { url: drover.url, workDir, token: alice });
    assert.equal(show.code, 0, show.stderr);
    assert.match(
      show.stdout,
      /state +queued \(2 of your experiments are active on queue normal of limited.*; place 2 in line\)/,
    );
    const ls = await runCli(['ls', '--state', 'queued'], { url: drover.url, workDir, token: alice });
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /queued #1 +sleep-for +limited/);

    // A place frees: the first in line starts, the others move up.
    const canceled = await drover.call('POST', `/api/v1/experiments/${ids[0]}/cancel`, undefined, alice);
    assert.equal(canceled.status, 202);
    await until(ids, alice, ['canceled', 'executing', 'executing', '#1', '#2']);
    const events = await eventsOf(drover, ids[2], alice);
    assert.ok(
      events.items.some(
        (event: { entity: string; toState: string; message: string | null }) =>
          event.entity === 'task' && event.toState === 'ready' && event.message === 'admitted',
      ),
      'the timeline says when it was admitted',
    );

    // A waiting experiment can be canceled: it never started, and the line moves up.
    const dropped = await drover.call('POST', `/api/v1/experiments/${ids[3]}/cancel`, undefined, alice);
    assert.equal(dropped.status, 202);
    await until(ids, alice, ['canceled', 'executing', 'executing', 'canceled', '#1']);
    const dropped3 = await drover.call('GET', `/api/v1/experiments/${ids[3]}`, undefined, alice);
    assert.deepEqual(
      dropped3.body.tasks.map((task: { state: string }) => task.state),
      ['canceled', 'canceled', 'canceled', 'canceled', 'canceled'],
    );

    for (const id of [...ids, other.body.id]) {
      await drover.call('POST', `/api/v1/experiments/${id}/cancel`, undefined, alice);
    }
  });
});
