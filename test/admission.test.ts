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
import {
  eventsOf,
  localResourceWithLimits,
  runCli,
  sleepForApplication,
  startTestDrover,
  waitFor,
  type TestDrover,
  createUser,
} from './harness.ts';

let drover: TestDrover;
let workDir: string;
let alice: string;
let bob: string;
let carol: string;
let dave: string;

before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-admission-'));
  for (const [name, limits] of [
    ['limited', { maxJobsPerUser: 2 }],
    ['shared', { maxActiveJobs: 2 }],
  ] as const) {
    const resource = await drover.call(
      'POST',
      '/api/v1/resources',
      localResourceWithLimits(name, drover.dataDir, limits),
    );
    assert.equal(resource.status, 201, JSON.stringify(resource.body));
  }
  const application = await drover.call('POST', '/api/v1/applications', sleepForApplication);
  assert.equal(application.status, 201, JSON.stringify(application.body));
  const token = (name: string) => createUser(drover, name);
  alice = await token('alice');
  bob = await token('bob');
  carol = await token('carol');
  dave = await token('dave');
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

    for (const id of ids) await drover.call('POST', `/api/v1/experiments/${id}/cancel`, undefined, alice);
    await drover.call('POST', `/api/v1/experiments/${other.body.id}/cancel`, undefined, bob);
  });

  it('shares a queue limit for all users by fair share, with each owner’s priority ordering their own line', async () => {
    const on = (name: string) => sleeper(name, { resource: 'shared' });
    const flood = await drover.call(
      'POST',
      '/api/v1/experiments/batch',
      { items: [0, 1, 2, 3, 4].map((index) => on(`carol ${index}`)) },
      carol,
    );
    assert.equal(flood.status, 201);
    const carols: string[] = flood.body.items.map((item: { id: string }) => item.id);
    await until(carols, carol, ['executing', 'executing', '#1', '#2', '#3']);
    assert.equal(
      (await seen(carols[2], carol)).waiting!.reason,
      'queue normal of shared runs at most 2 experiments at once, and all are taken',
    );

    // Dave has run nothing: his experiments go before carol's waiting ones.
    const daves: string[] = [];
    for (const index of [0, 1]) {
      const created = await drover.call('POST', '/api/v1/experiments', on(`dave ${index}`), dave);
      assert.equal(created.status, 201);
      daves.push(created.body.id);
    }
    await until(daves, dave, ['#1', '#2']);
    await until(carols, carol, ['executing', 'executing', '#3', '#4', '#5']);

    // Carol puts her last one first in her own line; it does not pass dave's.
    const raised = await runCli(['priority', carols[4], '5'], { url: drover.url, workDir, token: carol });
    assert.equal(raised.code, 0, raised.stderr);
    await until(carols, carol, ['executing', 'executing', '#4', '#5', '#3']);
    const refused = await drover.call('PATCH', `/api/v1/experiments/${carols[4]}`, { priority: 9 }, carol);
    assert.equal(refused.status, 400);
    const notHers = await drover.call('PATCH', `/api/v1/experiments/${daves[0]}`, { priority: 5 });
    assert.equal(notHers.status, 403, "an admin does not reorder a user's line");

    // A place frees: dave's first starts, and everyone behind moves up.
    assert.equal((await drover.call('POST', `/api/v1/experiments/${carols[0]}/cancel`, undefined, carol)).status, 202);
    await until(daves, dave, ['executing', '#1']);
    await until(carols, carol, ['canceled', 'executing', '#3', '#4', '#2']);

    // The gateway admin sets fair-share weights.
    const share = await runCli(['users', 'share', 'dave', '2'], { url: drover.url, workDir });
    assert.equal(share.code, 0, share.stderr);
    assert.equal(share.stdout, 'dave  weight 2\n');
    assert.equal((await drover.call('PUT', '/api/v1/users/nobody/share', { weight: 2 })).status, 404);
    assert.equal((await drover.call('PUT', '/api/v1/users/dave/share', { weight: 0 })).status, 400);
    assert.equal((await drover.call('PUT', '/api/v1/users/dave/share', { weight: 2 }, carol)).status, 403);

    for (const id of carols) await drover.call('POST', `/api/v1/experiments/${id}/cancel`, undefined, carol);
    for (const id of daves) await drover.call('POST', `/api/v1/experiments/${id}/cancel`, undefined, dave);
  });

  it("holds every launch of a capped gateway beyond the platform operator's cap, whatever the queue", async () => {
    // What the earlier tests canceled has ended: the cap counts what is active.
    await waitFor('the earlier experiments to end', async () => {
      const active = await drover.call('GET', '/api/v1/experiments?state=queued,executing,canceling,blocked&limit=1');
      return active.body.items.length === 0;
    });
    const capped = await runCli(['gateways', 'limits', 'default', '--experiments', '1'], { url: drover.url, workDir });
    assert.equal(capped.code, 0, capped.stderr);
    assert.equal(capped.stdout, 'default  experiments 1, cores no cap\n');
    const local = (name: string) => sleeper(name, { resource: 'local' });
    const ids: string[] = [];
    // One after the other: at once, fair share would start bob's first (alice ran more today).
    for (const [name, token] of [
      ['alice capped', alice],
      ['bob capped', bob],
    ] as const) {
      const created = await drover.call('POST', '/api/v1/experiments', local(name), token);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids.push(created.body.id);
      if (ids.length === 1) await until(ids, alice, ['executing']);
    }
    await until([ids[1]], bob, ['#1']);
    assert.equal(
      (await seen(ids[1], bob)).waiting!.reason,
      'gateway default runs at most 1 experiment at once, and it is taken',
    );
    for (const maxActiveExperiments of [0, 2 ** 31]) {
      const refused = await drover.call('PUT', '/api/v1/gateways/default/limits', { maxActiveExperiments });
      assert.equal(refused.status, 400, `${maxActiveExperiments}: ${JSON.stringify(refused.body)}`);
    }
    assert.equal((await drover.call('PUT', '/api/v1/gateways/default/limits', {}, alice)).status, 403);

    const lifted = await runCli(['gateways', 'limits', 'default', '--none'], { url: drover.url, workDir });
    assert.equal(lifted.code, 0, lifted.stderr);
    await until([ids[1]], bob, ['executing']);
    await drover.call('POST', `/api/v1/experiments/${ids[0]}/cancel`, undefined, alice);
    await drover.call('POST', `/api/v1/experiments/${ids[1]}/cancel`, undefined, bob);
  });

  it('runs the admission pass when the line may have changed, not every controller pass', async () => {
    // The earlier tests' experiments have ended: each end is a change of line, and a pass.
    await waitFor('the earlier experiments to end', async () => {
      const active = await drover.call('GET', '/api/v1/experiments?state=queued,executing,canceling,blocked&limit=1');
      return active.body.items.length === 0;
    });
    const single = await drover.call(
      'POST',
      '/api/v1/resources',
      localResourceWithLimits('single', drover.dataDir, { maxActiveJobs: 1 }),
    );
    assert.equal(single.status, 201, JSON.stringify(single.body));
    const ids: string[] = [];
    for (const name of ['dave runs', 'dave waits']) {
      const created = await drover.call('POST', '/api/v1/experiments', sleeper(name, { resource: 'single' }), dave);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids.push(created.body.id);
    }
    await until(ids, dave, ['executing', '#1']);
    // drover_admission_pass_seconds_count: the passes the controller ran (GET /metrics).
    const passes = async () => {
      const metrics = await drover.call('GET', '/metrics');
      return Number(/^drover_admission_pass_seconds_count (\d+)$/m.exec(metrics.body)?.[1]);
    };
    const before = await passes();
    // Some 13 controller passes (every 150 ms here) with nothing changing who may start.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const quiet = await passes();
    assert.ok(quiet - before <= 1, `${quiet - before} admission passes while nothing changed`);

    // A change of priority is a change of line: a pass runs at once.
    const raised = await drover.call('PATCH', `/api/v1/experiments/${ids[1]}`, { priority: 2 }, dave);
    assert.equal(raised.status, 200, JSON.stringify(raised.body));
    await waitFor('an admission pass after the priority change', async () => (await passes()) > quiet, 5000);
    // The running one ends: the waiting one starts well before the 30 s pass would come.
    const started = Date.now();
    await drover.call('POST', `/api/v1/experiments/${ids[0]}/cancel`, undefined, dave);
    await until([ids[1]], dave, ['executing']);
    assert.ok(Date.now() - started < 10_000, `admitted ${Date.now() - started} ms after the place freed`);
    await drover.call('POST', `/api/v1/experiments/${ids[1]}/cancel`, undefined, dave);
  });
});
