/**
 * The RabbitMQ queue over PostgreSQL and the broker of scripts/start-rabbitmq.sh: the
 * dispatch suite (test/conformance/dispatch-suite.ts), then what RabbitMQ adds to it. A new
 * database and queues of their own per test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import {
  openRabbitmqQueue,
  rabbitmqQueueNames,
  type RabbitmqQueue,
  type RabbitmqQueueOptions,
} from './rabbitmq-queue.ts';
import { allCapabilities, maxWorkerLosses } from '../domain/worker.ts';
import { registerWorker } from '../state/worker-state.ts';
import { dispatchConformance } from '../../test/conformance/dispatch-suite.ts';
import { launch, seedCatalogue } from '../../test/conformance/catalogue-fixture.ts';
import { openFreshDatabase } from '../../test/fresh-postgres.ts';
import {
  deleteQueues,
  queueDepths,
  rabbitmqUrl,
  settleQueues,
  uniqueQueuePrefix,
  withChannel,
} from '../../test/rabbitmq.ts';
import { setDispatchOutbox } from '../state/dispatch-outbox.ts';
import { listEvents, type EventRecord } from '../state/events.ts';
import { createTasks } from '../state/task-state.ts';
import { createExperiment } from '../experiments/commands.ts';
import { getExperiment } from '../experiments/queries.ts';
import { migrate } from '../store/migrate.ts';
import type { Principal } from '../catalogue/users.ts';
import { taskKinds } from '../domain/task.ts';
import type { Store } from '../store/port.ts';
import type { Dispatch } from './port.ts';

const logger = pino({ level: process.env.DROVER_TEST_LOG_LEVEL ?? 'silent' });

function queueOptions(prefix: string, options: Partial<RabbitmqQueueOptions> = {}): RabbitmqQueueOptions {
  return { url: rabbitmqUrl, queuePrefix: prefix, kinds: taskKinds, prefetch: 50, logger, ...options };
}

dispatchConformance('RabbitMQ queue on PostgreSQL', async () => {
  const store = await openFreshDatabase();
  const prefix = uniqueQueuePrefix();
  let queue: RabbitmqQueue | undefined;
  // The queue opens after the suite migrated the store (prepare); the suite gets it now.
  const dispatch: Dispatch = {
    exchange: (...args) => queue!.exchange(...args),
    renew: (...args) => queue!.renew(...args),
    onReady: (listener) => queue!.onReady(listener),
  };
  return {
    store,
    dispatch,
    prepare: async () => {
      await setDispatchOutbox(store, true);
      queue = await openRabbitmqQueue(store, queueOptions(prefix));
    },
    settle: () => settleQueues(store, [queue!]),
    close: async () => {
      await queue?.close();
      await deleteQueues(prefix);
    },
  };
});

/** A migrated store with the outbox on, a catalogue, and queues of their own; all closed after `body`. */
async function withScene(
  body: (scene: {
    store: Store;
    principal: Principal;
    prefix: string;
    open: (options?: Partial<RabbitmqQueueOptions>) => Promise<RabbitmqQueue>;
  }) => Promise<void>,
): Promise<void> {
  const store = await openFreshDatabase();
  const prefix = uniqueQueuePrefix();
  const opened: RabbitmqQueue[] = [];
  try {
    await migrate(store);
    await setDispatchOutbox(store, true);
    const principal = await seedCatalogue(store);
    const open = async (options: Partial<RabbitmqQueueOptions> = {}) => {
      const queue = await openRabbitmqQueue(store, queueOptions(prefix, options));
      opened.push(queue);
      return queue;
    };
    await body({ store, principal, prefix, open });
  } finally {
    for (const queue of opened) await queue.close();
    await deleteQueues(prefix).catch(() => {});
    await store.close();
  }
}

/** Waits until `queue` has a message of `taskId` waiting to be claimed. */
async function waitForMessage(queue: RabbitmqQueue, taskId: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!queue.pending().waiting.includes(taskId)) {
    if (Date.now() > deadline) throw new Error(`no message of task ${taskId} arrived`);
    await queue.relayNow();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const run = promisify(execFile);

/** Waits until the message of `taskId` came back to `queue` (delivered again after its connection closed). */
async function waitForMessageOrHeld(queue: RabbitmqQueue, taskId: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!queue.pending().waiting.includes(taskId)) {
    if (Date.now() > deadline) throw new Error(`the message of task ${taskId} did not come back`);
    await sleep(20);
  }
}

async function outboxRows(store: Store): Promise<number> {
  return (await store.query<{ n: number }>('select count(*)::int as n from dispatch_outbox'))[0]!.n;
}

function taskTransitions(events: EventRecord[], taskId: number): string[] {
  return events
    .filter((event) => event.entity === 'task' && event.entityId === String(taskId))
    .map((event) => `${event.fromState} -> ${event.toState}`);
}

describe('RabbitMQ queue: what the broker adds', () => {
  it('a message whose worker died comes back and the task is taken over at once, then completes once', async () => {
    await withScene(async ({ store, principal, prefix, open }) => {
      const experiment = await launch(store, principal);
      const first = await open();
      await settleQueues(store, [first]);
      const [task] = await first.exchange('worker-a', [], 1, 30_000);
      assert.equal(task!.kind, 'env-setup');
      const second = await open();
      // worker-a's connection ends without an ack (as a killed process's): the broker delivers again.
      await first.close();
      await waitForMessage(second, task!.id);
      const [again] = await second.exchange('worker-b', [], 1, 30_000);
      assert.deepEqual({ id: again!.id, attempt: again!.attempt }, { id: task!.id, attempt: 2 }, 'taken over at once');
      await second.exchange('worker-b', [{ taskId: again!.id, outcome: 'completed' }], 0, 30_000);
      await settleQueues(store, [second]);
      const [next] = await second.exchange('worker-b', [], 1, 30_000);
      assert.equal(next!.kind, 'stage-in');
      const events = await listEvents(store, experiment.id);
      assert.deepEqual(taskTransitions(events, task!.id), [
        'null -> ready',
        'ready -> running',
        'running -> ready',
        'ready -> running',
        'running -> completed',
      ]);
      assert.match(
        events.find((event) => event.toState === 'ready' && event.fromState === 'running')!.message ?? '',
        /lost its connection to the queue/,
      );
      // The takeover's own outbox message found the task running: acked and dropped.
      await second.relayNow();
      assert.equal(await outboxRows(store), 0);
      const depths = await queueDepths(prefix);
      assert.equal(depths.dead, 0, 'nothing was dead-lettered');
    });
  });

  it('a message back while its worker still heartbeats (a broker restart) is dropped: the worker finishes the task, once', async () => {
    await withScene(async ({ store, principal, prefix, open }) => {
      const member = (id: string) => ({
        id,
        ...allCapabilities,
        concurrency: 4,
        version: 'test',
        host: 'test',
        pid: 1,
        heartbeatMs: 1000,
      });
      await registerWorker(store, member('worker-a'));
      await registerWorker(store, member('worker-silent'));
      const live = await launch(store, principal);
      const silent = await launch(store, principal);
      const first = await open();
      await settleQueues(store, [first]);
      const [liveTask] = await first.exchange('worker-a', [], 1, 30_000);
      const [silentTask] = await first.exchange('worker-silent', [], 1, 30_000);
      // worker-silent last heartbeat 3 of its intervals ago: the controller is about to call it lost.
      await store.query(`update workers set heartbeat_at = now() - interval '3 seconds' where id = 'worker-silent'`);
      const second = await open();
      // The connection ends without an ack (as when the broker restarts): both messages come back.
      await first.close();
      await waitForMessage(second, liveTask!.id);
      await waitForMessage(second, silentTask!.id);
      const claimed = await second.exchange('worker-b', [], 2, 30_000);
      assert.deepEqual(
        claimed.map((task) => task.id),
        [silentTask!.id],
        'only the silent worker loses its task; the live one keeps running its own',
      );
      // worker-a, connected again, reports its task's outcome: it counts.
      const again = await open();
      await again.exchange('worker-a', [{ taskId: liveTask!.id, outcome: 'completed' }], 0, 30_000);
      assert.deepEqual(taskTransitions(await listEvents(store, live.id), liveTask!.id), [
        'null -> ready',
        'ready -> running',
        'running -> completed',
      ]);
      assert.deepEqual(taskTransitions(await listEvents(store, silent.id), silentTask!.id), [
        'null -> ready',
        'ready -> running',
        'running -> ready',
        'ready -> running',
      ]);
      await second.exchange('worker-b', [{ taskId: silentTask!.id, outcome: 'completed' }], 0, 30_000);
      assert.equal(second.pending().held, 0, 'the dropped message was acked, not held');
      const depths = await queueDepths(prefix);
      assert.equal(depths['env-setup'] + depths.dead, 0, 'no message left behind or dead-lettered');
    });
  });

  it('dead-letters a message naming no task, an unreadable one, and a task whose workers keep dying', async () => {
    await withScene(async ({ store, principal, prefix, open }) => {
      const names = rabbitmqQueueNames(prefix);
      const experiment = await launch(store, principal);
      let holder = await open();
      await settleQueues(store, [holder]);
      let [task] = await holder.exchange('worker-0', [], 1, 30_000);
      // Each worker that takes the task dies: a death costs no attempt, but the one that makes
      // `maxWorkerLosses` fails the task (it may be what kills them) at its takeover.
      for (let death = 1; death <= maxWorkerLosses; death += 1) {
        const next = await open();
        await holder.close();
        await waitForMessage(next, task!.id);
        const claimed = await next.exchange(`worker-${death}`, [], 1, 30_000);
        holder = next;
        if (death < maxWorkerLosses) [task] = claimed;
        else assert.deepEqual(claimed, [], `its workers died ${maxWorkerLosses} times: not claimed again`);
      }
      const detail = await getExperiment(store, principal, experiment.id);
      assert.equal(detail.state, 'failed');
      assert.equal(detail.tasks.find((step) => step.kind === 'env-setup')!.state, 'failed');

      await withChannel(async (channel) => {
        channel.sendToQueue(names.task('env-setup'), Buffer.from(JSON.stringify({ taskId: 987654321 })));
        channel.sendToQueue(names.task('env-setup'), Buffer.from('{"taskId": "1; drop table tasks"}'));
        await channel.waitForConfirms();
      });
      await waitForMessage(holder, 987654321);
      assert.deepEqual(await holder.exchange('worker-x', [], 5, 30_000), []);
      const deadline = Date.now() + 5000;
      while ((await queueDepths(prefix)).dead < 3 && Date.now() < deadline) await sleep(20);
      const depths = await queueDepths(prefix);
      assert.equal(depths.dead, 3, 'the poison task, the unknown task and the unreadable message');
      assert.equal(depths['env-setup'], 0);
    });
  });

  it('hands out higher-priority tasks first when messages wait in the queue', async () => {
    await withScene(async ({ store, principal, open }) => {
      const relay = await open({ kinds: [] });
      const priorities = [-5, 0, 5, -2];
      const taskOf = new Map<number, number>();
      for (const priority of priorities) {
        const draft = await createExperiment(store, principal, {
          application: 'echo',
          resource: 'local',
          launch: false,
        });
        await store.transaction((tx) => createTasks(tx, draft.id, [{ kind: 'noop', dependsOn: [] }], priority));
        const [row] = await store.query<{ id: number }>('select id from tasks where experiment_id = $1', [draft.id]);
        taskOf.set(row!.id, priority);
      }
      await relay.relayNow();
      assert.equal(await outboxRows(store), 0, 'all published');
      // One message at a time: the broker picks the highest priority waiting.
      const worker = await open({ kinds: ['noop'], prefetch: 1 });
      const order: number[] = [];
      while (order.length < priorities.length) {
        const [task] = await worker.exchange('worker-a', [], 1, 30_000);
        if (!task) {
          await sleep(5);
          continue;
        }
        order.push(taskOf.get(task.id)!);
        await worker.exchange('worker-a', [{ taskId: task.id, outcome: 'completed' }], 0, 30_000);
      }
      assert.deepEqual(order, [5, 0, -2, -5]);
    });
  });

  it('publishes nothing for a rolled-back transaction, and nothing for a task no longer ready', async () => {
    await withScene(async ({ store, principal, prefix, open }) => {
      const draft = await createExperiment(store, principal, { application: 'echo', resource: 'local', launch: false });
      await assert.rejects(
        store.transaction(async (tx) => {
          await createTasks(tx, draft.id, [{ kind: 'noop', dependsOn: [] }]);
          assert.equal((await tx.query('select 1 from dispatch_outbox')).length, 1, 'written in the transaction');
          throw new Error('roll back on purpose');
        }),
        /roll back on purpose/,
      );
      assert.equal(await outboxRows(store), 0);
      // A task canceled before the relay ran: its row goes, unsent.
      const experiment = await launch(store, principal);
      await store.query(`update tasks set state = 'canceled' where experiment_id = $1 and state = 'ready'`, [
        experiment.id,
      ]);
      assert.equal(await outboxRows(store), 1);
      const relay = await open({ kinds: [] });
      await relay.relayNow();
      assert.equal(await outboxRows(store), 0);
      assert.deepEqual(Object.values(await queueDepths(prefix)), [0, 0, 0, 0, 0, 0, 0], 'no message in any queue');
    });
  });

  it('publishes a retry when its backoff is over, not before', async () => {
    await withScene(async ({ store, principal, open }) => {
      await launch(store, principal);
      const worker = await open();
      await settleQueues(store, [worker]);
      const [task] = await worker.exchange('worker-a', [], 1, 30_000);
      const failure = { code: 'internal' as const, message: 'flaky', retryable: true };
      await worker.exchange('worker-a', [{ taskId: task!.id, outcome: 'failed', failure }], 0, 30_000);
      const [{ run_at: runAt }] = await store.query<{ run_at: Date }>('select run_at from tasks where id = $1', [
        task!.id,
      ]);
      await worker.relayNow();
      assert.deepEqual(worker.pending().waiting, [], 'not sent during the backoff');
      await waitForMessage(worker, task!.id);
      assert.ok(Date.now() >= runAt.getTime() - 5, 'sent once due');
      const [again] = await worker.exchange('worker-a', [], 1, 30_000);
      assert.deepEqual({ id: again!.id, attempt: again!.attempt }, { id: task!.id, attempt: 2 });
    });
  });

  it('connects again when the broker closes its connection, and the task it runs is not taken over', async () => {
    await withScene(async ({ store, principal, prefix, open }) => {
      const experiment = await launch(store, principal);
      const worker = await open();
      await settleQueues(store, [worker]);
      const [task] = await worker.exchange('worker-a', [], 1, 30_000);
      // The broker ends the connection (as a broker restart does); its unacked message goes back.
      const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties']);
      const pids = stdout
        .split('\n')
        .filter((line) => line.includes(`drover ${prefix} `))
        .map((line) => line.split('\t')[0]!);
      assert.equal(pids.length, 1, stdout);
      await run('rabbitmqctl', ['-q', 'close_connection', pids[0]!, 'test: the broker closes it']);
      // It comes back to this worker, which still runs the task: no takeover, and the new delivery is the one acked.
      await waitForMessageOrHeld(worker, task!.id);
      assert.deepEqual(await worker.exchange('worker-a', [], 1, 30_000), []);
      await worker.exchange('worker-a', [{ taskId: task!.id, outcome: 'completed' }], 0, 30_000);
      await settleQueues(store, [worker]);
      const [next] = await worker.exchange('worker-a', [], 1, 30_000);
      assert.equal(next!.kind, 'stage-in', 'claims again on the new connection');
      const events = await listEvents(store, experiment.id);
      assert.deepEqual(taskTransitions(events, task!.id), [
        'null -> ready',
        'ready -> running',
        'running -> completed',
      ]);
      await worker.exchange('worker-a', [{ taskId: next!.id, outcome: 'completed' }], 0, 30_000);
      assert.equal(worker.pending().held, 0, 'every message acked');
      const depths = await queueDepths(prefix);
      assert.equal(depths['env-setup'] + depths['stage-in'] + depths.dead, 0);
    });
  });

  it('costs the Postgres queue nothing: without the outbox switched on, no row is written', async () => {
    await withScene(async ({ store, principal }) => {
      await setDispatchOutbox(store, false);
      await launch(store, principal);
      assert.equal(await outboxRows(store), 0);
      const triggers = await store.query(
        `select 1 from pg_trigger where tgrelid = 'tasks'::regclass and tgname like 'tasks_dispatch_outbox%'`,
      );
      assert.equal(triggers.length, 0);
      // Switching it on again queues the tasks ready meanwhile.
      await setDispatchOutbox(store, true);
      assert.equal(await outboxRows(store), 1);
    });
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
