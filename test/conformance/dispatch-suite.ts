/**
 * The dispatch suite: what the Dispatch port (src/dispatch/port.ts) promises, run on each
 * of its adapters (the Postgres queue on the embedded server in the quick tier and on PostgreSQL in the
 * pg tier). It drives the port alone, as workers do; the store is used only to set the
 * scene (a catalogue and launched experiments) and to read what a user would then see.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../src/store/port.ts';
import type { Dispatch } from '../../src/dispatch/port.ts';
import { migrate } from '../../src/store/migrate.ts';
import type { Principal } from '../../src/catalogue/users.ts';
import { getExperiment } from '../../src/experiments/queries.ts';
import { listEvents, type EventRecord } from '../../src/state/events.ts';
import { recoverExpiredLeases } from '../../src/state/task-state.ts';
import { experimentDag, type ClaimedTask, type TaskOutcome } from '../../src/domain/task.ts';
import { launch, seedCatalogue } from './catalogue-fixture.ts';

/** A fresh store (empty or migrated: the suite migrates it) and the adapter under test over it. */
export interface DispatchUnderTest {
  store: Store;
  dispatch: Dispatch;
  /**
   * For an adapter whose tasks reach workers some time after they became ready (the RabbitMQ
   * queue: outbox, relay, broker): resolves once every task ready now can be claimed. The
   * suite calls it after each step that makes tasks ready and claims again; without it,
   * an exchange claims what is ready at once (the Postgres queue).
   */
  settle?: () => Promise<void>;
  /** Called after the store is migrated, before the test (the RabbitMQ queue starts its outbox). */
  prepare?: () => Promise<void>;
  /** Closes the adapter (before the store). */
  close?: () => Promise<void>;
}

/**
 * Registers the suite under `describe(name)`. `open` must return a fresh, empty store and a
 * dispatch adapter over it; the suite closes the store after each test.
 */
export function dispatchConformance(name: string, open: () => Promise<DispatchUnderTest>): void {
  const dispatchTest = (title: string, body: (fixture: Fixture) => Promise<void>) =>
    it(title, { timeout: 60_000 }, async () => {
      const underTest = await open();
      const { store, dispatch } = underTest;
      try {
        await migrate(store);
        await underTest.prepare?.();
        const principal = await seedCatalogue(store);
        const settle = underTest.settle ?? (() => Promise.resolve());
        /**
         * An exchange, and, under an adapter that settles, a second one (no outcomes) after
         * it settled when the first claimed fewer than `limit`: the successors the outcomes
         * made ready come through the broker, not in the same transaction.
         */
        const exchangeSettled = async (worker: string, outcomes: TaskOutcome[], limit: number) => {
          const first = await dispatch.exchange(worker, outcomes, limit, 30_000);
          if (!underTest.settle || first.length >= limit) return first;
          await settle();
          return [...first, ...(await dispatch.exchange(worker, [], limit - first.length, 30_000))];
        };
        await body({ store, dispatch, principal, settle, exchangeSettled });
      } finally {
        await underTest.close?.();
        await store.close();
      }
    });

  describe(name, () => {
    dispatchTest(
      'hands a ready task to exactly one of the workers asking at once',
      async ({ store, dispatch, principal, settle }) => {
        const experiment = await launch(store, principal);
        await settle();
        const claims = await Promise.all(
          ['worker-a', 'worker-b', 'worker-c'].map((worker) => dispatch.exchange(worker, [], 4, 30_000)),
        );
        const claimed = claims.flat();
        assert.equal(claimed.length, 1, 'one launched experiment has one ready task, claimed once');
        assert.deepEqual(
          { experimentId: claimed[0]!.experimentId, kind: claimed[0]!.kind, attempt: claimed[0]!.attempt },
          { experimentId: experiment.id, kind: 'env-setup', attempt: 1 },
        );
        const detail = await getExperiment(store, principal, experiment.id);
        assert.equal(detail.state, 'executing', 'the first claim starts the experiment');
      },
    );

    dispatchTest(
      'never hands out more tasks than the limit asks for',
      async ({ store, dispatch, principal, settle }) => {
        for (let index = 0; index < 5; index += 1) await launch(store, principal);
        await settle();
        assert.deepEqual(await dispatch.exchange('worker-a', [], 0, 30_000), [], 'a limit of 0 claims nothing');
        const first = await dispatch.exchange('worker-a', [], 2, 30_000);
        const second = await dispatch.exchange('worker-b', [], 10, 30_000);
        assert.equal(first.length, 2);
        assert.equal(second.length, 3, 'the rest, and no task twice');
        const ids = new Set([...first, ...second].map((task) => task.id));
        assert.equal(ids.size, 5);
        assert.deepEqual(await dispatch.exchange('worker-c', [], 10, 30_000), [], 'nothing is left');
      },
    );

    dispatchTest(
      'outcomes reported through exchange carry an experiment to completed',
      async ({ store, principal, settle, exchangeSettled }) => {
        const experiment = await launch(store, principal);
        await settle();
        const ran: string[] = [];
        let outcomes: TaskOutcome[] = [];
        // Each exchange reports the last step's outcome and claims the step it made ready.
        for (let round = 0; round <= experimentDag.length; round += 1) {
          const claimed: ClaimedTask[] = await exchangeSettled('worker-a', outcomes, 4);
          ran.push(...claimed.map((task) => task.kind));
          outcomes = claimed.map((task) => ({ taskId: task.id, outcome: 'completed', result: { round } }));
          if (claimed.length === 0) break;
        }
        assert.deepEqual(
          ran,
          experimentDag.map((step) => step.kind),
          'every step once, in order',
        );
        await assertCompletedOnce(store, principal, experiment.id);
      },
    );

    dispatchTest(
      'a failed outcome that may not be retried fails the experiment',
      async ({ store, dispatch, principal, settle }) => {
        const experiment = await launch(store, principal);
        await settle();
        const [task] = await dispatch.exchange('worker-a', [], 1, 30_000);
        const failure = { code: 'not-permitted' as const, message: 'no', retryable: false };
        assert.deepEqual(
          await dispatch.exchange('worker-a', [{ taskId: task!.id, outcome: 'failed', failure }], 1, 30_000),
          [],
        );
        const detail = await getExperiment(store, principal, experiment.id);
        assert.equal(detail.state, 'failed');
        assert.equal(detail.tasks.find((step) => step.kind === 'env-setup')!.state, 'failed');
      },
    );

    dispatchTest(
      'a worker that lost its lease keeps nothing: renew says so and its outcome is dropped',
      async ({ store, dispatch, principal, settle, exchangeSettled }) => {
        const experiment = await launch(store, principal);
        await settle();
        const [first] = await dispatch.exchange('worker-a', [], 1, 30_000);
        assert.deepEqual(await dispatch.renew('worker-a', [first!.id], 30_000), [first!.id], 'a held lease renews');
        assert.deepEqual(await dispatch.renew('worker-b', [first!.id], 30_000), [], 'another worker cannot renew it');
        await dispatch.renew('worker-a', [first!.id], 1); // the lease runs out, as when a worker stops
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The controller's lease recovery (a state function, whatever the adapter) makes it ready again.
        assert.equal(await store.transaction((tx) => recoverExpiredLeases(tx)), 1);
        await settle();
        const [again] = await dispatch.exchange('worker-b', [], 1, 30_000);
        assert.equal(again!.id, first!.id);
        assert.equal(again!.attempt, 2);
        assert.deepEqual(
          await dispatch.renew('worker-a', [first!.id], 30_000),
          [],
          'the first worker holds it no more',
        );
        await dispatch.exchange('worker-a', [{ taskId: first!.id, outcome: 'completed' }], 0, 30_000);
        const afterLate = await getExperiment(store, principal, experiment.id);
        assert.equal(
          afterLate.tasks.find((task) => task.id === first!.id)!.state,
          'running',
          'the late outcome changed nothing',
        );
        const next = await exchangeSettled('worker-b', [{ taskId: again!.id, outcome: 'completed' }], 1);
        assert.deepEqual(
          next.map((task) => task.kind),
          ['stage-in'],
        );
      },
    );

    // A pipelining worker has several exchanges in flight at once; what each may race with.

    dispatchTest(
      'exchanges in flight together from one worker never hand out a task twice',
      async ({ store, dispatch, principal, settle }) => {
        for (let index = 0; index < 6; index += 1) await launch(store, principal);
        await settle();
        const claims = await Promise.all([1, 2, 3].map(() => dispatch.exchange('worker-a', [], 4, 30_000)));
        const ids = claims.flat().map((task) => task.id);
        assert.equal(ids.length, 6, 'every ready task is handed out');
        assert.equal(new Set(ids).size, 6, 'none twice');
      },
    );

    dispatchTest(
      'the same outcome in two exchanges in flight at once is applied once',
      async ({ store, dispatch, principal, settle }) => {
        const experiment = await launch(store, principal);
        await settle();
        const [task] = await dispatch.exchange('worker-a', [], 1, 30_000);
        const outcome: TaskOutcome = { taskId: task!.id, outcome: 'completed' };
        const claims = await Promise.all([
          dispatch.exchange('worker-a', [outcome], 1, 30_000),
          dispatch.exchange('worker-a', [outcome], 1, 30_000),
        ]);
        await settle();
        claims.push(await dispatch.exchange('worker-a', [], 1, 30_000));
        assert.deepEqual(
          claims.flat().map((claimed) => claimed.kind),
          ['stage-in'],
          'the successor became ready once and was claimed once',
        );
        const events = await listEvents(store, experiment.id);
        const transitionsOf = (entityId: number) =>
          events
            .filter((event) => event.entity === 'task' && event.entityId === String(entityId))
            .map((event) => `${event.fromState} -> ${event.toState}`);
        assert.deepEqual(transitionsOf(task!.id), ['null -> ready', 'ready -> running', 'running -> completed']);
        assert.deepEqual(transitionsOf(claims.flat()[0]!.id), ['pending -> ready', 'ready -> running']);
        assertGapless(events);
      },
    );

    dispatchTest(
      'a renewal racing the exchange that reports its task neither revives nor loses it',
      async ({ store, dispatch, principal, settle }) => {
        const experiment = await launch(store, principal);
        await settle();
        const [task] = await dispatch.exchange('worker-a', [], 1, 30_000);
        const [claimedFirst, renewed] = await Promise.all([
          dispatch.exchange('worker-a', [{ taskId: task!.id, outcome: 'completed' }], 1, 30_000),
          dispatch.renew('worker-a', [task!.id], 30_000),
        ]);
        assert.ok(renewed.length <= 1, 'renewed before the outcome, or found it no longer running');
        await settle();
        const claimed = [...claimedFirst, ...(await dispatch.exchange('worker-a', [], 1, 30_000))];
        assert.deepEqual(
          claimed.map((next) => next.kind),
          ['stage-in'],
        );
        assert.deepEqual(await dispatch.renew('worker-a', [task!.id], 30_000), [], 'a completed task has no lease');
        const detail = await getExperiment(store, principal, experiment.id);
        const reported = detail.tasks.find((step) => step.id === task!.id)!;
        assert.deepEqual({ state: reported.state, attempt: reported.attempt }, { state: 'completed', attempt: 1 });
      },
    );

    dispatchTest(
      'an outcome in flight when its lease was lost is dropped, and the new holder reports the task once',
      async ({ store, dispatch, principal, settle }) => {
        const experiment = await launch(store, principal);
        await settle();
        const [first] = await dispatch.exchange('worker-a', [], 1, 30_000);
        await dispatch.renew('worker-a', [first!.id], 1); // worker-a stalls: its lease runs out
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(await store.transaction((tx) => recoverExpiredLeases(tx)), 1);
        await settle();
        const [again] = await dispatch.exchange('worker-b', [], 1, 30_000);
        assert.deepEqual({ id: again!.id, attempt: again!.attempt }, { id: first!.id, attempt: 2 });
        // Both report the task at once: worker-a's late outcome and worker-b's.
        const [late, nextFirst] = await Promise.all([
          dispatch.exchange('worker-a', [{ taskId: first!.id, outcome: 'completed' }], 0, 30_000),
          dispatch.exchange('worker-b', [{ taskId: again!.id, outcome: 'completed' }], 1, 30_000),
        ]);
        assert.deepEqual(late, []);
        await settle();
        const next = [...nextFirst, ...(await dispatch.exchange('worker-b', [], 1, 30_000))];
        assert.deepEqual(
          next.map((task) => task.kind),
          ['stage-in'],
        );
        const events = await listEvents(store, experiment.id);
        const completions = events.filter(
          (event) => event.entityId === String(first!.id) && event.toState === 'completed',
        );
        assert.equal(completions.length, 1, 'the task completed once');
        const starts = events.filter((event) => event.entityId === String(first!.id) && event.toState === 'running');
        assert.deepEqual(
          starts.map((event) => event.data),
          [
            { attempt: 1, worker: 'worker-a' },
            { attempt: 2, worker: 'worker-b' },
          ],
        );
      },
    );

    dispatchTest(
      'wakes a listener when a task becomes ready, and stops after unsubscribe',
      async ({ store, dispatch, principal }) => {
        let wakes = 0;
        let wake = () => {};
        const woken = new Promise<void>((resolve) => (wake = resolve));
        const unsubscribe = await dispatch.onReady(() => {
          wakes += 1;
          wake();
        });
        await launch(store, principal);
        await woken;
        assert.ok(wakes >= 1);
        await unsubscribe();
        const before = wakes;
        await launch(store, principal);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(wakes, before, 'no wake after unsubscribe');
      },
    );
  });
}

/**
 * Asserts what a user sees of an experiment whose every task ran once and succeeded: it is
 * completed, each task completed at attempt 1 with its ready, running and completed events
 * stored once, and the events numbered without gaps.
 */
export async function assertCompletedOnce(store: Store, principal: Principal, experimentId: string): Promise<void> {
  const detail = await getExperiment(store, principal, experimentId);
  assert.equal(detail.state, 'completed');
  assert.ok(detail.tasks.every((task) => task.state === 'completed' && task.attempt === 1));
  const events = await listEvents(store, experimentId);
  assertGapless(events);
  for (const task of detail.tasks) {
    assert.deepEqual(
      events
        .filter((event) => event.entity === 'task' && event.entityId === String(task.id))
        .map((event) => event.toState),
      ['ready', 'running', 'completed'],
      `every transition of task ${task.id} stored once`,
    );
  }
}

function assertGapless(events: EventRecord[]): void {
  assert.deepEqual(
    events.map((event) => event.seq),
    events.map((_, index) => index + 1),
    'the events are gapless',
  );
}

interface Fixture {
  store: Store;
  dispatch: Dispatch;
  principal: Principal;
  /** DispatchUnderTest.settle, or nothing to wait for. */
  settle: () => Promise<void>;
  exchangeSettled: (worker: string, outcomes: TaskOutcome[], limit: number) => Promise<ClaimedTask[]>;
}
