/**
 * The claim: how the Postgres queue hands ready tasks to workers. Ready tasks are taken
 * with `FOR UPDATE SKIP LOCKED` under a lease, and a worker's exchange (its outcomes, then
 * its next claim) is one transaction whose events are written in one statement at the end.
 * It lives in state/ beside the other task transitions (ready -> running is one of them)
 * rather than in dispatch/: it writes tasks, experiments and events under the same locks
 * and numbering as task-state.ts, experiment-state.ts and events.ts, and must change with them.
 */
import type { ClaimedTask, TaskKind, TaskOutcome } from '../domain/task.ts';
import type { Queryable } from '../store/port.ts';
import {
  admissionChannel,
  admissionNotices,
  encodeEvents,
  eventRecordset,
  eventsChannel,
  type NewEvent,
  type Notice,
} from './events.ts';
import { claimStart, settlementSql } from './experiment-state.ts';
import { applyOutcomesInto, recoverLeases } from './task-state.ts';
import { queueDeliveriesSql } from './notification-outbox.ts';

/**
 * Claims up to `limit` ready tasks for `workerId` with a lease of `leaseMs`, skipping rows
 * other workers hold. Moves their experiments from queued to executing. One statement, so
 * it may also run on the store outside a transaction.
 *
 * Only tasks the worker may run are claimed: its `workers` row (state/worker-state.ts)
 * must be `active`, list the task's kind, and reach the experiment's resource
 * (domain/worker.ts `mayRun`, the same rule). A worker that never registered (a benchmark's,
 * a test's, an older Drover's during an upgrade) claims any task; one that is stopping,
 * stopped or lost claims none.
 */
export async function claimTasks(
  tx: Queryable,
  workerId: string,
  limit: number,
  leaseMs: number,
): Promise<ClaimedTask[]> {
  return claimTasksAndAppend(tx, workerId, limit, leaseMs, [], [], []);
}

/**
 * A worker's exchange with the queue, in the caller's transaction: applies its outcomes
 * (as applyOutcomes), then claims up to `limit` ready tasks (as claimTasks, so a successor
 * made ready by an outcome can be claimed at once). The experiments whose last task
 * finished are settled in the claim statement, and the events of all are numbered in the
 * order the calls would have numbered them, and written with the claim: two statements
 * for a batch of completions, whatever it settles.
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
  const settle: string[] = [];
  await applyOutcomesInto(tx, { workerId }, outcomes, events, notices, settle);
  return claimTasksAndAppend(tx, workerId, limit, leaseMs, events, notices, settle);
}

/** What exchangeNamedTasks did with the tasks it was asked to claim. */
export interface NamedClaim {
  /** The tasks now running under the worker's lease. */
  claimed: ClaimedTask[];
  /** Asked-for ids of no task at all (a poison message). The others not claimed were no longer ready. */
  unknown: number[];
  /**
   * Asked-for tasks still ready but not claimed: the claim refused them to this worker (none
   * today; a claim that checks what the worker can run would). Their messages must go back.
   */
  refused: number[];
  /** Tasks of `takeOver` that failed for good: out of attempts, their workers kept dying (a poison task). */
  exhausted: number[];
}

/**
 * exchangeTasks for a queue that names the tasks to claim (the RabbitMQ queue: one task
 * per message): applies `outcomes`, then claims the tasks of `messages` that are still ready,
 * whatever their priority or run_at, recording on each the message that started its attempt
 * (waiting for a row another transaction holds rather than skipping it). Before that, the tasks of `takeOver` still running the attempt
 * their message started (the message came back, so the worker holding it lost its
 * connection or died) go back to ready as an expired lease would, counting the attempt
 * (a task out of attempts fails), so that they can be claimed here at once.
 */
export async function exchangeNamedTasks(
  tx: Queryable,
  workerId: string,
  outcomes: TaskOutcome[],
  messages: Array<{ taskId: number; messageId: number }>,
  takeOver: Array<{ taskId: number; messageId: number }>,
  leaseMs: number,
): Promise<NamedClaim> {
  const recovered =
    takeOver.length > 0
      ? await recoverLeases(tx, {
          startedBy: takeOver,
          message: 'the worker running this task lost its connection to the queue (its message came back)',
        })
      : [];
  const events: NewEvent[] = [];
  const notices: Notice[] = [];
  const settle: string[] = [];
  await applyOutcomesInto(tx, { workerId }, outcomes, events, notices, settle);
  const taskIds = [...new Set(messages.map((message) => message.taskId))];
  const claimed =
    taskIds.length > 0 || events.length > 0 || notices.length > 0 || settle.length > 0
      ? await claimTasksAndAppend(tx, workerId, taskIds.length, leaseMs, events, notices, settle, messages)
      : [];
  let unknown: number[] = [];
  let refused: number[] = [];
  if (claimed.length < taskIds.length) {
    const claimedIds = new Set(claimed.map((task) => task.id));
    const found = await tx.query<{ id: number; state: string }>(
      'select id, state from tasks where id = any($1::int8[])',
      [taskIds.filter((id) => !claimedIds.has(id))],
    );
    const known = new Set(found.map((row) => row.id));
    unknown = taskIds.filter((id) => !known.has(id) && !claimedIds.has(id));
    refused = found.filter((row) => row.state === 'ready').map((row) => row.id);
  }
  return { claimed, unknown, refused, exhausted: recovered.filter((task) => task.failed).map((task) => task.id) };
}

/**
 * claimTasks, appending `earlier` events of the transaction, settling the experiments
 * `settle` (locked by the caller's transaction, as settleExperiments would) and sending
 * `notices` in the same statement. The statement makes the moves that experiment-state.ts
 * (the experiment's owner) defines, `claimStart` and settlement (`settlementSql`), as
 * moveExperiments would, and appends the events as appendEvents would, in one update of
 * each experiment row (a statement may not update a row twice; more statements would cost
 * an exchange round trips): lock the experiments in id order; settle those of `settle`
 * whose tasks have all finished; move those of claimed tasks that are queued (never one
 * that settles: it has an open task); bump `last_event_seq` by the experiment's number of
 * events; insert the events numbered from there: the earlier ones, then the settlement,
 * then the experiment's move, then its claimed tasks; queue the notification deliveries of
 * the starts and ends among them (queueDeliveriesSql); announce the experiments on
 * `eventsChannel`.
 */
async function claimTasksAndAppend(
  tx: Queryable,
  workerId: string,
  limit: number,
  leaseMs: number,
  earlier: NewEvent[],
  notices: Notice[],
  settle: string[],
  named?: Array<{ taskId: number; messageId: number }>,
): Promise<ClaimedTask[]> {
  const announced = [...notices, ...admissionNotices(earlier)];
  // The joins to tasks and experiments go through `= any(array(...))` so that they use the
  // primary keys: as a prepared statement its plan is generic, made for an unknown `limit`
  // (estimated at a tenth of the table), which otherwise chooses to scan whole tables.
  // $1 limit, $2 worker, $3 lease in ms, $4 earlier events (encodeEvents), $5 their
  // experiment ids, $6 how many, $7 channels and $8 payloads of notices, $9 eventsChannel,
  // $10 ids of experiments to settle, $11 admissionChannel (announced when one settles),
  // $12, $13 (named claims only) the ids of the tasks to claim and of the messages naming them
  const rows = await tx.query<{
    id: number | null;
    experiment_id: string;
    kind: TaskKind;
    attempt: number;
    max_attempts: number;
    run_first_attempt: number;
  }>(
    // Only tasks the claiming worker may run: of its kinds, on resources it reaches (its
    // `workers` row, domain/worker.ts mayRun); a worker without a row claims any.
    `with picked as (
       select t.id from tasks t left join workers w on w.id = $2
       where ${
         named
           ? // The tasks a message named (the RabbitMQ queue): those still ready, whenever due (the
             // relay published them when due). Waits for a row another transaction holds, then
             // checks it again, rather than skip a task that stays ready.
             `t.id = any($12::int8[]) and t.state = 'ready'`
           : `t.state = 'ready' and t.run_at <= now()`
       }
         and (w.id is null or (w.state = 'active' and t.kind = any(w.kinds)
           and (w.resources is null or exists (
             select 1 from experiments x where x.id = t.experiment_id
               and (x.resource = any(w.resources) or x.gateway_id || '/' || x.resource = any(w.resources))))))
       order by ${named ? 't.id' : 't.priority desc, t.id'} limit $1 for update of t${named ? '' : ' skip locked'}),
     claimed as (
       update tasks t set state = 'running', attempt = t.attempt + 1, lease_owner = $2,
         lease_expires_at = now() + $3 * interval '1 millisecond', started_at = now(), detached = false${
           named
             ? `,
         dispatch_message = (select m.message from unnest($12::int8[], $13::int8[]) as m(id, message) where m.id = t.id limit 1)`
             : ''
         }
       where t.id = any(array(select id from picked))
       returning t.id, t.experiment_id, t.kind, t.attempt, t.max_attempts, t.run_first_attempt),
     locked as (
       select e.id, e.state from experiments e
       where e.id = any(array(select unnest($5::uuid[]) union select unnest($10::uuid[]) union select experiment_id from claimed))
       order by e.id for update),
     settled as (${settlementSql('(select id, state from locked where id = any($10::uuid[]))')}),
     started as (
       select l.id from locked l where l.state = ${claimStart.from} and l.id in (select experiment_id from claimed)),
     input as (
       select ord, experiment_id, entity, entity_id, label, from_state, to_state, message, data from ${eventRecordset('$4')}
       union all
       select $6::int, st.id, 'experiment', st.id::text, null, st.previous, st.target, st.failure ->> 'message', null
       from settled st
       union all
       select $6::int + 1, s.id, 'experiment', s.id::text, null, ${claimStart.from}, ${claimStart.to}, null, null from started s
       union all
       select $6::int + 1 + (row_number() over (order by c.id))::int, c.experiment_id, 'task', c.id::text, c.kind, 'ready', 'running', null,
         jsonb_build_object('attempt', c.attempt, 'worker', $2::text)
       from claimed c),
     counts as (select experiment_id, count(*)::int as n from input group by experiment_id),
     bumped as (
       update experiments e set last_event_seq = e.last_event_seq + c.n,
         state = case when st.id is not null then st.target when s.id is not null then ${claimStart.to} else e.state end,
         updated_at = case when s.id is null and st.id is null then e.updated_at else now() end,
         failure = coalesce(st.failure, e.failure),
         finished_at = case when st.id is null then e.finished_at else now() end,
         state_before_block = case when s.id is null and st.id is null then e.state_before_block end,
         blocked_reason = case when s.id is null and st.id is null then e.blocked_reason end,
         blocked_until = case when s.id is null and st.id is null then e.blocked_until end
       from locked l join counts c on c.experiment_id = l.id left join started s on s.id = l.id
         left join settled st on st.id = l.id
       where e.id = any(array(select id from locked)) and e.id = l.id
       returning e.id, e.last_event_seq - c.n as base),
     inserted as (
       insert into events (experiment_id, seq, entity, entity_id, label, from_state, to_state, message, data)
       select i.experiment_id, b.base + row_number() over (partition by i.experiment_id order by i.ord),
         i.entity, i.entity_id, i.label, i.from_state, i.to_state, i.message, i.data
       from input i join bumped b on b.id = i.experiment_id
       returning experiment_id, seq, entity, from_state, to_state, at),
     notified as (${queueDeliveriesSql('inserted')}),
     notices as (
       select n.channel, n.payload from unnest($7::text[], $8::text[]) as n(channel, payload)
       union all
       select $9::text, string_agg(experiment_id::text, ',' order by experiment_id)
       from (select experiment_id, (row_number() over (order by experiment_id) - 1) / 100 as chunk from counts) ids
       group by chunk
       union all
       -- An experiment that ended frees its place: admission looks again (admissionChannel).
       select $11::text, '' where exists (select 1 from settled))
     select id, experiment_id, kind, attempt, max_attempts, run_first_attempt from claimed
     union all
     select null, null, null, null, count(*)::int, null from (select pg_notify(channel, payload) from notices) sent`,
    [
      limit,
      workerId,
      leaseMs,
      encodeEvents(earlier),
      [...new Set(earlier.map((event) => event.experimentId))],
      earlier.length,
      announced.map((notice) => notice.channel),
      announced.map((notice) => notice.payload),
      eventsChannel,
      settle,
      admissionChannel,
      ...(named ? [named.map((message) => message.taskId), named.map((message) => message.messageId)] : []),
    ],
    { prepared: true },
  );
  return rows
    .filter((row) => row.id !== null)
    .map((row) => ({
      id: row.id!,
      experimentId: row.experiment_id,
      kind: row.kind,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
      runFirstAttempt: row.run_first_attempt,
    }));
}

/** Extends the leases of tasks `workerId` still runs; returns the ids it still holds. */
export async function renewLeases(
  tx: Queryable,
  workerId: string,
  taskIds: number[],
  leaseMs: number,
): Promise<number[]> {
  if (taskIds.length === 0) return [];
  const rows = await tx.query<{ id: number }>(
    `update tasks set lease_expires_at = now() + $3 * interval '1 millisecond'
     where id = any($1::int8[]) and state = 'running' and lease_owner = $2 and not detached returning id`,
    [taskIds, workerId, leaseMs],
    { prepared: true },
  );
  return rows.map((row) => row.id);
}
