/**
 * The worker's pipelined exchanges on PostgreSQL: several exchanges in flight at once over
 * a pool of connections, with handlers that finish at different times, must still run each
 * task once, never more than `concurrency` at a time, and store every transition once.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import pino from 'pino';
import { openFreshDatabase } from '../../test/fresh-postgres.ts';
import { launch, seedCatalogue } from '../../test/conformance/catalogue-fixture.ts';
import { assertCompletedOnce } from '../../test/conformance/dispatch-suite.ts';
import { migrate } from '../store/migrate.ts';
import { createPostgresQueue } from '../dispatch/postgres-queue.ts';
import { experimentDag, taskKinds, type ClaimedTask } from '../domain/task.ts';
import { listEvents } from '../state/events.ts';
import { Worker, type TaskHandler } from './worker.ts';

const pipelines = [
  { exchangesInFlight: 1, splitClaims: false },
  { exchangesInFlight: 2, splitClaims: false },
  { exchangesInFlight: 3, splitClaims: true },
];

for (const { exchangesInFlight, splitClaims } of pipelines) {
  const title = `${exchangesInFlight} exchange(s) in flight${splitClaims ? ', claims split' : ''}`;
  it(`runs 40 five-step experiments with ${title}: each task once, within the concurrency`, async () => {
    const store = await openFreshDatabase();
    const workers: Worker[] = [];
    try {
      await migrate(store);
      const principal = await seedCatalogue(store);
      const experiments = [];
      for (let index = 0; index < 40; index += 1) experiments.push(await launch(store, principal));
      const calls = new Map<number, number>();
      const mostAtOnce: number[] = [];
      let finished = 0;
      let allDone!: () => void;
      const done = new Promise<void>((resolve) => (allDone = resolve));
      // Handlers take 0-3 ms so that outcomes trickle in while exchanges are in flight.
      const handlerOfWorker = (index: number): TaskHandler => {
        let running = 0;
        mostAtOnce[index] = 0;
        return async (task: ClaimedTask) => {
          calls.set(task.id, (calls.get(task.id) ?? 0) + 1);
          running += 1;
          mostAtOnce[index] = Math.max(mostAtOnce[index]!, running);
          await new Promise((resolve) => setTimeout(resolve, task.id % 4));
          running -= 1;
          return {};
        };
      };
      const concurrency = 5;
      // Two workers share the queue, as two processes would.
      for (let index = 0; index < 2; index += 1) {
        const handler = handlerOfWorker(index);
        const worker = new Worker({
          dispatch: createPostgresQueue(store),
          handlers: Object.fromEntries(taskKinds.map((kind) => [kind, handler])),
          logger: pino({ level: 'silent' }),
          concurrency,
          leaseMs: 30_000,
          pollMs: 200,
          exchangesInFlight,
          splitClaims,
          onExchange: (reported) => {
            finished += reported;
            if (finished === experiments.length * experimentDag.length) allDone();
          },
        });
        workers.push(worker);
        await worker.start();
      }
      await done;
      await Promise.all(workers.map((worker) => worker.stop()));
      assert.ok(
        mostAtOnce.every((most) => most <= concurrency),
        `each worker ran at most ${concurrency} tasks at once (saw ${mostAtOnce.join(' and ')})`,
      );
      assert.equal(calls.size, experiments.length * experimentDag.length);
      assert.deepEqual(
        [...calls.values()].filter((count) => count !== 1),
        [],
        'no task ran twice',
      );
      for (const experiment of experiments) await assertCompletedOnce(store, principal, experiment.id);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
      await store.close();
    }
  });
}

// Without the lent slots the batch would never run: the timeout turns that into a failure.
it(
  'lends the slot of a task waiting for a batched command: twelve env-setups join one batch with three slots',
  { timeout: 60_000 },
  async () => {
    const store = await openFreshDatabase();
    let worker: Worker | undefined;
    try {
      await migrate(store);
      const principal = await seedCatalogue(store);
      const experiments = [];
      for (let index = 0; index < 12; index += 1) experiments.push(await launch(store, principal));
      // A stand-in for the resource's next mkdir: it runs once every env-setup has joined it.
      let joined = 0;
      let runBatch!: () => void;
      const batch = new Promise<void>((resolve) => (runBatch = resolve));
      const calls = new Map<number, number>();
      let working = 0;
      let mostWorkingBeforeBatch = 0;
      let finished = 0;
      let allDone!: () => void;
      const done = new Promise<void>((resolve) => (allDone = resolve));
      const handler: TaskHandler = async (task, { whileWaiting }) => {
        calls.set(task.id, (calls.get(task.id) ?? 0) + 1);
        working += 1;
        if (joined < experiments.length) mostWorkingBeforeBatch = Math.max(mostWorkingBeforeBatch, working);
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (task.kind === 'env-setup') {
          joined += 1;
          if (joined === experiments.length) runBatch();
          working -= 1;
          await whileWaiting(batch);
          working += 1;
        }
        working -= 1;
        return {};
      };
      const concurrency = 3;
      worker = new Worker({
        dispatch: createPostgresQueue(store),
        handlers: Object.fromEntries(taskKinds.map((kind) => [kind, handler])),
        logger: pino({ level: 'silent' }),
        concurrency,
        maxWaiting: 20,
        leaseMs: 30_000,
        pollMs: 200,
        onExchange: (reported) => {
          finished += reported;
          if (finished === experiments.length * experimentDag.length) allDone();
        },
      });
      await worker.start();
      await done;
      await worker.stop();
      assert.equal(joined, experiments.length, 'every env-setup joined the one batch');
      assert.ok(
        mostWorkingBeforeBatch <= concurrency,
        `at most ${concurrency} tasks worked at once beside the waiting ones (saw ${mostWorkingBeforeBatch})`,
      );
      assert.deepEqual(
        [...calls.values()].filter((count) => count !== 1),
        [],
        'no task ran twice',
      );
      for (const experiment of experiments) await assertCompletedOnce(store, principal, experiment.id);
    } finally {
      await worker?.stop();
      await store.close();
    }
  },
);

it('an attempt cut short by the store going away is retried past the last attempt, and the experiment completes', async () => {
  const store = await openFreshDatabase();
  let worker: Worker | undefined;
  try {
    await migrate(store);
    const principal = await seedCatalogue(store);
    const experiment = await launch(store, principal);
    await store.query(`update tasks set max_attempts = 1 where experiment_id = $1`, [experiment.id]);
    // What the driver throws while the server is down: a real refused connection.
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const outage = await new pg.Client({ host: '127.0.0.1', port: closedPort }).connect().then(
      () => assert.fail('nothing listens there'),
      (error: Error) => error,
    );
    let envSetups = 0;
    const handler: TaskHandler = async (task) => {
      if (task.kind === 'env-setup' && ++envSetups === 1) throw outage;
      return {};
    };
    worker = new Worker({
      dispatch: createPostgresQueue(store),
      handlers: Object.fromEntries(taskKinds.map((kind) => [kind, handler])),
      logger: pino({ level: 'silent' }),
      concurrency: 2,
      leaseMs: 30_000,
      pollMs: 200,
    });
    await worker.start();
    // Counted, its one attempt would fail the experiment.
    const deadline = Date.now() + 20_000;
    let state = 'launched';
    while (!['completed', 'failed'].includes(state) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      [{ state }] = await store.query<{ state: string }>('select state from experiments where id = $1', [
        experiment.id,
      ]);
    }
    assert.equal(state, 'completed');
    assert.equal(envSetups, 2, 'its one attempt did not count: it ran again');
    const retry = (await listEvents(store, experiment.id)).find(
      (event) => event.entity === 'task' && event.fromState === 'running' && event.toState === 'ready',
    );
    assert.equal((retry?.data as { failure?: { code: string } })?.failure?.code, 'store-unreachable');
  } finally {
    await worker?.stop();
    await store.close();
  }
});
