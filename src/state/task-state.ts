/**
 * Task transitions, set-based so that a batch of claims or outcomes costs one transaction.
 * Every statement is guarded by the states domain/task.ts allows; every transition
 * appends its event in the same transaction; finishing the last task finishes the
 * experiment. A worker's exchange (outcomes, then the next claim) collects its events and
 * notifications and writes them in one statement at the end.
 */
import { retryDelayMs, unreachableFailureCode, type TaskFailure, type TaskKind, type TaskState } from '../domain/task.ts';
import type { ExperimentState } from '../domain/experiment.ts';
import type { Queryable } from '../store/port.ts';
import { appendEvents, encodeEvents, eventRecordset, eventsChannel, type NewEvent, type Notice } from './events.ts';
import { blockExperiments, moveExperiments, type ExperimentMoveRequest } from './experiment-state.ts';

/** Channel on which "some task became ready" is announced, to wake idle workers. */
export const readyChannel = 'drover_ready';

/** A task as a worker receives it. */
export interface ClaimedTask {
  id: number;
  experimentId: string;
  kind: TaskKind;
  attempt: number;
  maxAttempts: number;
}

/** What became of one claimed task. */
export type TaskOutcome =
  | { taskId: number; outcome: 'completed'; result?: unknown }
  | { taskId: number; outcome: 'failed'; failure: TaskFailure }
  /** The task stays running without a lease until the controller completes it (monitor). */
  | { taskId: number; outcome: 'detached' };

/** One node to create: its kind and the kinds (within the same experiment) it waits for. */
export interface TaskPlan {
  kind: TaskKind;
  dependsOn: TaskKind[];
  maxAttempts?: number;
}

/**
 * Creates an experiment's task DAG: roots `ready`, the rest `pending` with their
 * dependency count. Wakes workers at commit.
 */
export async function createTasks(tx: Queryable, experimentId: string, plan: readonly TaskPlan[], priority = 0): Promise<void> {
  // $1 experiment, $2 kinds, $3 dependency counts, $4 max attempts, $5 priority
  const created = await tx.query<{ id: number; kind: TaskKind; state: TaskState }>(
    `insert into tasks (experiment_id, kind, state, pending_dependencies, max_attempts, priority)
     select $1, kind, case when deps = 0 then 'ready' else 'pending' end, deps, attempts, $5
     from unnest($2::text[], $3::int[], $4::int[]) as x(kind, deps, attempts)
     returning id, kind, state`,
    [experimentId, plan.map((node) => node.kind), plan.map((node) => node.dependsOn.length), plan.map((node) => node.maxAttempts ?? 3), priority],
  );
  const idOf = new Map(created.map((task) => [task.kind, task.id]));
  const edges = plan.flatMap((node) => node.dependsOn.map((dependency) => [idOf.get(node.kind)!, idOf.get(dependency)!]));
  if (edges.length > 0) {
    await tx.query(
      `insert into task_dependencies (task_id, depends_on) select * from unnest($1::int8[], $2::int8[])`,
      [edges.map((edge) => edge[0]), edges.map((edge) => edge[1])],
    );
  }
  const ready = created.filter((task) => task.state === 'ready');
  await appendEvents(
    tx,
    ready.map((task) => taskEvent(experimentId, task.id, task.kind, null, 'ready')),
    ready.length > 0 ? [{ channel: readyChannel, payload: String(ready.length) }] : [],
  );
}

/**
 * Claims up to `limit` ready tasks for `workerId` with a lease of `leaseMs`, skipping rows
 * other workers hold. Moves their experiments from queued to executing. One statement, so
 * it may also run on the store outside a transaction.
 */
export async function claimTasks(tx: Queryable, workerId: string, limit: number, leaseMs: number): Promise<ClaimedTask[]> {
  return claimTasksAndAppend(tx, workerId, limit, leaseMs, [], []);
}

/**
 * A worker's exchange with the queue, in the caller's transaction: applies its outcomes
 * (as applyOutcomes), then claims up to `limit` ready tasks (as claimTasks, so a successor
 * made ready by an outcome can be claimed at once). The events of both are numbered in
 * the order the two calls would have numbered them, and written with the claim.
 */
export async function exchangeTasks(
  tx: Queryable,
  workerId: string,
  outcomes: TaskOutcome[],
  limit: number,
  leaseMs: number,
): Promise<ClaimedTask[]> {
  const events: NewEvent[] = [];
  const notices: Notice[] = [];
  await applyOutcomesInto(tx, { workerId }, outcomes, events, notices);
  return claimTasksAndAppend(tx, workerId, limit, leaseMs, events, notices);
}

/**
 * claimTasks, appending `earlier` events of the transaction and sending `notices` in the
 * same statement. The statement does what moveExperiments does for the queued -> executing
 * move and what appendEvents does for the events, in one update of each experiment row
 * (a statement may not update a row twice): lock the experiments in id order; move those
 * of claimed tasks that are queued; bump `last_event_seq` by the experiment's number of
 * events; insert the events numbered from there: the earlier ones, then the experiment's
 * move, then its claimed tasks; announce the experiments on `eventsChannel`.
 */
async function claimTasksAndAppend(
  tx: Queryable,
  workerId: string,
  limit: number,
  leaseMs: number,
  earlier: NewEvent[],
  notices: Notice[],
): Promise<ClaimedTask[]> {
  // $1 limit, $2 worker, $3 lease in ms, $4 earlier events (encodeEvents), $5 their
  // experiment ids, $6 how many, $7 channels and $8 payloads of notices, $9 eventsChannel
  const rows = await tx.query<{ id: number | null; experiment_id: string; kind: TaskKind; attempt: number; max_attempts: number }>(
    `with picked as (
       select id from tasks where state = 'ready' and run_at <= now()
       order by priority desc, id limit $1 for update skip locked),
     claimed as (
       update tasks t set state = 'running', attempt = t.attempt + 1, lease_owner = $2,
         lease_expires_at = now() + $3 * interval '1 millisecond', started_at = now(), detached = false
       from picked where t.id = picked.id
       returning t.id, t.experiment_id, t.kind, t.attempt, t.max_attempts),
     locked as (
       select e.id, e.state from experiments e
       where e.id in (select unnest($5::uuid[]) union select experiment_id from claimed)
       order by e.id for update),
     started as (
       select l.id from locked l where l.state = 'queued' and l.id in (select experiment_id from claimed)),
     input as (
       select ord, experiment_id, entity, entity_id, label, from_state, to_state, message, data from ${eventRecordset('$4')}
       union all
       select $6::int, s.id, 'experiment', s.id::text, null, 'queued', 'executing', null, null from started s
       union all
       select $6::int + (row_number() over (order by c.id))::int, c.experiment_id, 'task', c.id::text, c.kind, 'ready', 'running', null,
         jsonb_build_object('attempt', c.attempt, 'worker', $2::text)
       from claimed c),
     counts as (select experiment_id, count(*)::int as n from input group by experiment_id),
     bumped as (
       update experiments e set last_event_seq = e.last_event_seq + c.n,
         state = case when s.id is null then e.state else 'executing' end,
         updated_at = case when s.id is null then e.updated_at else now() end,
         state_before_block = case when s.id is null then e.state_before_block end,
         blocked_reason = case when s.id is null then e.blocked_reason end,
         blocked_until = case when s.id is null then e.blocked_until end
       from locked l join counts c on c.experiment_id = l.id left join started s on s.id = l.id
       where e.id = l.id
       returning e.id, e.last_event_seq - c.n as base),
     inserted as (
       insert into events (experiment_id, seq, entity, entity_id, label, from_state, to_state, message, data)
       select i.experiment_id, b.base + row_number() over (partition by i.experiment_id order by i.ord),
         i.entity, i.entity_id, i.label, i.from_state, i.to_state, i.message, i.data
       from input i join bumped b on b.id = i.experiment_id),
     notices as (
       select n.channel, n.payload from unnest($7::text[], $8::text[]) as n(channel, payload)
       union all
       select $9::text, string_agg(experiment_id::text, ',' order by experiment_id)
       from (select experiment_id, (row_number() over (order by experiment_id) - 1) / 100 as chunk from counts) ids
       group by chunk)
     select id, experiment_id, kind, attempt, max_attempts from claimed
     union all
     select null, null, null, null, count(*)::int from (select pg_notify(channel, payload) from notices) sent`,
    [
      limit,
      workerId,
      leaseMs,
      encodeEvents(earlier),
      [...new Set(earlier.map((event) => event.experimentId))],
      earlier.length,
      notices.map((notice) => notice.channel),
      notices.map((notice) => notice.payload),
      eventsChannel,
    ],
  );
  return rows
    .filter((row) => row.id !== null)
    .map((row) => ({
      id: row.id!,
      experimentId: row.experiment_id,
      kind: row.kind,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
    }));
}

/** Extends the leases of tasks `workerId` still runs; returns the ids it still holds. */
export async function renewLeases(tx: Queryable, workerId: string, taskIds: number[], leaseMs: number): Promise<number[]> {
  if (taskIds.length === 0) return [];
  const rows = await tx.query<{ id: number }>(
    `update tasks set lease_expires_at = now() + $3 * interval '1 millisecond'
     where id = any($1::int8[]) and state = 'running' and lease_owner = $2 and not detached returning id`,
    [taskIds, workerId, leaseMs],
  );
  return rows.map((row) => row.id);
}

/** Who may report an outcome: the worker holding the lease, or the controller for a detached task. */
export type OutcomeReporter = { workerId: string } | { detached: true };

/**
 * Applies a batch of outcomes in the caller's transaction: completed tasks make their
 * successors ready, failed attempts retry after a backoff or fail for good, detached
 * tasks give up their lease. Outcomes for tasks the reporter no longer holds are dropped.
 * Returns the ids whose outcome was applied.
 */
export async function applyOutcomes(tx: Queryable, reporter: OutcomeReporter, outcomes: TaskOutcome[]): Promise<number[]> {
  const events: NewEvent[] = [];
  const notices: Notice[] = [];
  const applied = await applyOutcomesInto(tx, reporter, outcomes, events, notices);
  await appendEvents(tx, events, notices);
  return applied;
}

/** applyOutcomes, with the events and notifications pushed for the caller to write. */
async function applyOutcomesInto(
  tx: Queryable,
  reporter: OutcomeReporter,
  outcomes: TaskOutcome[],
  events: NewEvent[],
  notices: Notice[],
): Promise<number[]> {
  if (outcomes.length === 0) return [];
  const guard =
    'workerId' in reporter
      ? { sql: `state = 'running' and lease_owner = $2 and not detached`, value: reporter.workerId }
      : { sql: `state = 'running' and detached and $2::text is null`, value: null };
  const applied: number[] = [];
  const touched = new Set<string>();
  const completions = outcomes.filter((item) => item.outcome === 'completed');
  const failures = outcomes.filter((item) => item.outcome === 'failed');
  const completedEvents: NewEvent[] = [];
  const readyEvents: NewEvent[] = [];
  // Experiments in which a successor became ready: that task stays open, under our row
  // lock, until we commit, so the experiment cannot finish in this transaction.
  const continuing = new Set<string>();

  if (completions.length > 0 || failures.length > 0) {
    // One statement: complete the tasks, make their successors ready, and lock the
    // experiments that settling below will look at. The events are written at the end of
    // the transaction, so this lock (which appending them used to take first) is what
    // makes a concurrent writer to the same experiment wait, and so what lets the
    // settling see the other's tasks as they are. Without a failure, settling skips the
    // experiments where a successor became ready, so they need no lock yet.
    // $1 completed ids, $2 worker (guard), $3 results as a jsonb object keyed by id,
    // $4 (with failures only) ids of every completed or failed task reported
    const settling =
      failures.length > 0
        ? 'select experiment_id from tasks where id = any($4::int8[])'
        : `select experiment_id from completed except select experiment_id from successors where state = 'ready'`;
    const results = Object.fromEntries(completions.map((item) => [item.taskId, item.result ?? null]));
    const rows = await tx.query<{ step: 'completed' | 'ready' | 'locked'; id: number | null; experiment_id: string; kind: TaskKind | null }>(
      `with completed as (
         update tasks set state = 'completed', finished_at = now(), lease_owner = null, lease_expires_at = null,
           detached = false, result = ($3::jsonb) -> id::text
         where id = any($1::int8[]) and ${guard.sql}
         returning id, experiment_id, kind),
       done as (
         select d.task_id, count(*)::int as n from task_dependencies d
         where d.depends_on in (select id from completed) group by d.task_id),
       successors as (
         update tasks t set pending_dependencies = t.pending_dependencies - done.n,
           state = case when t.pending_dependencies - done.n = 0 then 'ready' else t.state end
         from done where t.id = done.task_id and t.state = 'pending'
         returning t.id, t.experiment_id, t.kind, t.state),
       locked as (
         select e.id from experiments e
         where e.id in (${settling})
         order by e.id for update)
       select 'completed' as step, id, experiment_id, kind from completed
       union all
       select 'ready', id, experiment_id, kind from successors where state = 'ready'
       union all
       select 'locked', null, id, null from locked`,
      [
        completions.map((item) => item.taskId),
        guard.value,
        JSON.stringify(results),
        ...(failures.length > 0 ? [[...completions, ...failures].map((item) => item.taskId)] : []),
      ],
    );
    for (const row of rows) {
      if (row.step === 'completed') {
        applied.push(row.id!);
        touched.add(row.experiment_id);
        completedEvents.push(taskEvent(row.experiment_id, row.id!, row.kind!, 'running', 'completed'));
      } else if (row.step === 'ready') {
        continuing.add(row.experiment_id);
        readyEvents.push(taskEvent(row.experiment_id, row.id!, row.kind!, 'pending', 'ready'));
      }
    }
  }
  events.push(...completedEvents);

  if (failures.length > 0) {
    const byId = new Map(failures.map((item) => [item.taskId, item.failure]));
    const rows = await tx.query<{ id: number; experiment_id: string; kind: TaskKind; attempt: number; max_attempts: number }>(
      `select id, experiment_id, kind, attempt, max_attempts from tasks
       where id = any($1::int8[]) and ${guard.sql} order by id for update`,
      [failures.map((item) => item.taskId), guard.value],
    );
    // An unreachable resource is nobody's fault: its tasks wait (blocked) as long as it takes.
    const retries = rows.filter((row) => {
      const failure = byId.get(row.id)!;
      return failure.retryable && (row.attempt < row.max_attempts || failure.code === unreachableFailureCode);
    });
    const final = rows.filter((row) => !retries.includes(row));
    await failOrRetry(tx, retries, final, byId, events);
    for (const row of rows) {
      applied.push(row.id);
      touched.add(row.experiment_id);
    }
  }

  const detaches = outcomes.filter((item) => item.outcome === 'detached');
  if (detaches.length > 0 && 'workerId' in reporter) {
    const rows = await tx.query<{ id: number }>(
      `update tasks set detached = true, lease_owner = null, lease_expires_at = null
       where id = any($1::int8[]) and ${guard.sql} returning id`,
      [detaches.map((item) => item.taskId), guard.value],
    );
    applied.push(...rows.map((row) => row.id));
  }

  events.push(...readyEvents);
  if (readyEvents.length > 0) notices.push({ channel: readyChannel, payload: String(readyEvents.length) });
  // Without a failure in the batch, no task of these experiments can need skipping: a
  // task fails only in a transaction that skips its experiment's waiting tasks under the
  // experiment's lock, which we now hold. And an experiment with a successor made ready
  // above still has an open task. So only the rest can finish, and settling skips nothing.
  const settle = failures.length > 0 ? [...touched] : [...touched].filter((experimentId) => !continuing.has(experimentId));
  await settleExperiments(tx, settle, failures.length > 0, events);
  return applied;
}

/**
 * Returns running tasks whose lease expired (their worker died) to `ready`, counting the
 * attempt; tasks out of attempts fail. Returns how many were recovered.
 */
export async function recoverExpiredLeases(tx: Queryable, limit = 500): Promise<number> {
  const rows = await tx.query<{ id: number; experiment_id: string; kind: TaskKind; attempt: number; max_attempts: number }>(
    `select id, experiment_id, kind, attempt, max_attempts from tasks
     where state = 'running' and not detached and lease_expires_at < now()
     order by id limit $1 for update skip locked`,
    [limit],
  );
  if (rows.length === 0) return 0;
  const failure: TaskFailure = { code: 'lease-expired', message: 'the worker running this task stopped renewing its lease', retryable: true };
  const byId = new Map(rows.map((row) => [row.id, failure]));
  const events: NewEvent[] = [];
  const retries = rows.filter((row) => row.attempt < row.max_attempts);
  await failOrRetry(tx, retries, rows.filter((row) => !retries.includes(row)), byId, events, true);
  await appendEvents(tx, events);
  await finishExperiments(tx, [...new Set(rows.map((row) => row.experiment_id))]);
  return rows.length;
}

/**
 * Cancels an experiment's tasks that have not started (pending, ready). Running tasks
 * finish or are canceled when their job is; the experiment then becomes `canceled`.
 * A submit waiting for its retry is left to run it: an earlier attempt may have made a job
 * (its worker died during sbatch/qsub), and the retry records that job, so it is canceled.
 */
export async function cancelOpenTasks(tx: Queryable, experimentId: string): Promise<void> {
  const rows = await tx.query<{ id: number; kind: TaskKind; previous: TaskState }>(
    `update tasks t set state = 'canceled', finished_at = now()
     from (select id, state as previous from tasks where experiment_id = $1 and state in ('pending', 'ready')
             and not (kind = 'submit' and attempt > 0) for update) old
     where t.id = old.id returning t.id, t.kind, old.previous`,
    [experimentId],
  );
  await appendEvents(tx, rows.map((row) => taskEvent(experimentId, row.id, row.kind, row.previous, 'canceled')));
}

/** Cancels a detached (monitor) task whose job was canceled. */
export async function cancelDetachedTasks(tx: Queryable, taskIds: number[]): Promise<void> {
  if (taskIds.length === 0) return;
  const rows = await tx.query<{ id: number; experiment_id: string; kind: TaskKind }>(
    `update tasks set state = 'canceled', finished_at = now(), detached = false
     where id = any($1::int8[]) and state = 'running' returning id, experiment_id, kind`,
    [taskIds],
  );
  await appendEvents(tx, rows.map((row) => taskEvent(row.experiment_id, row.id, row.kind, 'running', 'canceled')));
  await finishExperiments(tx, [...new Set(rows.map((row) => row.experiment_id))]);
}

async function failOrRetry(
  tx: Queryable,
  retries: Array<{ id: number; experiment_id: string; kind: TaskKind; attempt: number }>,
  final: Array<{ id: number; experiment_id: string; kind: TaskKind; attempt: number }>,
  failureOf: Map<number, TaskFailure>,
  events: NewEvent[],
  immediate = false,
): Promise<void> {
  if (retries.length > 0) {
    const delays = retries.map((row) => (immediate ? 0 : retryDelayMs(row.attempt)));
    await tx.query(
      `update tasks t set state = 'ready', lease_owner = null, lease_expires_at = null,
         run_at = now() + x.delay * interval '1 millisecond', failure = x.failure
       from unnest($1::int8[], $2::int[], $3::jsonb[]) as x(id, delay, failure) where t.id = x.id`,
      [retries.map((row) => row.id), delays, retries.map((row) => JSON.stringify(failureOf.get(row.id)))],
    );
    retries.forEach((row, index) => {
      const failure = failureOf.get(row.id)!;
      events.push(taskEvent(row.experiment_id, row.id, row.kind, 'running', 'ready', `attempt ${row.attempt} failed (${failure.message}); retrying in ${Math.round(delays[index] / 1000)} s`, { attempt: row.attempt, failure }));
    });
    for (const [index, row] of retries.entries()) {
      const failure = failureOf.get(row.id)!;
      if (failure.code !== unreachableFailureCode) continue;
      await blockExperiments(tx, [row.experiment_id], { reason: failure.message, nextTryAt: new Date(Date.now() + delays[index]) }, events);
    }
  }
  if (final.length > 0) {
    await tx.query(
      `update tasks t set state = 'failed', finished_at = now(), lease_owner = null, lease_expires_at = null, failure = x.failure
       from unnest($1::int8[], $2::jsonb[]) as x(id, failure) where t.id = x.id`,
      [final.map((row) => row.id), final.map((row) => JSON.stringify(failureOf.get(row.id)))],
    );
    for (const row of final) {
      const failure = failureOf.get(row.id)!;
      events.push(taskEvent(row.experiment_id, row.id, row.kind, 'running', 'failed', failure.message, { attempt: row.attempt, failure }));
    }
  }
}

/**
 * Settles experiments whose tasks are all finished: completed, failed (a task failed or
 * the job did not succeed) or canceled (once its job, if any, has ended too). A failed
 * task skips the tasks still waiting.
 */
export async function finishExperiments(tx: Queryable, experimentIds: string[]): Promise<void> {
  await settleExperiments(tx, experimentIds, true);
}

/**
 * finishExperiments; `skipWaiting` false leaves out skipping the waiting tasks of
 * experiments with a failed task (for callers that know there are none). With `pending`,
 * events are pushed there for the caller to append later in the same transaction.
 */
async function settleExperiments(tx: Queryable, experimentIds: string[], skipWaiting: boolean, pending?: NewEvent[]): Promise<void> {
  if (experimentIds.length === 0) return;
  if (skipWaiting) {
    const skipped = await tx.query<{ id: number; experiment_id: string; kind: TaskKind; previous: TaskState }>(
      `update tasks t set state = 'skipped', finished_at = now()
       from (select id, state as previous from tasks w
             where w.experiment_id = any($1::uuid[]) and w.state in ('pending', 'ready')
               and exists (select 1 from tasks f where f.experiment_id = w.experiment_id and f.state = 'failed')
             for update) old
       where t.id = old.id returning t.id, t.experiment_id, t.kind, old.previous`,
      [experimentIds],
    );
    const events = skipped.map((row) => taskEvent(row.experiment_id, row.id, row.kind, row.previous, 'skipped', 'an earlier task failed'));
    if (pending) pending.push(...events);
    else await appendEvents(tx, events);
  }
  const rows = await tx.query<{
    id: string;
    state: ExperimentState;
    failure: TaskFailure | null;
    job_state: string | null;
    exit_code: number | null;
  }>(
    `select e.id, e.state,
       (select f.failure from tasks f where f.experiment_id = e.id and f.state = 'failed' order by f.id limit 1) as failure,
       j.state as job_state, j.exit_code
     from experiments e
     left join lateral (select state, exit_code from jobs where experiment_id = e.id order by id desc limit 1) j on true
     where e.id = any($1::uuid[]) and e.state in ('queued', 'executing', 'blocked', 'canceling')
       and not exists (select 1 from tasks o where o.experiment_id = e.id and o.state in ('pending', 'ready', 'running'))
       -- A canceling experiment ends once its job is dead too (a retried submit may record one late).
       and not (e.state = 'canceling' and coalesce(j.state in ('submitting', 'queued', 'running'), false))`,
    [experimentIds],
  );
  const moves: ExperimentMoveRequest[] = rows.map((row) => {
    const experimentId = row.id;
    if (row.state === 'canceling' || row.job_state === 'canceled') return { experimentId, to: 'canceled' };
    if (row.failure) return { experimentId, to: 'failed', failure: { code: row.failure.code, message: row.failure.message } };
    switch (row.job_state) {
      case 'failed':
        return { experimentId, to: 'failed', failure: { code: 'job-failed', message: `the job exited with code ${row.exit_code}` } };
      case 'timed-out':
        return { experimentId, to: 'failed', failure: { code: 'job-timed-out', message: 'the job ran past its walltime and was stopped' } };
      case 'lost':
        return { experimentId, to: 'failed', failure: { code: 'job-lost', message: 'the job vanished from its resource without an exit code' } };
      default:
        return { experimentId, to: 'completed' };
    }
  });
  await moveExperiments(tx, moves, pending);
}

function taskEvent(
  experimentId: string,
  taskId: number,
  kind: TaskKind,
  fromState: TaskState | null,
  toState: TaskState,
  message?: string,
  data?: unknown,
): NewEvent {
  return { experimentId, entity: 'task', entityId: String(taskId), label: kind, fromState, toState, message, data };
}
