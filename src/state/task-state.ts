/**
 * Task transitions, set-based so that a batch of outcomes costs one transaction. Every
 * statement is guarded by the states the table in domain/task.ts allows (task.test.ts
 * checks each guard against it); every transition appends its event in the same
 * transaction; finishing the last task settles the experiment (settleExperiments, in
 * experiment-state.ts). The claim, ready -> running, is in claim-tasks.ts; the DAG of an
 * experiment launched at its creation is written by the creating statement
 * (recordCreatedMany in experiment-state.ts), as createTasksOfMany writes it.
 */
import {
  keptAfterSubmitSql,
  rerunTaskStatesSql,
  retryDelayMs,
  taskStateSql,
  unlimitedRetryFailureCodes,
  waitingFailureCodes,
  type TaskFailure,
  type TaskKind,
  type TaskOutcome,
  type TaskPlan,
  type TaskState,
} from '../domain/task.ts';
import { terminalJobStatesSql, type JobState } from '../domain/job.ts';
import type { Queryable } from '../store/port.ts';
import { appendEvents, readyChannel, type NewEvent, type Notice } from './events.ts';
import { blockExperiments, settleExperiments } from './experiment-state.ts';
import { latestJobSql } from './job-state.ts';
import { maxWorkerLosses, missedHeartbeatsBeforeLost } from '../domain/worker.ts';

/**
 * Creates an experiment's task DAG: roots `ready`, the rest `pending` with their
 * dependency count. Wakes workers at commit.
 */
export async function createTasks(
  tx: Queryable,
  experimentId: string,
  plan: readonly TaskPlan[],
  priority = 0,
): Promise<void> {
  await createTasksOfMany(tx, [experimentId], plan, { priority });
}

/** How createTasksOfMany plans the DAGs. */
export interface TaskCreation {
  /** The tasks' dispatch priority (default 0). */
  priority?: number;
  /**
   * The experiments wait for admission: their roots stay `pending` with one dependency,
   * the admission, until releaseAdmittedTasks makes them ready.
   */
  held?: boolean;
  /** Push the events and the wake-up here, for the caller to append later in the same transaction. */
  pending?: { events: NewEvent[]; notices: Notice[] };
}

/**
 * createTasks for many experiments at once, each getting the same plan: three statements
 * whatever their number (a bulk creation launches up to a thousand).
 */
export async function createTasksOfMany(
  tx: Queryable,
  experimentIds: string[],
  plan: readonly TaskPlan[],
  { priority = 0, held = false, pending }: TaskCreation = {},
): Promise<void> {
  if (experimentIds.length === 0) return;
  const nodes = experimentIds.flatMap((experimentId) => plan.map((node) => ({ experimentId, node })));
  // A held root waits on its admission as on a dependency.
  const waitsFor = (node: TaskPlan) => node.dependsOn.length + (held && node.dependsOn.length === 0 ? 1 : 0);
  // $1 experiments, $2 kinds, $3 dependency counts, $4 max attempts, $5 priority
  const created = await tx.query<{ id: number; experiment_id: string; kind: TaskKind; state: TaskState }>(
    `insert into tasks (experiment_id, kind, state, pending_dependencies, max_attempts, priority)
     select experiment_id, kind, case when deps = 0 then 'ready' else 'pending' end, deps, attempts, $5
     from unnest($1::uuid[], $2::text[], $3::int[], $4::int[]) as x(experiment_id, kind, deps, attempts)
     returning id, experiment_id, kind, state`,
    [
      nodes.map(({ experimentId }) => experimentId),
      nodes.map(({ node }) => node.kind),
      nodes.map(({ node }) => waitsFor(node)),
      nodes.map(({ node }) => node.maxAttempts ?? 3),
      priority,
    ],
  );
  const idOf = new Map(created.map((task) => [`${task.experiment_id} ${task.kind}`, task.id]));
  const edges = nodes.flatMap(({ experimentId, node }) =>
    node.dependsOn.map((dependency) => [
      idOf.get(`${experimentId} ${node.kind}`)!,
      idOf.get(`${experimentId} ${dependency}`)!,
    ]),
  );
  if (edges.length > 0) {
    await tx.query(`insert into task_dependencies (task_id, depends_on) select * from unnest($1::int8[], $2::int8[])`, [
      edges.map((edge) => edge[0]),
      edges.map((edge) => edge[1]),
    ]);
  }
  const ready = created.filter((task) => task.state === 'ready');
  const events = ready.map((task) => taskEvent(task.experiment_id, task.id, task.kind, null, 'ready'));
  const notices = ready.length > 0 ? [{ channel: readyChannel, payload: String(ready.length) }] : [];
  if (!pending) return appendEvents(tx, events, notices);
  pending.events.push(...events);
  pending.notices.push(...notices);
}

/**
 * Makes the first tasks of admitted experiments ready: the admission was the one dependency
 * they waited for, beyond their completed ones (the roots of a launch, createTasksOfMany with
 * `held`; the first rerun tasks of a resume, rerunTasks with `held`). Wakes workers at commit.
 */
export async function releaseAdmittedTasks(tx: Queryable, experimentIds: string[]): Promise<void> {
  if (experimentIds.length === 0) return;
  const released = await tx.query<{ id: number; experiment_id: string; kind: TaskKind }>(
    `update tasks t set state = 'ready', pending_dependencies = 0
     where t.experiment_id = any($1::uuid[]) and t.state = 'pending' and t.pending_dependencies = 1
       and not exists (select 1 from task_dependencies d join tasks p on p.id = d.depends_on
                       where d.task_id = t.id and p.state <> 'completed')
     returning t.id, t.experiment_id, t.kind`,
    [experimentIds],
  );
  await appendEvents(
    tx,
    released.map((row) => taskEvent(row.experiment_id, row.id, row.kind, 'pending', 'ready', 'admitted')),
    released.length > 0 ? [{ channel: readyChannel, payload: String(released.length) }] : [],
  );
}

/** Who may report an outcome: the worker holding the lease, or the controller for a detached task. */
export type OutcomeReporter = { workerId: string } | { detached: true };

/**
 * Applies a batch of outcomes in the caller's transaction: completed tasks make their
 * successors ready, failed attempts retry after a backoff or fail for good, detached
 * tasks give up their lease. Outcomes for tasks the reporter no longer holds are dropped.
 * Returns the ids whose outcome was applied.
 */
export async function applyOutcomes(
  tx: Queryable,
  reporter: OutcomeReporter,
  outcomes: TaskOutcome[],
): Promise<number[]> {
  const events: NewEvent[] = [];
  const notices: Notice[] = [];
  const applied = await applyOutcomesInto(tx, reporter, outcomes, events, notices);
  await appendEvents(tx, events, notices);
  return applied;
}

/**
 * applyOutcomes, with the events and notifications pushed for the caller to write (the
 * exchange in claim-tasks.ts writes them with its claim). With `settleLater`, the ids of
 * the experiments to settle are pushed there instead of settled here: the caller settles
 * them (as settleExperiments) in a later statement of the transaction, after these events.
 * They are locked already.
 */
export async function applyOutcomesInto(
  tx: Queryable,
  reporter: OutcomeReporter,
  outcomes: TaskOutcome[],
  events: NewEvent[],
  notices: Notice[],
  settleLater?: string[],
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
    // the transaction, so this lock is what makes a concurrent writer to the same
    // experiment wait, and so what lets the settling see the other's tasks as they are. Without a failure, settling skips the
    // experiments where a successor became ready, so they need no lock yet.
    // $1 completed ids, $2 worker (guard), $3 results as a jsonb object keyed by id,
    // $4 (with failures only) ids of every completed or failed task reported
    const settling =
      failures.length > 0
        ? 'select experiment_id from tasks where id = any($4::int8[])'
        : `select experiment_id from completed except select experiment_id from successors where state = 'ready'`;
    const results = Object.fromEntries(completions.map((item) => [item.taskId, item.result ?? null]));
    const rows = await tx.query<{
      step: 'completed' | 'ready' | 'locked';
      id: number | null;
      experiment_id: string;
      kind: TaskKind | null;
    }>(
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
      // Two texts (with and without failures) for each kind of reporter.
      { prepared: true },
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
    const rows = await tx.query<{
      id: number;
      experiment_id: string;
      kind: TaskKind;
      attempt: number;
      max_attempts: number;
      run_first_attempt: number;
    }>(
      `select id, experiment_id, kind, attempt, max_attempts, run_first_attempt from tasks
       where id = any($1::int8[]) and ${guard.sql} order by id for update`,
      [failures.map((item) => item.taskId), guard.value],
    );
    // An unreachable or full resource is nobody's fault: its tasks wait (blocked) as long as it takes.
    const retries = rows.filter((row) => {
      const failure = byId.get(row.id)!;
      return failure.retryable && (row.attempt < row.max_attempts || unlimitedRetryFailureCodes.has(failure.code));
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
  const settle =
    failures.length > 0 ? [...touched] : [...touched].filter((experimentId) => !continuing.has(experimentId));
  if (failures.length > 0) await skipWaitingTasks(tx, settle, events);
  if (settleLater) settleLater.push(...settle);
  else await settleExperiments(tx, settle, events);
  return applied;
}

/**
 * Returns running tasks whose lease expired (their worker died, or lost the store) to
 * `ready` at once, without counting the attempt (returnUncounted). Returns how many were
 * recovered.
 */
export async function recoverExpiredLeases(tx: Queryable, limit = 500): Promise<number> {
  return (await recoverLeases(tx, { limit })).length;
}

/**
 * recoverExpiredLeases of the given running tasks whose running attempt the given message
 * started, whatever their lease (the RabbitMQ queue's takeover: that message came back, so
 * the worker that held it lost its connection to the broker), with `message` as the
 * failure's. A task whose worker is still a live member (its `workers` row active or
 * stopping, heartbeating within `missedHeartbeatsBeforeLost` of its intervals) is left to it:
 * a broker restart brings back the message of every running task while their workers go on
 * running them, and should one of them die, the controller finds it lost and puts its tasks
 * back. Returns the recovered tasks and whether each failed for good (its workers died under
 * it `maxWorkerLosses` times).
 */
export async function recoverLeases(
  tx: Queryable,
  {
    limit = 500,
    startedBy,
    message,
  }: { limit?: number; startedBy?: Array<{ taskId: number; messageId: number }>; message?: string },
): Promise<Array<{ id: number; failed: boolean }>> {
  const rows = await tx.query<UncountedRow>(
    `select ${uncountedColumns} from tasks
     where state = 'running' and not detached and ${
       startedBy
         ? `(id, dispatch_message) in (select * from unnest($2::int8[], $3::int8[]))
            and not exists (select 1 from workers w where w.id = tasks.lease_owner
              and w.state in ('active', 'stopping')
              and w.heartbeat_at > now() - $4 * w.heartbeat_ms * interval '1 millisecond')`
         : 'lease_expires_at < now()'
     }
     order by id limit $1 for update skip locked`,
    startedBy
      ? [
          limit,
          startedBy.map((task) => task.taskId),
          startedBy.map((task) => task.messageId),
          missedHeartbeatsBeforeLost,
        ]
      : [limit],
  );
  const failed = await returnUncounted(tx, rows, {
    code: 'lease-expired',
    message: message ?? 'the worker running this task stopped renewing its lease',
    retryable: true,
  });
  return rows.map((row) => ({ id: Number(row.id), failed: failed.has(Number(row.id)) }));
}

/**
 * Returns the running tasks that the workers `workerIds` held (the controller found them
 * lost: state/worker-state.ts) to `ready` at once, without counting the attempt, instead of
 * waiting for their leases to run out. Returns how many.
 */
export async function returnTasksOfLostWorkers(tx: Queryable, workerIds: string[]): Promise<number> {
  if (workerIds.length === 0) return 0;
  const rows = await tx.query<UncountedRow>(
    `select ${uncountedColumns} from tasks
     where state = 'running' and not detached and lease_owner = any($1::text[])
     order by id for update`,
    [workerIds],
  );
  await returnUncounted(tx, rows, {
    code: 'worker-lost',
    message: 'the worker running this task stopped heartbeating',
    retryable: true,
  });
  return rows.length;
}

/**
 * A draining worker's hand-back: the tasks of `taskIds` it still holds go back to `ready`
 * at once, unfinished, without counting the attempt (and without counting as a worker's
 * death). Returns the ids handed back.
 */
export async function handBackTasks(tx: Queryable, workerId: string, taskIds: number[]): Promise<number[]> {
  if (taskIds.length === 0) return [];
  const rows = await tx.query<UncountedRow>(
    `select ${uncountedColumns} from tasks
     where id = any($1::int8[]) and state = 'running' and lease_owner = $2 and not detached
     order by id for update`,
    [taskIds, workerId],
  );
  await returnUncounted(
    tx,
    rows,
    { code: 'handed-back', message: 'its worker stopped and handed the task back unfinished', retryable: true },
    false,
  );
  return rows.map((row) => Number(row.id));
}

type UncountedRow = {
  id: number;
  experiment_id: string;
  kind: TaskKind;
  attempt: number;
  worker_losses: number;
};
const uncountedColumns = 'id, experiment_id, kind, attempt, worker_losses';

/**
 * Puts running tasks (locked by the caller) back in the queue at once because their
 * worker went, not because they failed: the attempt does not count (the task gets one
 * more, `max_attempts`, and `uncounted_attempts` remembers it for a rerun). A worker's
 * death (`lost`) also counts in `worker_losses`: the one that would make it
 * `maxWorkerLosses` fails the task instead, a task that kills every worker that runs it.
 * Appends the events, wakes the workers, and settles what failed. Returns the ids that failed.
 */
async function returnUncounted(
  tx: Queryable,
  rows: UncountedRow[],
  failure: TaskFailure,
  lost = true,
): Promise<Set<number>> {
  if (rows.length === 0) return new Set();
  const poison = lost ? rows.filter((row) => row.worker_losses + 1 >= maxWorkerLosses) : [];
  const requeued = rows.filter((row) => !poison.includes(row));
  const events: NewEvent[] = [];
  if (requeued.length > 0) {
    // $1 ids, $2 1 for a worker's death (0 for a hand-back), $3 the failure
    await tx.query(
      `update tasks set state = 'ready', lease_owner = null, lease_expires_at = null, run_at = now(), failure = $3::jsonb,
         max_attempts = max_attempts + 1, uncounted_attempts = uncounted_attempts + 1, worker_losses = worker_losses + $2
       where id = any($1::int8[])`,
      [requeued.map((row) => row.id), lost ? 1 : 0, JSON.stringify(failure)],
    );
    for (const row of requeued)
      events.push(
        taskEvent(
          row.experiment_id,
          Number(row.id),
          row.kind,
          'running',
          'ready',
          `attempt ${row.attempt} does not count (${failure.message}); back in the queue`,
          { attempt: row.attempt, failure },
        ),
      );
  }
  const final: TaskFailure = {
    code: 'worker-lost',
    message: `its workers died under it ${maxWorkerLosses} times: the task itself may be what kills them`,
    retryable: false,
  };
  await failOrRetry(tx, [], poison, new Map(poison.map((row) => [row.id, final])), events);
  await appendEvents(
    tx,
    events,
    requeued.length > 0 ? [{ channel: readyChannel, payload: String(requeued.length) }] : [],
  );
  if (poison.length > 0) {
    const experimentIds = [...new Set(poison.map((row) => row.experiment_id))];
    await skipWaitingTasks(tx, experimentIds);
    await settleExperiments(tx, experimentIds);
  }
  return new Set(poison.map((row) => Number(row.id)));
}

/**
 * Expires every lease held now. Only for a store that one process has to itself (the
 * embedded store locks its data folder), at start: any lease still held was held by a
 * process that died, so the controller's next pass recovers its tasks at once.
 */
export async function releaseLeasesOfDeadProcess(db: Queryable): Promise<void> {
  await db.query(
    `update tasks set lease_expires_at = now() where state = 'running' and not detached and lease_expires_at > now()`,
  );
}

/**
 * Cancels the tasks of `experimentIds` that have not started (pending, ready), in one
 * statement (a sweep's cancel is a thousand experiments). Running tasks
 * finish; the experiment then becomes `canceled`.
 * A submit waiting for its retry is left to run it: an earlier attempt may have made a job
 * (its worker died during sbatch/qsub), and the retry records that job, so it is canceled.
 * Once a submit has started (or waits for its retry) a job may exist, so its monitor and
 * stage-out are left too: the monitor completes when the killed job has ended, and
 * stage-out brings back the logs and the partial outputs the program wrote before it
 * stopped. A cancel before the submit started cancels them all, and ends at once.
 */
export async function cancelOpenTasksOfMany(tx: Queryable, experimentIds: string[]): Promise<void> {
  if (experimentIds.length === 0) return;
  const rows = await tx.query<{ id: number; experiment_id: string; kind: TaskKind; previous: TaskState }>(
    // The experiments whose submit has started, found once (an uncorrelated, hashed subplan):
    // correlated per task, a table without statistics yet was scanned once per task.
    `with started as materialized (
       select s.experiment_id from tasks s where s.experiment_id = any($1::uuid[]) and s.kind = 'submit'
         and (s.state in ('running', 'completed') or (s.state in ${taskStateSql.waiting} and s.attempt > s.run_first_attempt)))
     update tasks t set state = 'canceled', finished_at = now()
     from (select id, state as previous from tasks w where experiment_id = any($1::uuid[]) and state in ${taskStateSql.waiting}
             and not (kind = 'submit' and attempt > run_first_attempt)
             and not (kind in ${keptAfterSubmitSql} and experiment_id in (select experiment_id from started))
           for update) old
     where t.id = old.id returning t.id, t.experiment_id, t.kind, old.previous`,
    [experimentIds],
  );
  await appendEvents(
    tx,
    rows.map((row) => taskEvent(row.experiment_id, row.id, row.kind, row.previous, 'canceled')),
  );
}

/** A detached monitor task whose job has ended (or that has no job), as findEndedMonitors returns it. */
export interface EndedMonitor {
  taskId: number;
  experimentId: string;
  /** The experiment's latest job: its id, state, native state and exit code; null without a job. */
  jobId: number | null;
  jobState: JobState | null;
  nativeState: string | null;
  exitCode: number | null;
}

/**
 * The detached monitor tasks whose job has ended, locked for the caller's transaction
 * (skipping those another transaction holds), for the controller to complete. Any order of
 * events converges here: the job may end before or after its monitor detaches.
 */
export async function findEndedMonitors(tx: Queryable): Promise<EndedMonitor[]> {
  const rows = await tx.query<{
    id: number;
    experiment_id: string;
    job_id: number | null;
    job_state: JobState | null;
    native_state: string | null;
    exit_code: number | null;
  }>(
    `select t.id, t.experiment_id, j.id as job_id, j.state as job_state, j.native_state, j.exit_code
     from tasks t
     left join lateral ${latestJobSql('t.experiment_id', 'id, state, native_state, exit_code')} j on true
     where t.kind = 'monitor' and t.state = 'running' and t.detached
       and (j.state is null or j.state in ${terminalJobStatesSql})
     for update of t skip locked`,
  );
  return rows.map((row) => ({
    taskId: row.id,
    experimentId: row.experiment_id,
    jobId: row.job_id === null ? null : Number(row.job_id),
    jobState: row.job_state,
    nativeState: row.native_state,
    exitCode: row.exit_code,
  }));
}

/**
 * The tasks a resume of a failed experiment runs again from: its failed and skipped tasks,
 * and its submit when its job failed, ran out of time or vanished, so that the job runs again
 * as a new one (a failed stage-out after a failed job reruns both at once). rerunTasks adds
 * what depends on them. `from` names the first of them in the DAG, for the `resumed` event.
 */
export async function tasksToResume(
  tx: Queryable,
  experimentId: string,
): Promise<{ ids: number[]; from: { id: number; kind: TaskKind; failed: boolean } | null }> {
  // $1 experiment
  const rows = await tx.query<{ id: number; kind: TaskKind; state: TaskState; rerun_job: boolean }>(
    `select t.id, t.kind, t.state, (t.kind = 'submit' and j.state in ('failed', 'timed-out', 'lost')) as rerun_job
     from tasks t left join lateral ${latestJobSql('$1', 'state')} j on true
     where t.experiment_id = $1
       and (t.state in ('failed', 'skipped') or (t.kind = 'submit' and j.state in ('failed', 'timed-out', 'lost')))
     order by t.id`,
    [experimentId],
  );
  const first = rows.find((row) => row.state === 'failed' || row.rerun_job);
  return {
    ids: rows.map((row) => Number(row.id)),
    from: first ? { id: Number(first.id), kind: first.kind, failed: first.state === 'failed' } : null,
  };
}

/**
 * Runs tasks of one experiment again, in place: those of `fromTaskIds` and every task that
 * depends on them, transitively (a resume, an automatic resubmit). Each goes back to
 * `ready` when every task it waits for is completed and not rerun, else to `pending` with
 * the count of those it waits for; its failure, lease, result and finish time are cleared.
 * Its attempts so far become an earlier run's (`run_first_attempt`: a rerun submit never
 * adopts their jobs, and its new submission keys differ from theirs), and it gets the
 * attempts it had at first again. Only tasks in `rerunTaskStates` move (a running one only
 * detached); the caller holds the experiment's row lock. With `held`, those that would be
 * ready wait `pending` on the admission too (releaseAdmittedTasks). Pushes one event per
 * task, with `message`, and the workers' wake-up, for the caller to append. Returns the moved tasks.
 */
export async function rerunTasks(
  tx: Queryable,
  experimentId: string,
  fromTaskIds: number[],
  message: string,
  pending: { events: NewEvent[]; notices: Notice[] },
  held = false,
): Promise<Array<{ id: number; kind: TaskKind; state: TaskState }>> {
  if (fromTaskIds.length === 0) return [];
  // $1 experiment, $2 the tasks to rerun from, $3 held for admission
  const rows = await tx.query<{ id: number; kind: TaskKind; state: TaskState; previous: TaskState }>(
    `with recursive rerun(id) as (
       select id from tasks where experiment_id = $1 and id = any($2::int8[])
       union
       select d.task_id from task_dependencies d join rerun r on d.depends_on = r.id),
     old as (
       select t.id, t.state as previous from tasks t
       where t.id in (select id from rerun) and t.experiment_id = $1
         and t.state in ${rerunTaskStatesSql} and (t.state <> 'running' or t.detached)
       order by t.id for update),
     waits as (
       select o.id, count(dep.id) filter (where dep.id in (select id from rerun) or dep.state <> 'completed')::int as n
       from old o left join task_dependencies d on d.task_id = o.id left join tasks dep on dep.id = d.depends_on
       group by o.id)
     update tasks t set state = case when w.n = 0 and not $3 then 'ready' else 'pending' end,
       pending_dependencies = w.n + case when w.n = 0 and $3 then 1 else 0 end,
       max_attempts = t.attempt + (t.max_attempts - t.run_first_attempt - t.uncounted_attempts), run_first_attempt = t.attempt,
       uncounted_attempts = 0, worker_losses = 0,
       failure = null, result = null, lease_owner = null, lease_expires_at = null, detached = false,
       finished_at = null, run_at = now()
     from old o join waits w on w.id = o.id
     where t.id = o.id
     returning t.id, t.kind, t.state, o.previous`,
    [experimentId, fromTaskIds, held],
  );
  rows.sort((a, b) => Number(a.id) - Number(b.id));
  pending.events.push(
    ...rows.map((row) => taskEvent(experimentId, Number(row.id), row.kind, row.previous, row.state, message)),
  );
  const ready = rows.filter((row) => row.state === 'ready').length;
  if (ready > 0) pending.notices.push({ channel: readyChannel, payload: String(ready) });
  return rows.map((row) => ({ id: Number(row.id), kind: row.kind, state: row.state }));
}

async function failOrRetry(
  tx: Queryable,
  retries: Array<{ id: number; experiment_id: string; kind: TaskKind; attempt: number; run_first_attempt: number }>,
  final: Array<{ id: number; experiment_id: string; kind: TaskKind; attempt: number }>,
  failureOf: Map<number, TaskFailure>,
  events: NewEvent[],
): Promise<void> {
  if (retries.length > 0) {
    // The backoff starts again in each run (a resume reruns the task: state/task-state.ts rerunTasks).
    const delays = retries.map((row) => retryDelayMs(row.attempt - row.run_first_attempt));
    await tx.query(
      `update tasks t set state = 'ready', lease_owner = null, lease_expires_at = null,
         run_at = now() + x.delay * interval '1 millisecond', failure = x.failure
       from unnest($1::int8[], $2::int[], $3::jsonb[]) as x(id, delay, failure) where t.id = x.id`,
      [retries.map((row) => row.id), delays, retries.map((row) => JSON.stringify(failureOf.get(row.id)))],
    );
    retries.forEach((row, index) => {
      const failure = failureOf.get(row.id)!;
      events.push(
        taskEvent(
          row.experiment_id,
          row.id,
          row.kind,
          'running',
          'ready',
          `attempt ${row.attempt} failed (${failure.message}); retrying in ${Math.round(delays[index] / 1000)} s`,
          { attempt: row.attempt, failure },
        ),
      );
    });
    for (const [index, row] of retries.entries()) {
      const failure = failureOf.get(row.id)!;
      if (!waitingFailureCodes.has(failure.code)) continue;
      await blockExperiments(
        tx,
        [row.experiment_id],
        { reason: failure.message, nextTryAt: new Date(Date.now() + delays[index]) },
        events,
      );
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
      events.push(
        taskEvent(row.experiment_id, row.id, row.kind, 'running', 'failed', failure.message, {
          attempt: row.attempt,
          failure,
        }),
      );
    }
  }
}

/**
 * Skips the waiting tasks (pending, ready) of those experiments that have a failed task:
 * they can never run. With `pending`, the events are pushed there for the caller to
 * append later in the same transaction. Call before settleExperiments.
 */
export async function skipWaitingTasks(tx: Queryable, experimentIds: string[], pending?: NewEvent[]): Promise<void> {
  if (experimentIds.length === 0) return;
  const skipped = await tx.query<{ id: number; experiment_id: string; kind: TaskKind; previous: TaskState }>(
    `update tasks t set state = 'skipped', finished_at = now()
     from (select id, state as previous from tasks w
           where w.experiment_id = any($1::uuid[]) and w.state in ${taskStateSql.waiting}
             and exists (select 1 from tasks f where f.experiment_id = w.experiment_id and f.state = 'failed')
           for update) old
     where t.id = old.id returning t.id, t.experiment_id, t.kind, old.previous`,
    [experimentIds],
  );
  const events = skipped.map((row) =>
    taskEvent(row.experiment_id, row.id, row.kind, row.previous, 'skipped', 'an earlier task failed'),
  );
  if (pending) pending.push(...events);
  else await appendEvents(tx, events);
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
