/**
 * The state suite: the state modules (src/state: events, experiments, tasks, jobs, the
 * claim) and the experiment commands, run on one adapter of the Store port, so it is also
 * what every store adapter must pass (src/store/store.test.ts on the embedded server, store.pg.test.ts
 * on PostgreSQL). Each test opens its own fresh store, so tests never see each other's rows.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../../src/store/port.ts';
import { migrate } from '../../src/store/migrate.ts';
import type { Principal } from '../../src/catalogue/users.ts';
import { cancelExperiment, createExperiment, resumeExperiment } from '../../src/experiments/commands.ts';
import { resubmitEndedJobs } from '../../src/experiments/resubmit.ts';
import { submissionKey } from '../../src/experiments/job-spec.ts';
import { upsertApplication, upsertResource } from '../../src/catalogue/catalogue.ts';
import { ConflictError } from '../../src/domain/errors.ts';
import { launch, seedCatalogue } from './catalogue-fixture.ts';
import {
  appendEvents,
  eventsChannel,
  listEvents,
  readyChannel,
  type EventRecord,
  type NewEvent,
} from '../../src/state/events.ts';
import { moveExperiment, unblockExperiments } from '../../src/state/experiment-state.ts';
import {
  applyOutcomes,
  createTasks,
  findEndedMonitors,
  recoverExpiredLeases,
  type OutcomeReporter,
} from '../../src/state/task-state.ts';
import { claimTasks } from '../../src/state/claim-tasks.ts';
import {
  forgetGoneWorkers,
  listWorkers,
  markSilentWorkersLost,
  markStopped,
  recordHeartbeat,
  registerWorker,
} from '../../src/state/worker-state.ts';
import { allCapabilities, mayRun, maxWorkerLosses, type WorkerCapabilities } from '../../src/domain/worker.ts';
import { claimDeliveries, recordAttempt } from '../../src/state/notification-outbox.ts';
import {
  applyObservations,
  jobColumns,
  recordSubmittedJob,
  toJobRecord,
  type JobRecord,
} from '../../src/state/job-state.ts';
import type { JobObservation } from '../../src/batch/port.ts';
import {
  activeExperimentStates,
  experimentOutcome,
  experimentOutcomeSql,
  type SettlementFacts,
} from '../../src/domain/experiment.ts';
import { jobStates } from '../../src/domain/job.ts';
import { experimentDag, type ClaimedTask, type TaskKind, type TaskOutcome } from '../../src/domain/task.ts';

/**
 * Registers the suite under `describe(name)`.
 *
 * `open` must return a fresh store whose `close()` releases everything the store holds,
 * including a database created for it: empty when `migrated` is false (the migration tests
 * run on it), else empty or already migrated (the suite migrates it; a copy of a migrated
 * template saves the time).
 */
export function stateConformance(name: string, open: (options: { migrated: boolean }) => Promise<Store>): void {
  /** A test on a fresh, migrated store seeded with one gateway, user, resource and application. */
  const storeTest = (title: string, body: (fixture: Fixture) => Promise<void>) =>
    it(title, { timeout: 60_000 }, async () => {
      const store = await open({ migrated: true });
      try {
        await migrate(store);
        await body({ store, principal: await seedCatalogue(store) });
      } finally {
        await store.close();
      }
    });

  describe(name, () => {
    describe('migrate', () => {
      it('creates the tables once; a second run applies nothing', { timeout: 60_000 }, async () => {
        const store = await open({ migrated: false });
        try {
          const first = await migrate(store);
          assert.deepEqual(first, migrationVersions(), 'the first run applies every migration, in order');
          const tables = await store.query<{ table_name: string }>(
            `select table_name from information_schema.tables where table_schema = current_schema()`,
          );
          const names = new Set(tables.map((row) => row.table_name));
          for (const table of [
            'schema_migrations',
            'gateways',
            'users',
            'resources',
            'applications',
            'uploads',
            'experiments',
            'tasks',
            'task_dependencies',
            'jobs',
            'events',
            'controller_leadership',
          ]) {
            assert.ok(names.has(table), `table ${table} exists after migrate`);
          }
          assert.deepEqual(await migrate(store), [], 'the second run applies nothing');
          const recorded = await store.query<{ version: number }>(
            'select version from schema_migrations order by version',
          );
          assert.deepEqual(
            recorded.map((row) => row.version),
            migrationVersions(),
            'each migration is recorded once',
          );
        } finally {
          await store.close();
        }
      });

      it('applies each migration once when several processes migrate at once', { timeout: 60_000 }, async () => {
        // On PostgreSQL each call runs on its own pooled connection, like separate processes.
        const store = await open({ migrated: false });
        try {
          const runs = 6;
          // Open the connections first, so that the runs start together instead of one per connect.
          await Promise.all(Array.from({ length: runs }, () => store.query('select pg_sleep(0.02)')));
          const results = await Promise.allSettled(Array.from({ length: runs }, () => migrate(store)));
          const errors = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
          assert.deepEqual(errors, [], 'no migrate run fails');
          const applied = results
            .flatMap((result) => (result.status === 'fulfilled' ? result.value : []))
            .sort((a, b) => a - b);
          assert.deepEqual(applied, migrationVersions(), 'each version is applied by exactly one run');
          assert.deepEqual(await migrate(store), []);
        } finally {
          await store.close();
        }
      });
    });

    describe('appendEvents', () => {
      storeTest('numbers events 1..n per experiment, in the order given', async ({ store, principal }) => {
        const first = await insertExperiment(store, principal);
        const second = await insertExperiment(store, principal);
        await store.transaction((tx) =>
          appendEvents(tx, [note(first, 'a'), note(second, 'x'), note(first, 'b'), note(first, 'c')]),
        );
        await store.transaction((tx) => appendEvents(tx, [note(second, 'y'), note(first, 'd')]));
        const firstEvents = await listEvents(store, first);
        assert.deepEqual(
          firstEvents.map((event) => [event.seq, event.entityId]),
          [
            [1, 'a'],
            [2, 'b'],
            [3, 'c'],
            [4, 'd'],
          ],
        );
        const secondEvents = await listEvents(store, second);
        assert.deepEqual(
          secondEvents.map((event) => [event.seq, event.entityId]),
          [
            [1, 'x'],
            [2, 'y'],
          ],
        );
        assert.equal(await lastEventSeq(store, first), 4);
        assert.deepEqual(
          (await listEvents(store, first, 2)).map((event) => event.seq),
          [3, 4],
          'listEvents pages after a seq',
        );
      });

      storeTest(
        'numbers without gaps or duplicates when 20 transactions append to one experiment at once',
        async ({ store, principal }) => {
          const shared = await insertExperiment(store, principal);
          const other = await insertExperiment(store, principal);
          const writers = 20;
          const rolledBack = new Set([5, 13]);
          const results = await Promise.allSettled(
            Array.from({ length: writers }, (_, writer) =>
              store.transaction(async (tx) => {
                await tx.query('select 1');
                // Alternate the order of experiments inside a batch: locking must still not deadlock.
                const batch =
                  writer % 2 === 0
                    ? [note(shared, `w${writer}.0`), note(other, `w${writer}`), note(shared, `w${writer}.1`)]
                    : [note(other, `w${writer}`), note(shared, `w${writer}.0`), note(shared, `w${writer}.1`)];
                await appendEvents(tx, batch);
                if (rolledBack.has(writer)) throw new Error('roll back on purpose');
              }),
            ),
          );
          results.forEach((result, writer) => {
            if (rolledBack.has(writer)) assert.equal(result.status, 'rejected', `writer ${writer} rolled back`);
            else
              assert.equal(
                result.status,
                'fulfilled',
                `writer ${writer} committed: ${result.status === 'rejected' ? result.reason : ''}`,
              );
          });
          const committed = writers - rolledBack.size;
          const sharedEvents = await listEvents(store, shared);
          assert.deepEqual(
            sharedEvents.map((event) => event.seq),
            range(1, 2 * committed),
            'seqs are exactly 1..N',
          );
          assert.equal(await lastEventSeq(store, shared), 2 * committed);
          // One transaction's events are consecutive and keep their order.
          for (let index = 0; index < sharedEvents.length; index += 2) {
            const [part0, part1] = [sharedEvents[index].entityId, sharedEvents[index + 1].entityId];
            assert.match(part0, /^w\d+\.0$/);
            assert.equal(
              part1,
              part0.replace(/\.0$/, '.1'),
              `events of one transaction are adjacent (seq ${index + 1})`,
            );
          }
          const writersSeen = new Set(sharedEvents.map((event) => Number(event.entityId.slice(1).split('.')[0])));
          for (const writer of rolledBack)
            assert.ok(!writersSeen.has(writer), `rolled-back writer ${writer} left no event`);
          const otherEvents = await listEvents(store, other);
          assert.deepEqual(
            otherEvents.map((event) => event.seq),
            range(1, committed),
          );
        },
      );
    });

    describe('notifications', () => {
      storeTest('an events notification reaches listeners after commit, not before', async ({ store, principal }) => {
        const experimentId = await insertExperiment(store, principal);
        const received: string[] = [];
        const unsubscribe = await store.listen(eventsChannel, (payload) => received.push(payload));
        try {
          let seenInsideTransaction = -1;
          await store.transaction(async (tx) => {
            await appendEvents(tx, [note(experimentId, 'a')]);
            await sleep(200);
            seenInsideTransaction = received.length;
          });
          assert.equal(seenInsideTransaction, 0, 'nothing is announced before commit');
          await waitFor(
            () => received.some((payload) => payload.split(',').includes(experimentId)),
            'the events notification after commit',
          );
        } finally {
          await unsubscribe();
        }
      });

      storeTest('a ready notification is sent when tasks become ready', async ({ store, principal }) => {
        const ready: string[] = [];
        const unsubscribe = await store.listen(readyChannel, (payload) => ready.push(payload));
        try {
          const experiment = await launch(store, principal);
          await waitFor(() => ready.length === 1, 'a ready notification for the root task');
          assert.equal(ready[0], '1', 'the payload counts the tasks that became ready');
          const [task] = await claim(store, 'worker-a');
          await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'completed' }]);
          await waitFor(() => ready.length === 2, 'a ready notification for the successor');
          assert.equal((await tasksOf(store, experiment.id)).get('stage-in')!.state, 'ready');
        } finally {
          await unsubscribe();
        }
      });

      storeTest('a rolled-back transaction announces nothing', async ({ store, principal }) => {
        const rolledBack = await insertExperiment(store, principal);
        const committed = await insertExperiment(store, principal);
        const events: string[] = [];
        const ready: string[] = [];
        const stopEvents = await store.listen(eventsChannel, (payload) => events.push(payload));
        const stopReady = await store.listen(readyChannel, (payload) => ready.push(payload));
        try {
          await assert.rejects(
            store.transaction(async (tx) => {
              await appendEvents(tx, [note(rolledBack, 'a')]);
              await createTasks(tx, rolledBack, experimentDag);
              throw new Error('roll back on purpose');
            }),
            /roll back on purpose/,
          );
          // A later committed transaction is a barrier: notifications arrive in commit order.
          await store.transaction(async (tx) => {
            await appendEvents(tx, [note(committed, 'b')]);
            await createTasks(tx, committed, [{ kind: 'noop', dependsOn: [] }]);
          });
          await waitFor(
            () => events.some((payload) => payload.split(',').includes(committed)) && ready.length > 0,
            'the committed notifications',
          );
          await sleep(100);
          assert.ok(
            !events.some((payload) => payload.split(',').includes(rolledBack)),
            `no events notification for the rolled-back experiment: ${events}`,
          );
          assert.deepEqual(ready, ['1'], 'only the committed ready notification arrives');
          assert.equal((await store.query('select 1 from tasks where experiment_id = $1', [rolledBack])).length, 0);
        } finally {
          await stopEvents();
          await stopReady();
        }
      });

      storeTest('an unsubscribed listener hears nothing more', async ({ store, principal }) => {
        const experimentId = await insertExperiment(store, principal);
        const heard: string[] = [];
        const kept: string[] = [];
        const unsubscribe = await store.listen(eventsChannel, (payload) => heard.push(payload));
        const stopKept = await store.listen(eventsChannel, (payload) => kept.push(payload));
        try {
          await unsubscribe();
          await store.transaction((tx) => appendEvents(tx, [note(experimentId, 'a')]));
          await waitFor(() => kept.length === 1, 'the notification to the remaining listener');
          await sleep(100);
          assert.deepEqual(heard, []);
        } finally {
          await stopKept();
        }
      });
    });

    describe('createTasks', () => {
      storeTest('plans the standard DAG: the root ready, the others pending', async ({ store, principal }) => {
        const experimentId = await insertExperiment(store, principal, 'queued');
        await store.transaction((tx) => createTasks(tx, experimentId, experimentDag));
        const tasks = await tasksOf(store, experimentId);
        assert.deepEqual(
          [...tasks.keys()],
          experimentDag.map((node) => node.kind),
        );
        for (const node of experimentDag) {
          const task = tasks.get(node.kind)!;
          assert.equal(task.state, node.dependsOn.length === 0 ? 'ready' : 'pending', `${node.kind} state`);
          assert.equal(task.pending_dependencies, node.dependsOn.length, `${node.kind} dependency count`);
          assert.equal(task.attempt, 0);
        }
        const edges = await store.query<{ task: string; dependency: string }>(
          `select t.kind as task, d.kind as dependency from task_dependencies x
           join tasks t on t.id = x.task_id join tasks d on d.id = x.depends_on
           where t.experiment_id = $1 order by t.id`,
          [experimentId],
        );
        assert.deepEqual(
          edges.map((edge) => [edge.task, edge.dependency]),
          experimentDag.flatMap((node) => node.dependsOn.map((dependency) => [node.kind, dependency])),
        );
        const events = await listEvents(store, experimentId);
        assert.deepEqual(
          events.map(eventSummary),
          [['task', 'env-setup', null, 'ready']],
          'only the root announces ready',
        );
      });
    });

    describe('claimTasks', () => {
      storeTest(
        'gives each ready task to one claimer only, with attempt 1 and a lease',
        async ({ store, principal }) => {
          const experiments = [];
          for (let index = 0; index < 6; index++) experiments.push(await launch(store, principal));
          const workers = ['worker-a', 'worker-b'];
          const rounds = await Promise.all(
            Array.from({ length: 8 }, (_, index) => {
              const workerId = workers[index % 2];
              return claim(store, workerId, 2).then((tasks) => tasks.map((task) => ({ task, workerId })));
            }),
          );
          const claims = rounds.flat();
          const ids = claims.map((item) => item.task.id);
          assert.equal(new Set(ids).size, ids.length, `no task claimed twice: ${ids}`);
          for (const { task, workerId } of claims) {
            const [row] = await store.query<any>(
              `select state, attempt, lease_owner, lease_expires_at > now() as leased from tasks where id = $1`,
              [task.id],
            );
            assert.deepEqual(
              row,
              { state: 'running', attempt: 1, lease_owner: workerId, leased: true },
              `task ${task.id} belongs to ${workerId}`,
            );
            assert.equal(task.attempt, 1);
            assert.equal(task.kind, 'env-setup');
          }
          // Whatever the race left over is still claimable, and then nothing is.
          const rest = await claim(store, 'worker-c', 10);
          const all = [...ids, ...rest.map((task) => task.id)];
          assert.equal(new Set(all).size, experiments.length, 'every root task is claimed exactly once');
          assert.deepEqual(await claim(store, 'worker-c', 10), []);
        },
      );

      storeTest('moves the experiment from queued to executing, with an event', async ({ store, principal }) => {
        const experiment = await launch(store, principal);
        assert.equal(experiment.state, 'queued');
        const [task] = await claim(store, 'worker-a');
        assert.equal(task.experimentId, experiment.id);
        assert.equal(await stateOf(store, experiment.id), 'executing');
        const events = await listEvents(store, experiment.id);
        assert.deepEqual(events.slice(-2).map(eventSummary), [
          ['experiment', null, 'queued', 'executing'],
          ['task', 'env-setup', 'ready', 'running'],
        ]);
        assert.deepEqual(events.at(-1)!.data, { attempt: 1, worker: 'worker-a' });
      });
    });

    describe('applyOutcomes', () => {
      storeTest('completing a task makes its successor ready', async ({ store, principal }) => {
        const experiment = await launch(store, principal);
        const [task] = await claim(store, 'worker-a');
        const applied = await report(store, { workerId: 'worker-a' }, [
          { taskId: task.id, outcome: 'completed', result: { files: 2 } },
        ]);
        assert.deepEqual(applied, [task.id]);
        const tasks = await tasksOf(store, experiment.id);
        assert.equal(tasks.get('env-setup')!.state, 'completed');
        assert.deepEqual(tasks.get('env-setup')!.result, { files: 2 });
        assert.equal(tasks.get('stage-in')!.state, 'ready');
        assert.equal(tasks.get('submit')!.state, 'pending');
        const events = await listEvents(store, experiment.id);
        assert.deepEqual(events.slice(-2).map(eventSummary), [
          ['task', 'env-setup', 'running', 'completed'],
          ['task', 'stage-in', 'pending', 'ready'],
        ]);
      });

      storeTest('a report from a worker without the lease changes nothing', async ({ store, principal }) => {
        const experiment = await launch(store, principal);
        const [task] = await claim(store, 'worker-a');
        const before = await snapshot(store, experiment.id);
        assert.deepEqual(
          await report(store, { workerId: 'worker-b' }, [{ taskId: task.id, outcome: 'completed' }]),
          [],
        );
        assert.deepEqual(
          await report(store, { workerId: 'worker-b' }, [
            { taskId: task.id, outcome: 'failed', failure: { code: 'internal', message: 'x', retryable: false } },
          ]),
          [],
        );
        assert.deepEqual(await report(store, { workerId: 'worker-b' }, [{ taskId: task.id, outcome: 'detached' }]), []);
        assert.deepEqual(
          await report(store, { detached: true }, [{ taskId: task.id, outcome: 'completed' }]),
          [],
          'the controller cannot complete a leased task',
        );
        assert.deepEqual(await snapshot(store, experiment.id), before);
      });

      storeTest('a second report for a task already completed changes nothing', async ({ store, principal }) => {
        const experiment = await launch(store, principal);
        const [task] = await claim(store, 'worker-a');
        await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'completed' }]);
        const before = await snapshot(store, experiment.id);
        assert.deepEqual(
          await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'completed' }]),
          [],
        );
        assert.deepEqual(
          await report(store, { workerId: 'worker-a' }, [
            { taskId: task.id, outcome: 'failed', failure: { code: 'internal', message: 'late', retryable: false } },
          ]),
          [],
        );
        assert.deepEqual(await snapshot(store, experiment.id), before);
        assert.equal(
          (await tasksOf(store, experiment.id)).get('stage-in')!.pending_dependencies,
          0,
          'the successor is not decremented twice',
        );
      });

      storeTest(
        'a retryable failure returns the task to ready after a backoff, counting the attempt',
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          const [task] = await claim(store, 'worker-a');
          const failure = { code: 'internal', message: 'connection timed out', retryable: true } as const;
          assert.deepEqual(
            await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'failed', failure }]),
            [task.id],
          );
          const [row] = await store.query<any>(
            `select state, attempt, lease_owner, failure, run_at > now() as later, run_at <= now() + interval '5 seconds' as soon
           from tasks where id = $1`,
            [task.id],
          );
          assert.deepEqual(row, { state: 'ready', attempt: 1, lease_owner: null, failure, later: true, soon: true });
          assert.equal(await stateOf(store, experiment.id), 'executing', 'the experiment keeps going');
          const event = (await listEvents(store, experiment.id)).at(-1)!;
          assert.deepEqual(eventSummary(event), ['task', 'env-setup', 'running', 'ready']);
          assert.match(event.message ?? '', /attempt 1 failed \(connection timed out\); retrying/);
          assert.deepEqual(await claim(store, 'worker-a'), [], 'not claimable before its backoff');
          await store.query('update tasks set run_at = now() where id = $1', [task.id]);
          const [again] = await claim(store, 'worker-b');
          assert.equal(again.id, task.id);
          assert.equal(again.attempt, 2, 'the second claim is attempt 2');
        },
      );

      storeTest(
        'a non-retryable failure fails the task, skips the rest and fails the experiment',
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          const [task] = await claim(store, 'worker-a');
          const failure = {
            code: 'resource-misconfigured',
            message: 'No space left on device',
            retryable: false,
          } as const;
          assert.deepEqual(
            await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'failed', failure }]),
            [task.id],
          );
          await assertFailedExperiment(store, experiment.id, failure, 'env-setup');
        },
      );

      storeTest('a retryable failure on the last attempt fails the experiment', async ({ store, principal }) => {
        const experiment = await launch(store, principal);
        await store.query(`update tasks set max_attempts = 1 where experiment_id = $1`, [experiment.id]);
        const [task] = await claim(store, 'worker-a');
        const failure = { code: 'internal', message: 'connection timed out', retryable: true } as const;
        assert.deepEqual(
          await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'failed', failure }]),
          [task.id],
        );
        await assertFailedExperiment(store, experiment.id, failure, 'env-setup');
      });

      storeTest(
        'an unreachable resource blocks the experiment and retries past the last attempt; unblocking resumes it',
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          await store.query(`update tasks set max_attempts = 2 where experiment_id = $1`, [experiment.id]);
          const failure = {
            code: 'resource-unreachable' as const,
            message: 'cannot reach hpcuser@127.0.0.1:2223: connect ECONNREFUSED',
            retryable: true,
          };
          for (let attempt = 1; attempt <= 3; attempt++) {
            await store.query(`update tasks set run_at = now() where experiment_id = $1 and state = 'ready'`, [
              experiment.id,
            ]);
            const [task] = await claim(store, 'worker-a');
            assert.equal(task.attempt, attempt);
            await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'failed', failure }]);
            assert.equal(
              (await tasksOf(store, experiment.id)).get('env-setup')!.state,
              'ready',
              `attempt ${attempt} of 2 is retried all the same`,
            );
          }
          const [blocked] = await store.query<any>(
            'select state, blocked_reason, state_before_block, blocked_until > now() as next_try_later from experiments where id = $1',
            [experiment.id],
          );
          assert.deepEqual(blocked, {
            state: 'blocked',
            blocked_reason: failure.message,
            state_before_block: 'executing',
            next_try_later: true,
          });
          const moves = (await listEvents(store, experiment.id))
            .filter((event) => event.entity === 'experiment')
            .map(eventSummary);
          assert.equal(
            moves.filter((move) => move[3] === 'blocked').length,
            1,
            'blocked once, however many attempts fail',
          );
          await store.transaction((tx) => unblockExperiments(tx, [experiment.id], 'the resource answers again'));
          assert.equal(await stateOf(store, experiment.id), 'executing');
          const last = (await listEvents(store, experiment.id)).at(-1)!;
          assert.deepEqual(eventSummary(last), ['experiment', null, 'blocked', 'executing']);
          assert.equal(last.message, 'the resource answers again');
        },
      );

      storeTest(
        'completing the whole chain completes the experiment, with events in order',
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          const kinds: TaskKind[] = [];
          for (let step = 0; step < experimentDag.length; step++) {
            const claimed = await claim(store, 'worker-a');
            assert.equal(claimed.length, 1, `one task ready at step ${step}`);
            kinds.push(claimed[0].kind);
            assert.notEqual(await stateOf(store, experiment.id), 'completed', 'not complete before the last task');
            await report(store, { workerId: 'worker-a' }, [{ taskId: claimed[0].id, outcome: 'completed' }]);
          }
          assert.deepEqual(
            kinds,
            experimentDag.map((node) => node.kind),
            'tasks run in DAG order',
          );
          assert.deepEqual(await claim(store, 'worker-a'), []);
          const [row] = await store.query<any>(
            'select state, finished_at, failure, last_event_seq from experiments where id = $1',
            [experiment.id],
          );
          assert.equal(row.state, 'completed');
          assert.ok(row.finished_at instanceof Date, 'finished_at is set');
          assert.equal(row.failure, null);
          const expected: Array<ReturnType<typeof eventSummary>> = [
            ['experiment', null, null, 'created'],
            ['experiment', null, 'created', 'queued'],
            ['task', 'env-setup', null, 'ready'],
            ['experiment', null, 'queued', 'executing'],
          ];
          experimentDag.forEach((node, index) => {
            expected.push(['task', node.kind, 'ready', 'running'], ['task', node.kind, 'running', 'completed']);
            const next = experimentDag[index + 1];
            if (next) expected.push(['task', next.kind, 'pending', 'ready']);
          });
          expected.push(['experiment', null, 'executing', 'completed']);
          const events = await listEvents(store, experiment.id);
          assert.deepEqual(events.map(eventSummary), expected);
          assert.deepEqual(
            events.map((event) => event.seq),
            range(1, expected.length),
          );
          assert.equal(row.last_event_seq, expected.length);
          for (let index = 1; index < events.length; index++) {
            assert.ok(
              events[index].at >= events[index - 1].at,
              `event ${events[index].seq} is not older than the one before`,
            );
          }
        },
      );
    });

    describe('recoverExpiredLeases', () => {
      storeTest(
        'returns a task whose lease expired to ready at once, without using up its attempts',
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          const healthy = await launch(store, principal);
          await store.query(`update tasks set max_attempts = 2 where experiment_id = $1`, [experiment.id]);
          const claimed = await claim(store, 'worker-a');
          assert.equal(claimed.length, 2);
          const task = claimed.find((item) => item.experimentId === experiment.id)!;
          await store.query(`update tasks set lease_expires_at = now() - interval '1 second' where id = $1`, [task.id]);

          assert.equal(await store.transaction((tx) => recoverExpiredLeases(tx)), 1);
          const [row] = await store.query<any>(
            `select state, attempt, max_attempts, lease_owner, run_at <= now() as due from tasks where id = $1`,
            [task.id],
          );
          assert.deepEqual(row, { state: 'ready', attempt: 1, max_attempts: 3, lease_owner: null, due: true });
          const last = (await listEvents(store, experiment.id)).at(-1)!;
          assert.deepEqual(eventSummary(last), ['task', 'env-setup', 'running', 'ready']);
          assert.match(last.message!, /attempt 1 does not count \(the worker running this task stopped renewing/);
          assert.equal(
            (await tasksOf(store, healthy.id)).get('env-setup')!.state,
            'running',
            'a live lease is left alone',
          );
          assert.deepEqual(
            await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'completed' }]),
            [],
            'the old worker lost the task',
          );

          // Two more deaths: a task of 2 attempts outlives three workers, and is still ready.
          for (const attempt of [2, 3]) {
            const [again] = await claim(store, 'worker-b');
            assert.deepEqual({ id: again.id, attempt: again.attempt }, { id: task.id, attempt });
            await store.query(`update tasks set lease_expires_at = now() - interval '1 second' where id = $1`, [
              task.id,
            ]);
            assert.equal(await store.transaction((tx) => recoverExpiredLeases(tx)), 1);
          }
          assert.equal((await tasksOf(store, experiment.id)).get('env-setup')!.state, 'ready');
          assert.equal(await stateOf(store, experiment.id), 'executing');

          // A handler that fails still counts: two failed attempts of two end it.
          const failure = { code: 'internal' as const, message: 'boom', retryable: true };
          for (const attempt of [4, 5]) {
            await store.query(`update tasks set run_at = now() where id = $1`, [task.id]);
            const [again] = await claim(store, 'worker-b');
            assert.equal(again.attempt, attempt);
            await report(store, { workerId: 'worker-b' }, [{ taskId: task.id, outcome: 'failed', failure }]);
          }
          await assertFailedExperiment(store, experiment.id, failure, 'env-setup');
          assert.equal(await store.transaction((tx) => recoverExpiredLeases(tx)), 0, 'nothing left to recover');
          assert.equal(await stateOf(store, healthy.id), 'executing');
        },
      );

      storeTest(
        `fails a task once its workers died under it ${maxWorkerLosses} times (a poison task)`,
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          for (let loss = 1; loss <= maxWorkerLosses; loss++) {
            const [task] = await claim(store, `worker-${loss}`);
            assert.ok(task, `claim ${loss}`);
            await store.query(`update tasks set lease_expires_at = now() - interval '1 second' where id = $1`, [
              task.id,
            ]);
            assert.equal(await store.transaction((tx) => recoverExpiredLeases(tx)), 1);
          }
          await assertFailedExperiment(
            store,
            experiment.id,
            {
              code: 'worker-lost',
              message: `its workers died under it ${maxWorkerLosses} times: the task itself may be what kills them`,
              retryable: false,
            },
            'env-setup',
          );
        },
      );
    });

    describe('workers', () => {
      const registration = (id: string, capabilities: Partial<WorkerCapabilities> = {}) => ({
        id,
        ...allCapabilities,
        ...capabilities,
        concurrency: 4,
        version: '0.0.0-test',
        host: 'test-host',
        pid: 1,
        heartbeatMs: 1000,
      });

      storeTest('the claim hands a task only to a worker that can run it', async ({ store, principal }) => {
        const experiment = await launch(store, principal);
        const task = { kind: 'env-setup' as const, gatewayId: principal.gatewayId, resource: 'local' };
        const cases: Array<[string, Partial<WorkerCapabilities>]> = [
          ['other-kinds', { kinds: ['submit', 'monitor'] }],
          ['other-resource', { resources: ['cluster'] }],
          ['other-gateway', { resources: ['elsewhere/local'] }],
          ['named', { resources: ['local'] }],
          ['gateway-named', { resources: [`${principal.gatewayId}/local`] }],
          ['everything', {}],
        ];
        for (const [id, capabilities] of cases) {
          await registerWorker(store, registration(id, capabilities));
          const expected = mayRun({ ...allCapabilities, ...capabilities }, task);
          const claimed = await claim(store, id);
          assert.equal(claimed.length, expected ? 1 : 0, `${id}: mayRun says ${expected}`);
          if (claimed.length > 0) {
            await store.transaction((tx) => markStopped(tx, id, [claimed[0].id]));
            assert.equal((await tasksOf(store, experiment.id)).get('env-setup')!.state, 'ready', 'handed back');
          }
          assert.deepEqual(await claim(store, id), [], `${id}: a stopped worker claims nothing`);
        }
        const [row] = await store.query<any>(
          `select attempt, max_attempts from tasks where experiment_id = $1 and kind = 'env-setup'`,
          [experiment.id],
        );
        assert.deepEqual(row, { attempt: 3, max_attempts: 6 }, 'three hand-backs, three attempts given back');
        assert.equal((await claim(store, 'never-registered')).length, 1, 'a worker without a row claims anything');
      });

      storeTest(
        'a silent worker is lost, its tasks go back at once without costing an attempt, and it may come back',
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          await registerWorker(store, registration('silent'));
          await registerWorker(store, registration('alive'));
          const [task] = await claim(store, 'silent');
          assert.ok(task);
          assert.deepEqual(await store.transaction((tx) => markSilentWorkersLost(tx)), [], 'heartbeats are fresh');
          await store.query(
            `update workers set heartbeat_at = now() - interval '3001 milliseconds' where id = 'silent'`,
          );
          assert.deepEqual(await store.transaction((tx) => markSilentWorkersLost(tx)), ['silent']);
          const row = (await tasksOf(store, experiment.id)).get('env-setup')!;
          assert.deepEqual(
            { state: row.state, attempt: row.attempt, owner: row.lease_owner },
            {
              state: 'ready',
              attempt: 1,
              owner: null,
            },
          );
          assert.equal(row.failure.code, 'worker-lost');
          const listed = await listWorkers(store);
          assert.deepEqual(
            listed.map((worker) => [worker.id, worker.state, worker.runningTasks]),
            [
              ['alive', 'active', 0],
              ['silent', 'lost', 0],
            ],
          );
          assert.equal(await recordHeartbeat(store, 'silent'), 'lost', 'the lost worker hears it is lost');
          assert.deepEqual(await claim(store, 'silent'), [], 'and claims nothing');
          const [again] = await claim(store, 'alive');
          assert.deepEqual({ id: again.id, attempt: again.attempt }, { id: task.id, attempt: 2 });
          assert.deepEqual(
            await report(store, { workerId: 'silent' }, [{ taskId: task.id, outcome: 'completed' }]),
            [],
            "the lost worker's late outcome is dropped",
          );
          const [shown] = (await listWorkers(store)).filter((worker) => worker.id === 'alive');
          assert.equal(shown.runningTasks, 1);
          assert.deepEqual(
            shown.tasks.map((item) => [item.id, item.kind, item.experimentId, item.gatewayId, item.attempt]),
            [[task.id, 'env-setup', experiment.id, principal.gatewayId, 2]],
          );
          await registerWorker(store, registration('silent'));
          assert.equal(await recordHeartbeat(store, 'silent'), 'active', 'registered again, it is active');
          await store.query(
            `update workers set stopped_at = now() - interval '2 days', state = 'stopped' where id = 'silent'`,
          );
          assert.equal(await forgetGoneWorkers(store), 1);
        },
      );
    });

    describe('applyObservations', () => {
      storeTest(
        'applies queued -> running -> completed, and ignores a stale running afterwards',
        async ({ store, principal }) => {
          const { experimentId, job } = await submittedJob(store, principal);
          assert.equal(job.state, 'queued');

          assert.deepEqual(
            await observe(store, job, {
              nativeId: '4242',
              state: 'running',
              nativeState: 'RUNNING',
              nodeList: 'node01',
            }),
            [],
          );
          const running = await jobOf(store, job.id);
          assert.equal(running.state, 'running');
          assert.equal(running.nodeList, 'node01');
          assert.ok(running.startedAt instanceof Date, 'started_at is set');

          const finished = await observe(store, running, {
            nativeId: '4242',
            state: 'completed',
            nativeState: 'COMPLETED',
            exitCode: 0,
          });
          assert.deepEqual(
            finished.map((item) => [item.id, item.state, item.exitCode]),
            [[job.id, 'completed', 0]],
          );
          const completed = await jobOf(store, job.id);
          assert.ok(completed.endedAt instanceof Date, 'ended_at is set');
          const events = await listEvents(store, experimentId);
          assert.deepEqual(events.slice(-3).map(eventSummary), [
            ['job', '4242', 'submitting', 'queued'],
            ['job', '4242', 'queued', 'running'],
            ['job', '4242', 'running', 'completed'],
          ]);

          const before = await snapshot(store, experimentId);
          const stale: JobObservation = { nativeId: '4242', state: 'running', nativeState: 'RUNNING' };
          assert.deepEqual(await observe(store, completed, stale), [], 'a stale running after completed is ignored');
          assert.deepEqual(
            await observe(store, running, stale),
            [],
            'also when the caller holds an old copy of the job',
          );
          assert.deepEqual(await observe(store, job, stale), []);
          assert.equal((await jobOf(store, job.id)).state, 'completed');
          assert.deepEqual(await snapshot(store, experimentId), before, 'no event appended');
        },
      );

      storeTest(
        'an observation applied with an outdated copy of the job records the state the job really left',
        async ({ store, principal }) => {
          // The controller reads the active jobs, polls the scheduler (seconds over SSH), then applies.
          const { experimentId, job: outdated } = await submittedJob(store, principal);
          await observe(store, outdated, { nativeId: '4242', state: 'running', nativeState: 'RUNNING' });
          const finished = await observe(store, outdated, {
            nativeId: '4242',
            state: 'completed',
            nativeState: 'COMPLETED',
            exitCode: 0,
          });
          assert.deepEqual(
            finished.map((item) => item.state),
            ['completed'],
            'running -> completed is allowed and applied',
          );
          const events = await listEvents(store, experimentId);
          assert.deepEqual(
            events.slice(-2).map(eventSummary),
            [
              ['job', '4242', 'queued', 'running'],
              ['job', '4242', 'running', 'completed'],
            ],
            'the timeline shows the job leaving running, not queued a second time',
          );
        },
      );

      storeTest('records a change of reason while queued as an event', async ({ store, principal }) => {
        const { experimentId, job } = await submittedJob(store, principal);
        await observe(store, job, { nativeId: '4242', state: 'queued', nativeState: 'PENDING', reason: 'Priority' });
        const priority = await jobOf(store, job.id);
        assert.equal(priority.reason, 'Priority');
        await observe(store, priority, {
          nativeId: '4242',
          state: 'queued',
          nativeState: 'PENDING',
          reason: 'Resources',
        });
        const resources = await jobOf(store, job.id);
        assert.deepEqual(
          [resources.state, resources.nativeState, resources.reason],
          ['queued', 'PENDING', 'Resources'],
        );
        const events = await listEvents(store, experimentId);
        assert.deepEqual(
          events.slice(-2).map((event) => [...eventSummary(event), event.message]),
          [
            ['job', '4242', 'queued', 'queued', 'PENDING (Priority)'],
            ['job', '4242', 'queued', 'queued', 'PENDING (Resources)'],
          ],
        );
        const seq = await lastEventSeq(store, experimentId);
        await observe(store, resources, {
          nativeId: '4242',
          state: 'queued',
          nativeState: 'PENDING',
          reason: 'Resources',
        });
        assert.equal(await lastEventSeq(store, experimentId), seq, 'the same observation again appends nothing');
      });
    });

    describe('notification outbox', () => {
      /** The deliveries of an experiment as `event channel seq`, sorted. */
      const deliveriesOf = async (store: Store, experimentId: string) =>
        (
          await store.query<{ line: string }>(
            `select event || ' ' || channel || ' ' || event_seq as line from notification_deliveries
             where experiment_id = $1 order by 1`,
            [experimentId],
          )
        ).map((row) => row.line);
      const subscribe = (store: Store, principal: Principal, events: string[]) =>
        store.query(
          `insert into notification_settings (user_id, gateway_id, events, email, webhook_url)
           values ($1, $2, $3, 'ada@example.org', 'https://hooks.example.org/ada')`,
          [principal.userId, principal.gatewayId, events],
        );

      storeTest(
        'the statement that writes an experiment start or end queues its deliveries; a rollback drops both',
        async ({ store, principal }) => {
          await subscribe(store, principal, ['started', 'failed', 'canceled']);
          const quiet = await createExperiment(store, principal, {
            application: 'echo',
            resource: 'local',
            launch: false,
          });
          await cancelExperiment(store, principal, quiet.id);
          assert.deepEqual(await deliveriesOf(store, quiet.id), [], "a draft's cancel notifies no one");

          const experiment = await launch(store, principal);
          assert.deepEqual(await deliveriesOf(store, experiment.id), [], 'queued is not an event that notifies');
          await claim(store, 'w1');
          const started = (await listEvents(store, experiment.id)).find(
            (event) => event.entity === 'experiment' && event.toState === 'executing',
          )!;
          assert.deepEqual(await deliveriesOf(store, experiment.id), [
            `started email ${started.seq}`,
            `started webhook ${started.seq}`,
          ]);

          await assert.rejects(
            store.transaction(async (tx) => {
              await moveExperiment(tx, experiment.id, 'failed', { failure: { code: 'job-failed', message: 'exit 3' } });
              throw new Error('rolled back');
            }),
            /rolled back/,
          );
          assert.equal(await deliveriesOf(store, experiment.id).then((lines) => lines.length), 2);

          // The experiment's own choice: failures only, by webhook only.
          await store.query(`update experiments set notify = '{"email": false}' where id = $1`, [experiment.id]);
          await store.transaction((tx) =>
            moveExperiment(tx, experiment.id, 'failed', { failure: { code: 'job-failed', message: 'exit 3' } }),
          );
          const failed = (await listEvents(store, experiment.id)).at(-1)!;
          assert.deepEqual(
            (await deliveriesOf(store, experiment.id)).filter((line) => line.startsWith('failed')),
            [`failed webhook ${failed.seq}`],
          );
        },
      );

      storeTest(
        'deliverers never claim one delivery at once; a claim that runs out is the next attempt, and its old sender records nothing',
        async ({ store, principal }) => {
          await subscribe(store, principal, ['started']);
          for (let index = 0; index < 6; index += 1) await launch(store, principal);
          await claim(store, 'w1', 100);
          const policy = { maxAttempts: 3, retryBaseMs: 10, retryCapMs: 10 };
          const [first, second] = await Promise.all([
            claimDeliveries(store, 7, 60_000, 3),
            claimDeliveries(store, 7, 60_000, 3),
          ]);
          const ids = [...first, ...second].map((delivery) => delivery.id);
          assert.equal(ids.length, 12, 'six experiments x two channels, all claimed');
          assert.equal(new Set(ids).size, 12, 'none twice');
          assert.deepEqual(await claimDeliveries(store, 10, 60_000, 3), [], 'claimed ones are not due');

          const [one] = await store.query<{ id: string }>(
            `update notification_deliveries set next_attempt_at = now() - interval '1 second'
             where id = $1 returning id`,
            [ids[0]],
          );
          const [again] = await claimDeliveries(store, 10, 60_000, 3);
          assert.equal(again.id, one.id);
          assert.equal(again.attempt, 2, 'its claim ran out: the next attempt');
          const ok = { ok: true, status: '200', error: null, retryable: false };
          assert.equal(await recordAttempt(store, one.id, 1, ok, policy), null, 'the first sender records nothing');
          assert.equal(await recordAttempt(store, one.id, 2, ok, policy), 'delivered');
          const attempts = await store.query<{ attempt: number; outcome: string }>(
            'select attempt, outcome from notification_attempts where delivery_id = $1 order by attempt',
            [one.id],
          );
          assert.deepEqual(
            attempts.map((row) => `${row.attempt} ${row.outcome}`),
            ['1 interrupted', '2 delivered'],
          );

          const failure = { ok: false, status: '503', error: 'busy', retryable: true };
          assert.equal(await recordAttempt(store, ids[1], 1, failure, policy), 'pending');
          assert.equal(
            await recordAttempt(store, ids[2], 1, { ...failure, retryable: false }, policy),
            'failed',
            'a final refusal is not retried',
          );
        },
      );
    });

    describe('experiments', () => {
      storeTest('settling in SQL follows experimentOutcome for every kind of fact', async ({ store }) => {
        const failure = { code: 'submit-rejected', message: 'sbatch said no' };
        const cases = activeExperimentStates.flatMap((state) =>
          [null, failure].flatMap((taskFailure) =>
            [null, ...jobStates].flatMap((jobState) =>
              [null, 3].flatMap((exitCode) =>
                [null, 'not resubmitted: 2 of 2 resubmits used'].map((resubmitRefusal) => ({
                  state,
                  taskFailure,
                  jobState,
                  exitCode,
                  resubmitRefusal,
                })),
              ),
            ),
          ),
        );
        const outcome = experimentOutcomeSql({
          state: 'x.state',
          taskFailure: 'x.task_failure',
          jobState: 'x.job_state',
          exitCode: 'x.exit_code',
          resubmitRefusal: 'x.resubmit_refusal',
        });
        const rows = await store.query<{ target: string; failure: unknown }>(
          `select ${outcome.target} as target, ${outcome.failure} as failure
           from jsonb_to_recordset($1::jsonb) as x(n int, state text, task_failure jsonb, job_state text, exit_code int,
             resubmit_refusal text)
           order by n`,
          [
            JSON.stringify(
              cases.map((facts, n) => ({
                n,
                state: facts.state,
                task_failure: facts.taskFailure,
                job_state: facts.jobState,
                exit_code: facts.exitCode,
                resubmit_refusal: facts.resubmitRefusal,
              })),
            ),
          ],
        );
        assert.equal(rows.length, cases.length);
        cases.forEach((facts, index) => {
          const expected = experimentOutcome(facts as SettlementFacts);
          assert.deepEqual(
            { to: rows[index].target, ...(rows[index].failure ? { failure: rows[index].failure } : {}) },
            expected,
            JSON.stringify(facts),
          );
        });
      });

      storeTest('moveExperiment refuses a move the table forbids', async ({ store, principal }) => {
        const draft = await createExperiment(store, principal, {
          application: 'echo',
          resource: 'local',
          launch: false,
        });
        assert.equal(draft.state, 'created');
        const seq = await lastEventSeq(store, draft.id);
        assert.equal(await store.transaction((tx) => moveExperiment(tx, draft.id, 'completed')), null);
        assert.equal(await stateOf(store, draft.id), 'created');
        assert.equal(await lastEventSeq(store, draft.id), seq, 'no event appended');
        assert.equal(await store.transaction((tx) => moveExperiment(tx, draft.id, 'executing')), null);
        assert.equal(
          await store.transaction((tx) => moveExperiment(tx, draft.id, 'queued', { message: 'launched' })),
          'created',
          'an allowed move returns the state it left',
        );
        assert.equal(await stateOf(store, draft.id), 'queued');
        assert.deepEqual(eventSummary((await listEvents(store, draft.id)).at(-1)!), [
          'experiment',
          null,
          'created',
          'queued',
        ]);
      });

      storeTest('cancelExperiment cancels the tasks not started and ends canceled', async ({ store, principal }) => {
        const experiment = await launch(store, principal);
        const canceled = await cancelExperiment(store, principal, experiment.id);
        assert.equal(canceled.state, 'canceled');
        assert.ok(canceled.finishedAt instanceof Date, 'finished_at is set');
        assert.deepEqual(
          canceled.tasks.map((task) => task.state),
          experimentDag.map(() => 'canceled'),
        );
        const events = await listEvents(store, experiment.id);
        const afterLaunch = events.slice(3).map(eventSummary);
        assert.deepEqual(afterLaunch[0], ['experiment', null, 'queued', 'canceling']);
        assert.deepEqual(afterLaunch.at(-1), ['experiment', null, 'canceling', 'canceled']);
        assert.deepEqual(
          afterLaunch.slice(1, -1).sort(),
          experimentDag
            .map((node) => ['task', node.kind, node.dependsOn.length === 0 ? 'ready' : 'pending', 'canceled'])
            .sort(),
        );
        assert.deepEqual(await claim(store, 'worker-a'), [], 'nothing left to claim');
      });

      storeTest(
        'a cancel once the submit has started leaves the monitor and stage-out to run, and ends canceled after them',
        async ({ store, principal }) => {
          const experiment = await launch(store, principal);
          // Run the DAG up to a running submit.
          for (const kind of ['env-setup', 'stage-in'] as const) {
            const [task] = await claim(store, 'worker-a');
            assert.equal(task.kind, kind);
            await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome: 'completed' }]);
          }
          const [submit] = await claim(store, 'worker-a');
          assert.equal(submit.kind, 'submit');

          const canceling = await cancelExperiment(store, principal, experiment.id);
          assert.equal(canceling.state, 'canceling');
          const states = async () =>
            Object.fromEntries([...(await tasksOf(store, experiment.id))].map(([kind, task]) => [kind, task.state]));
          assert.deepEqual(await states(), {
            'env-setup': 'completed',
            'stage-in': 'completed',
            submit: 'running',
            monitor: 'pending',
            'stage-out': 'pending',
          });

          await report(store, { workerId: 'worker-a' }, [{ taskId: submit.id, outcome: 'completed' }]);
          const [monitor] = await claim(store, 'worker-a');
          assert.equal(monitor.kind, 'monitor');
          await report(store, { workerId: 'worker-a' }, [{ taskId: monitor.id, outcome: 'detached' }]);
          // The controller completes an ended monitor of a canceling experiment as any other.
          const ended = await store.transaction(async (tx) => {
            const found = await findEndedMonitors(tx);
            await applyOutcomes(
              tx,
              { detached: true },
              found.map((item) => ({ taskId: item.taskId, outcome: 'completed' as const })),
            );
            return found;
          });
          assert.deepEqual(
            ended.map((item) => item.taskId),
            [monitor.id],
          );
          assert.equal(await stateOf(store, experiment.id), 'canceling', 'stage-out has yet to run');
          const [stageOut] = await claim(store, 'worker-a');
          assert.equal(stageOut.kind, 'stage-out');
          await report(store, { workerId: 'worker-a' }, [{ taskId: stageOut.id, outcome: 'completed' }]);
          assert.equal(await stateOf(store, experiment.id), 'canceled');
          assert.deepEqual(
            Object.values(await states()),
            experimentDag.map(() => 'completed'),
          );
          const events = await listEvents(store, experiment.id);
          assert.deepEqual(eventSummary(events.at(-1)!), ['experiment', null, 'canceling', 'canceled']);
          assert.deepEqual(
            events.map((event) => event.seq),
            range(1, events.length),
            'events stay gapless',
          );
        },
      );
    });

    describe('resubmit and resume', () => {
      storeTest(
        'a resume after a failed job and a failed stage-out reruns the submit and the stage-out at once',
        async ({ store, principal }) => {
          const { id } = await launch(store, principal);
          for (const kind of ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out'] as const) {
            const [task] = await claim(store, 'worker-b');
            assert.equal(task.kind, kind);
            if (kind === 'submit') {
              const job = await store.transaction((tx) =>
                recordSubmittedJob(tx, {
                  experimentId: id,
                  taskId: task.id,
                  gatewayId: principal.gatewayId,
                  resource: 'local',
                  submissionKey: submissionKey(id, task.id, 1),
                  nativeId: '77',
                  queue: 'normal',
                  workdir: `/tmp/${id}`,
                  details: {},
                  adopted: false,
                }),
              );
              await observe(store, job, { nativeId: '77', state: 'failed', nativeState: 'exited', exitCode: 3 });
            }
            const failure = { code: 'internal', message: 'the disk is full', retryable: false } as const;
            await report(store, { workerId: 'worker-b' }, [
              kind === 'stage-out'
                ? { taskId: task.id, outcome: 'failed', failure }
                : { taskId: task.id, outcome: 'completed' },
            ]);
          }
          assert.equal(await stateOf(store, id), 'failed');
          await resumeExperiment(store, principal, id);
          const states = Object.fromEntries([...(await tasksOf(store, id))].map(([kind, task]) => [kind, task.state]));
          assert.deepEqual(states, {
            'env-setup': 'completed',
            'stage-in': 'completed',
            submit: 'ready',
            monitor: 'pending',
            'stage-out': 'pending',
          });
          const resumed = (await listEvents(store, id)).find((event) => event.label === 'resumed')!;
          assert.equal(resumed.message, 'run 2: resumed by ada from the submit task (its job failed)');
          assert.deepEqual(resumed.data, {
            run: 2,
            fromTask: 'submit',
            fromTaskId: (await tasksOf(store, id)).get('submit').id,
            previousFailure: { code: 'internal', message: 'the disk is full' },
          });
        },
      );

      storeTest(
        'a Slurm job OUT_OF_MEMORY runs again with twice the memory up to the cap, then the experiment fails saying so; a resume runs its submit again as a new run',
        async ({ store, principal }) => {
          // The test cluster enforces no memory limit: Slurm's OUT_OF_MEMORY arrives here as the scheduler's observation.
          await upsertResource(
            store,
            principal.gatewayId,
            {
              name: 'cluster',
              kind: 'slurm',
              config: {
                scratchDir: '/scratch',
                ssh: { host: '127.0.0.1', user: 'hpc', privateKeyPath: '/none', hostKey: 'ssh-ed25519 AAAA' },
                queues: [{ name: 'debug', maxWalltimeMinutes: 60, maxCores: 4, maxMemoryMb: 3000 }],
              },
            },
            { operator: true },
          );
          await upsertApplication(
            store,
            principal.gatewayId,
            {
              name: 'hungry',
              title: 'Hungry',
              resubmit: { attempts: 1 },
              deployments: { '*': { command: ['true'], queue: 'debug', memoryMb: 1000 } },
            },
            { operator: true },
          );
          const { id } = await createExperiment(store, principal, { application: 'hungry', resource: 'cluster' });
          const runTask = async (kind: TaskKind, outcome: 'completed' | 'detached' = 'completed') => {
            const [task] = await claim(store, 'worker-a');
            assert.equal(task.kind, kind);
            await report(store, { workerId: 'worker-a' }, [{ taskId: task.id, outcome }]);
            return task;
          };
          /** The submit's attempt as the worker runs it: records the job its key names, which ran out of memory. */
          const submitAndRunOutOfMemory = async (nativeId: string) => {
            const [submit] = await claim(store, 'worker-a');
            assert.equal(submit.kind, 'submit');
            const job = await store.transaction((tx) =>
              recordSubmittedJob(tx, {
                experimentId: id,
                taskId: submit.id,
                gatewayId: principal.gatewayId,
                resource: 'cluster',
                submissionKey: submissionKey(id, submit.id, submit.attempt),
                nativeId,
                queue: 'debug',
                workdir: `/scratch/${id}`,
                details: {},
                adopted: false,
              }),
            );
            await report(store, { workerId: 'worker-a' }, [{ taskId: submit.id, outcome: 'completed' }]);
            await runTask('monitor', 'detached');
            await observe(store, job, { nativeId, state: 'failed', nativeState: 'OUT_OF_MEMORY', exitCode: 0 });
            return submit;
          };
          /** The controller's completion of ended monitors. */
          const completeMonitors = () =>
            store.transaction(async (tx) => {
              const ended = await findEndedMonitors(tx);
              const rerun = await resubmitEndedJobs(tx, ended);
              await applyOutcomes(
                tx,
                { detached: true },
                ended
                  .filter((monitor) => !rerun.has(monitor.taskId))
                  .map((monitor) => ({ taskId: monitor.taskId, outcome: 'completed' as const })),
              );
              return rerun.size;
            });
          const facts = async () => {
            const [row] = await store.query<any>(
              'select state, settings, resubmits, run, failure from experiments where id = $1',
              [id],
            );
            const tasks = Object.fromEntries([...(await tasksOf(store, id))].map(([kind, task]) => [kind, task.state]));
            return { ...row, memoryMb: row.settings.memoryMb, tasks };
          };

          // What a resubmit and a resume of a failed job leave: the submit to run again, what follows it waiting.
          const submitAgain = {
            'env-setup': 'completed',
            'stage-in': 'completed',
            submit: 'ready',
            monitor: 'pending',
            'stage-out': 'pending',
          };
          await runTask('env-setup');
          await runTask('stage-in');
          const first = await submitAndRunOutOfMemory('100');
          assert.equal(first.attempt, 1);
          assert.equal(await completeMonitors(), 1);
          let now = await facts();
          assert.equal(now.state, 'executing');
          assert.equal(now.memoryMb, 2000);
          assert.equal(now.resubmits, 1);
          assert.deepEqual(now.tasks, submitAgain);
          const resubmitted = (await listEvents(store, id)).filter((event) => event.label === 'resubmitted');
          assert.deepEqual(
            resubmitted.map((event) => event.message),
            ['the job ran out of memory: resubmitted with memory 1000 MB -> 2000 MB (automatic resubmit 1 of 1)'],
          );

          // The second job: a new attempt of a new run of the submit, whose keys exclude the first job's.
          const second = await submitAndRunOutOfMemory('101');
          assert.deepEqual([second.attempt, second.runFirstAttempt], [2, 1]);
          assert.equal(await completeMonitors(), 0, 'the cap is reached');
          await runTask('stage-out');
          now = await facts();
          assert.equal(now.state, 'failed');
          assert.deepEqual(now.failure, {
            code: 'job-failed',
            message:
              "the job exited with code 0; not resubmitted: 1 of 1 automatic resubmits used (the application's cap)",
          });

          const resumed = await resumeExperiment(store, principal, id);
          assert.equal(resumed.run, 2);
          assert.equal(resumed.resubmits, 0, 'a new run has its resubmits again');
          assert.equal(resumed.failure, null);
          now = await facts();
          assert.equal(now.state, 'queued');
          assert.deepEqual(now.tasks, submitAgain);
          const [third] = await claim(store, 'worker-a');
          assert.deepEqual([third.kind, third.attempt, third.runFirstAttempt], ['submit', 3, 2]);
          assert.equal(await stateOf(store, id), 'executing');
          await assert.rejects(resumeExperiment(store, principal, id), (error: unknown) => {
            assert.ok(error instanceof ConflictError);
            assert.equal(
              error.message,
              'experiment is executing; only a failed experiment can be resumed (clone it to run it again)',
            );
            return true;
          });
          const events = await listEvents(store, id);
          assert.deepEqual(
            events.map((event) => event.seq),
            range(1, events.length),
            'events stay gapless',
          );
          const resumedEvent = events.find((event) => event.label === 'resumed')!;
          assert.deepEqual(eventSummary(resumedEvent), ['experiment', null, 'failed', 'queued']);
          assert.equal(resumedEvent.message, 'run 2: resumed by ada from the submit task (its job failed)');
        },
      );
    });
  });
}

interface Fixture {
  store: Store;
  principal: Principal;
}

/** The versions of the migration files, in order. */
function migrationVersions(): number[] {
  const folder = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url));
  return readdirSync(folder)
    .filter((file) => /^\d{4}_.+\.sql$/.test(file))
    .sort()
    .map((file) => Number(file.slice(0, 4)));
}

/** An experiment row inserted by SQL: no tasks, no events. */
async function insertExperiment(store: Store, principal: Principal, state = 'created'): Promise<string> {
  const rows = await store.query<{ id: string }>(
    `insert into experiments (gateway_id, owner_id, name, application, application_version, resource, inputs, settings, state)
     values ($1, $2, 'plain', 'echo', '1', 'local', '{}', '{}', $3) returning id`,
    [principal.gatewayId, principal.userId, state],
  );
  return rows[0].id;
}

function note(experimentId: string, entityId: string): NewEvent {
  return { experimentId, entity: 'experiment', entityId, message: `note ${entityId}` };
}

function eventSummary(event: EventRecord): [string, string | null, string | null, string | null] {
  return [event.entity, event.entity === 'experiment' ? null : event.label, event.fromState, event.toState];
}

function claim(store: Store, workerId: string, limit = 10): Promise<ClaimedTask[]> {
  return store.transaction((tx) => claimTasks(tx, workerId, limit, 60_000));
}

function report(store: Store, reporter: OutcomeReporter, outcomes: TaskOutcome[]): Promise<number[]> {
  return store.transaction((tx) => applyOutcomes(tx, reporter, outcomes));
}

async function tasksOf(store: Store, experimentId: string): Promise<Map<TaskKind, any>> {
  const rows = await store.query<any>(
    `select id, kind, state, attempt, pending_dependencies, lease_owner, failure, result from tasks where experiment_id = $1 order by id`,
    [experimentId],
  );
  return new Map(rows.map((row) => [row.kind, row]));
}

async function stateOf(store: Store, experimentId: string): Promise<string> {
  const rows = await store.query<{ state: string }>('select state from experiments where id = $1', [experimentId]);
  return rows[0].state;
}

async function lastEventSeq(store: Store, experimentId: string): Promise<number> {
  const rows = await store.query<{ last_event_seq: number }>('select last_event_seq from experiments where id = $1', [
    experimentId,
  ]);
  return rows[0].last_event_seq;
}

/** Everything a user could see change about an experiment: its row, tasks, jobs and events. */
async function snapshot(store: Store, experimentId: string) {
  return {
    experiment: await store.query('select state, failure, finished_at, last_event_seq from experiments where id = $1', [
      experimentId,
    ]),
    tasks: await store.query(
      `select id, state, attempt, pending_dependencies, lease_owner, lease_expires_at, run_at, detached, failure, result, finished_at
       from tasks where experiment_id = $1 order by id`,
      [experimentId],
    ),
    jobs: await store.query(`select ${jobColumns} from jobs where experiment_id = $1 order by id`, [experimentId]),
    events: await listEvents(store, experimentId),
  };
}

async function assertFailedExperiment(
  store: Store,
  experimentId: string,
  failure: { code: string; message: string; retryable: boolean },
  failedKind: TaskKind,
): Promise<void> {
  const tasks = await tasksOf(store, experimentId);
  const failedIndex = experimentDag.findIndex((node) => node.kind === failedKind);
  for (const [index, node] of experimentDag.entries()) {
    const expected = index < failedIndex ? 'completed' : index === failedIndex ? 'failed' : 'skipped';
    assert.equal(tasks.get(node.kind)!.state, expected, `${node.kind} is ${expected}`);
  }
  assert.deepEqual(tasks.get(failedKind)!.failure, failure, 'the failure is stored with the task');
  const [row] = await store.query<any>('select state, failure, finished_at from experiments where id = $1', [
    experimentId,
  ]);
  assert.equal(row.state, 'failed');
  assert.deepEqual(row.failure, { code: failure.code, message: failure.message });
  assert.ok(row.finished_at instanceof Date, 'finished_at is set');
  const events = await listEvents(store, experimentId);
  const last = events.at(-1)!;
  assert.deepEqual(eventSummary(last), ['experiment', null, 'executing', 'failed']);
  assert.equal(last.message, failure.message, 'the experiment event carries the failure message');
  const skipped = events.filter((event) => event.toState === 'skipped');
  assert.deepEqual(
    skipped.map((event) => event.label),
    experimentDag.slice(failedIndex + 1).map((node) => node.kind),
  );
  assert.deepEqual(
    events.map((event) => event.seq),
    range(1, events.length),
    'events stay gapless',
  );
}

/** An experiment whose submit task recorded job 4242 (queued). */
async function submittedJob(store: Store, principal: Principal): Promise<{ experimentId: string; job: JobRecord }> {
  const experiment = await launch(store, principal);
  const submit = (await tasksOf(store, experiment.id)).get('submit')!;
  const job = await store.transaction((tx) =>
    recordSubmittedJob(tx, {
      experimentId: experiment.id,
      taskId: submit.id,
      gatewayId: principal.gatewayId,
      resource: 'local',
      submissionKey: `task-${submit.id}.attempt-1`,
      nativeId: '4242',
      queue: 'normal',
      workdir: '/tmp/drover-store-suite/job',
      details: {},
      adopted: false,
    }),
  );
  return { experimentId: experiment.id, job };
}

function observe(store: Store, job: JobRecord, observation: JobObservation): Promise<JobRecord[]> {
  return store.transaction((tx) => applyObservations(tx, [{ job, observation }]));
}

async function jobOf(store: Store, jobId: number): Promise<JobRecord> {
  const rows = await store.query(`select ${jobColumns} from jobs where id = $1`, [jobId]);
  return toJobRecord(rows[0]);
}

function range(first: number, last: number): number[] {
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, index) => first + index);
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
