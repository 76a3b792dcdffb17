/**
 * The experiment's owner: every write of an experiments row and of its experiment events
 * goes through this module. Each transition is a guarded update (the row must be in a
 * state the table in domain/experiment.ts allows) plus its event, in the caller's
 * transaction. Two moves are made inline elsewhere, for speed: the claim statement
 * (claim-tasks.ts) makes `claimStart` and settlement (`settlementSql`), defined here,
 * under the same lock and guard. The other way round, also for speed, the creating
 * statement here (recordCreatedMany) writes a launched experiment's task DAG and its
 * `ready` events as createTasksOfMany (task-state.ts) would, so that a creation is one
 * statement.
 */
import { randomUUID } from 'node:crypto';
import {
  activeExperimentStatesSql,
  experimentOutcomeSql,
  experimentStatesBefore,
  isTerminalExperimentState,
  type ExperimentFailure,
  type ExperimentState,
} from '../domain/experiment.ts';
import type { HeadlineValue } from '../domain/headline-values.ts';
import { activeJobStatesSql } from '../domain/job.ts';
import type { ExperimentNotify } from '../domain/notification.ts';
import { taskStateSql, type TaskKind, type TaskPlan, type TaskState } from '../domain/task.ts';
import type { Queryable } from '../store/port.ts';
import {
  admissionChannel,
  announceAdmissionChange,
  appendEvents,
  eventsChannel,
  readyChannel,
  type NewEvent,
} from './events.ts';
import { latestJobSql } from './job-state.ts';

/** What an experiment is created with; it starts `created`, or `queued` when launched at once. */
export interface NewExperiment {
  gatewayId: string;
  ownerId: string;
  name: string;
  application: string;
  applicationVersion: string;
  resource: string;
  inputs: Record<string, unknown>;
  settings: unknown;
  /** The experiment it was cloned from. */
  parentId: string | null;
  /** The message of its `created` event (who created or cloned it). */
  message: string;
  /** How Drover chose its resource (`auto`), kept in the `created` event's data. */
  resourceChoice?: unknown;
  /** The file names of its uploaded inputs, which the list's text search finds too. */
  fileNames?: string[];
  /** Launch it in the same statement: `queued`, with its task DAG (default false: a draft). */
  launch?: boolean;
  /**
   * Launched, it waits for the controller's admission (a limit applies to its queue): its
   * root tasks stay `pending` until admitExperiments (default false: admitted at once).
   */
  held?: boolean;
  /** The owner's priority for it among their own waiting experiments, -5 to 5 (default 0). */
  priority?: number;
  /** Its own choice of notifications over its owner's defaults (default null: the defaults). */
  notify?: ExperimentNotify | null;
}

/** A new experiment as stored: its row (snake_case columns) and, when launched, its tasks. */
export interface CreatedExperiment {
  row: {
    id: string;
    name: string;
    application: string;
    application_version: string;
    resource: string;
    state: ExperimentState;
    blocked_reason: string | null;
    blocked_until: Date | null;
    failure: ExperimentFailure | null;
    parent_id: string | null;
    created_at: Date;
    updated_at: Date;
    launched_at: Date | null;
    finished_at: Date | null;
    inputs: Record<string, unknown>;
    settings: unknown;
    last_event_seq: number;
    notify: ExperimentNotify | null;
    priority: number;
  };
  /** Its tasks in id order, each with the ids of the tasks it waits for (empty for a draft). */
  tasks: Array<{ id: number; kind: TaskKind; state: TaskState; dependsOn: number[] }>;
}

/**
 * Stores new experiments in one statement whatever their number (so, outside a
 * transaction, one commit): each experiment row and its search entry with its `created`
 * event; for those with `launch`, also the move to `queued` (`launched`), the task DAG
 * of `plan` (roots `ready`, or `pending` on their admission when `held`; the rest
 * `pending`) and the roots' `ready` events, as
 * moveExperiments and createTasksOfMany would write them. Announces the experiments on
 * `eventsChannel` and wakes workers (`readyChannel`) at commit. Returns them in the order
 * given; their creation times follow that order (a microsecond apart), so a bulk creation
 * lists in the order it was sent. No one else can see the new rows before the commit, so
 * the launch needs no guard or row lock. Limits are the controller's admission to apply:
 * a launch the caller marks `held` waits for it.
 */
export async function recordCreatedMany(
  db: Queryable,
  experiments: NewExperiment[],
  plan: readonly TaskPlan[],
): Promise<CreatedExperiment[]> {
  if (experiments.length === 0) return [];
  const roots = plan.filter((node) => node.dependsOn.length === 0).length;
  const rows = experiments.map((experiment, index) => {
    const id = randomUUID();
    return {
      ord: index,
      id,
      gateway_id: experiment.gatewayId,
      owner_id: experiment.ownerId,
      name: experiment.name,
      application: experiment.application,
      application_version: experiment.applicationVersion,
      resource: experiment.resource,
      inputs: experiment.inputs,
      settings: experiment.settings,
      parent_id: experiment.parentId,
      search_text: searchText(id, experiment),
      message: experiment.message,
      resource_choice: experiment.resourceChoice ?? null,
      launch: experiment.launch === true,
      held: experiment.launch === true && experiment.held === true,
      priority: experiment.priority ?? 0,
      notify: experiment.notify ?? null,
      // created (1), then launched (2) and, unless held, one `ready` per root task
      last_event_seq: experiment.launch ? (experiment.held ? 2 : 2 + roots) : 1,
    };
  });
  const ids = rows.map((row) => row.id);
  const launched = rows.filter((row) => row.launch && !row.held).length;
  const held = rows.filter((row) => row.held).length;
  const notices = [
    ...(launched > 0 && roots > 0 ? [{ channel: readyChannel, payload: String(launched * roots) }] : []),
    // Launches that wait for admission: the controller's pass looks at them now.
    ...(held > 0 ? [{ channel: admissionChannel, payload: '' }] : []),
    ...Array.from({ length: Math.ceil(ids.length / 100) }, (_, chunk) => ({
      channel: eventsChannel,
      payload: ids.slice(chunk * 100, chunk * 100 + 100).join(','),
    })),
  ];
  const edges = plan.flatMap((node) => node.dependsOn.map((dependency) => [node.kind, dependency]));
  // $1 jsonb array of experiments, in order; $2-$4 the plan's kinds, dependency counts and
  // max attempts; $5, $6 its edges (kind, kind it waits for); $7, $8 notification channels
  // and payloads. Returns the experiment rows with their tasks (json: id, kind, state).
  // Every data-modifying CTE runs whatever the final select reads; foreign keys are
  // checked at the end of the statement, when all the rows exist.
  const stored = await db.query<
    CreatedExperiment['row'] & { tasks: Array<{ id: number; kind: TaskKind; state: TaskState }> }
  >(
    `with input as (
       select * from jsonb_to_recordset($1::jsonb) as x(ord int, id uuid, gateway_id text, owner_id text, name text,
         application text, application_version text, resource text, inputs jsonb, settings jsonb, parent_id uuid,
         search_text text, message text, resource_choice jsonb, launch boolean, held boolean, priority int, notify jsonb, last_event_seq int)),
     plan as (select * from unnest($2::text[], $3::int[], $4::int[]) with ordinality as p(kind, dependencies, max_attempts, step)),
     created as (
       insert into experiments (id, gateway_id, owner_id, name, application, application_version, resource,
         inputs, settings, parent_id, notify, state, last_event_seq, created_at, updated_at, launched_at, admitted_at, priority)
       select id, gateway_id, owner_id, name, application, application_version, resource, inputs, settings, parent_id,
         nullif(notify, 'null'::jsonb), case when launch then 'queued' else 'created' end, last_event_seq,
         now() + ord * interval '1 microsecond',
         case when launch then now() else now() + ord * interval '1 microsecond' end,
         case when launch then now() end,
         case when launch and not held then now() end, priority
       from input
       returning id, gateway_id, owner_id, name, application, application_version, resource, state, blocked_reason,
         blocked_until, failure, parent_id, created_at, updated_at, launched_at, finished_at, inputs, settings,
         last_event_seq, notify, priority),
     searchable as (
       insert into experiment_search (experiment_id, search_text, gateway_id, owner_id, application, resource, created_at)
       select c.id, i.search_text, c.gateway_id, c.owner_id, c.application, c.resource, c.created_at
       from created c join input i on i.id = c.id),
     planned as (
       insert into tasks (experiment_id, kind, state, pending_dependencies, max_attempts)
       select i.id, p.kind, case when p.dependencies = 0 and not i.held then 'ready' else 'pending' end,
         p.dependencies + case when p.dependencies = 0 and i.held then 1 else 0 end, p.max_attempts
       from input i cross join plan p where i.launch order by i.ord, p.step
       returning id, experiment_id, kind, state),
     linked as (
       insert into task_dependencies (task_id, depends_on)
       select t.id, d.id from unnest($5::text[], $6::text[]) as edge(kind, depends_on)
         join planned t on t.kind = edge.kind join planned d on d.experiment_id = t.experiment_id and d.kind = edge.depends_on),
     logged as (
       insert into events (experiment_id, seq, entity, entity_id, label, from_state, to_state, message, data)
       select id, 1, 'experiment', id::text, null, null, 'created', message,
         jsonb_build_object('parentId', parent_id) || case when resource_choice is null or resource_choice = 'null'::jsonb
           then '{}'::jsonb else jsonb_build_object('resourceChoice', resource_choice) end
       from input
       union all
       select id, 2, 'experiment', id::text, null, 'created', 'queued', 'launched', null from input where launch
       union all
       select experiment_id, 2 + row_number() over (partition by experiment_id order by id), 'task', id::text, kind,
         null, 'ready', null, null
       from planned where state = 'ready')
     select c.*, coalesce(t.tasks, '[]') as tasks
     from created c
       left join (select experiment_id, json_agg(json_build_object('id', id, 'kind', kind, 'state', state) order by id) as tasks
         from planned group by experiment_id) t on t.experiment_id = c.id
       cross join (select count(pg_notify(n.channel, n.payload)) from unnest($7::text[], $8::text[]) as n(channel, payload)) as notified`,
    [
      JSON.stringify(rows),
      plan.map((node) => node.kind),
      plan.map((node) => node.dependsOn.length),
      plan.map((node) => node.maxAttempts ?? 3),
      edges.map((edge) => edge[0]),
      edges.map((edge) => edge[1]),
      notices.map((notice) => notice.channel),
      notices.map((notice) => notice.payload),
    ],
    // Every creation runs it, and its planning costs about as much as its execution.
    { prepared: true },
  );
  const byId = new Map(stored.map((row) => [row.id, row]));
  return ids.map((id) => {
    const { tasks, ...row } = byId.get(id)!;
    const idOfKind = new Map(tasks.map((task) => [task.kind, task.id]));
    const dependsOn = (kind: TaskKind) =>
      (plan.find((node) => node.kind === kind)?.dependsOn ?? [])
        .map((dependency) => idOfKind.get(dependency)!)
        .sort((a, b) => a - b);
    return { row, tasks: tasks.map((task) => ({ ...task, dependsOn: dependsOn(task.kind) })) };
  });
}

/**
 * What the list's text search (`q`) looks in, one field per line: the id, the name, the
 * application, each input value (by input name) and each uploaded file's name, in
 * `experiment_search`, beside the experiment's gateway, owner, application, resource and
 * creation time (migration 0006), which the list filters and orders by. Migration 0005 filled
 * it the same way for experiments created before it.
 */
function searchText(id: string, experiment: NewExperiment): string {
  const inputs = Object.keys(experiment.inputs)
    .sort()
    .map((name) => experiment.inputs[name])
    .filter((value) => value !== null && value !== undefined)
    .map((value) => (typeof value === 'object' ? JSON.stringify(value) : String(value)));
  return [id, experiment.name, experiment.application, ...inputs, ...(experiment.fileNames ?? []).sort()].join('\n');
}

/**
 * Sets an experiment's own choice of notifications (null: its owner's defaults again), in
 * any state: it applies to the events still to come. Returns false when there is no such experiment.
 */
export async function setExperimentNotify(
  db: Queryable,
  experimentId: string,
  notify: ExperimentNotify | null,
): Promise<boolean> {
  const rows = await db.query(`update experiments set notify = $2::jsonb where id = $1 returning id`, [
    experimentId,
    notify === null ? null : JSON.stringify(notify),
  ]);
  return rows.length > 0;
}

/**
 * Sets the owner's priority for an experiment, in any state: it orders their line while
 * the experiment waits for admission, and is kept for its clones. Bumps `updated_at` so the
 * live list shows it.
 */
export async function setExperimentPriority(db: Queryable, experimentId: string, priority: number): Promise<void> {
  const changed = await db.query(
    `update experiments set priority = $2, updated_at = now() where id = $1 and priority is distinct from $2 returning id`,
    [experimentId, priority],
  );
  if (changed.length > 0) await announceAdmissionChange(db);
}

/** Deletes a draft: only an experiment still `created`. Returns whether one was deleted. */
export async function deleteIfDraft(tx: Queryable, experimentId: string): Promise<boolean> {
  const rows = await tx.query(`delete from experiments where id = $1 and state = 'created' returning id`, [
    experimentId,
  ]);
  return rows.length > 0;
}

export interface ExperimentMove {
  message?: string;
  data?: unknown;
  /** Only move from these states (a subset of what the table allows). */
  from?: ExperimentState[];
  /** Failure detail stored on the experiment when it moves to `failed`. */
  failure?: ExperimentFailure;
  blockedReason?: string;
  blockedUntil?: Date;
}

/** One experiment move in a batch. */
export interface ExperimentMoveRequest extends ExperimentMove {
  experimentId: string;
  to: ExperimentState;
}

/**
 * Moves one experiment to `to` if its current state allows it; returns the state it left,
 * or null when the guard refused (a stale or concurrent writer changes nothing).
 */
export async function moveExperiment(
  tx: Queryable,
  experimentId: string,
  to: ExperimentState,
  move: ExperimentMove = {},
): Promise<ExperimentState | null> {
  const moved = await moveExperiments(tx, [{ ...move, experimentId, to }]);
  return moved.get(experimentId) ?? null;
}

/**
 * Moves many experiments in one statement (one target each), each under its own guard,
 * and appends their events. Returns the state each moved experiment left.
 *
 * With `pending`, the events are pushed there instead, for the caller to append later in
 * the same transaction (one statement for all the events of a worker's exchange).
 */
export async function moveExperiments(
  tx: Queryable,
  moves: ExperimentMoveRequest[],
  pending?: NewEvent[],
): Promise<Map<string, ExperimentState>> {
  const moved = new Map<string, ExperimentState>();
  if (moves.length === 0) return moved;
  const rows = moves.map((move) => ({
    id: move.experimentId,
    target: move.to,
    sources: move.from ?? experimentStatesBefore(move.to),
    terminal: isTerminalExperimentState(move.to),
    failure: move.failure ?? null,
    blocked_reason: move.blockedReason ?? null,
    blocked_until: move.blockedUntil?.toISOString() ?? null,
  }));
  // $1: jsonb array of moves, $2: their ids (so that the planner uses the primary key).
  // Rows are locked in id order so concurrent batches cannot deadlock.
  const updated = await tx.query<{ id: string; previous: ExperimentState }>(
    `with input as (
       select * from jsonb_to_recordset($1::jsonb) as x(id uuid, target text, sources text[], terminal boolean,
         failure jsonb, blocked_reason text, blocked_until timestamptz)),
     old as (select e.id, e.state as previous from experiments e where e.id = any($2::uuid[]) order by e.id for update)
     update experiments e set state = i.target, updated_at = now(),
       failure = coalesce(i.failure, e.failure),
       launched_at = case when i.target = 'queued' then coalesce(e.launched_at, now()) else e.launched_at end,
       finished_at = case when i.terminal then now() else e.finished_at end,
       state_before_block = case when i.target = 'blocked' then e.state else null end,
       blocked_reason = case when i.target = 'blocked' then i.blocked_reason else null end,
       blocked_until = case when i.target = 'blocked' then i.blocked_until else null end,
       -- Only a launched experiment not yet admitted waits in line (blocked, it keeps its place).
       waiting_reason = case when i.target in ('queued', 'blocked') then e.waiting_reason end,
       waiting_place = case when i.target in ('queued', 'blocked') then e.waiting_place end
     from input i, old
     where e.id = any($2::uuid[]) and e.id = i.id and old.id = e.id and e.state = any(i.sources)
     returning e.id, old.previous`,
    [JSON.stringify(rows), rows.map((row) => row.id)],
  );
  const byId = new Map(moves.map((move) => [move.experimentId, move]));
  for (const row of updated) moved.set(row.id, row.previous);
  const events = updated.map((row): NewEvent => {
    const move = byId.get(row.id)!;
    return {
      experimentId: row.id,
      entity: 'experiment',
      entityId: row.id,
      fromState: row.previous,
      toState: move.to,
      message: move.message ?? move.blockedReason ?? move.failure?.message,
      data: move.data,
    };
  });
  if (pending) pending.push(...events);
  else await appendEvents(tx, events);
  return moved;
}

/**
 * Blocks queued or executing experiments because their resource does not answer, with the
 * reason and when Drover tries again. The move (with its event) happens once; while they
 * stay blocked only the reason and next try are refreshed, so a long outage adds no events.
 */
export async function blockExperiments(
  tx: Queryable,
  experimentIds: string[],
  blocked: { reason: string; nextTryAt: Date },
  pending?: NewEvent[],
): Promise<void> {
  if (experimentIds.length === 0) return;
  const { reason, nextTryAt } = blocked;
  await moveExperiments(
    tx,
    experimentIds.map((experimentId) => ({
      experimentId,
      to: 'blocked' as const,
      from: ['queued', 'executing'] as ExperimentState[],
      blockedReason: reason,
      blockedUntil: nextTryAt,
    })),
    pending,
  );
  await tx.query(
    `update experiments set blocked_reason = $2, blocked_until = $3
     where id = any($1::uuid[]) and state = 'blocked' and (blocked_reason, blocked_until) is distinct from ($2, $3)`,
    [experimentIds, reason, nextTryAt.toISOString()],
  );
}

/** Returns blocked experiments to the state they were blocked in (their resource answers again). */
export async function unblockExperiments(tx: Queryable, experimentIds: string[], message: string): Promise<void> {
  if (experimentIds.length === 0) return;
  const rows = await tx.query<{ id: string; state_before_block: ExperimentState | null }>(
    `select id, state_before_block from experiments where id = any($1::uuid[]) and state = 'blocked' order by id for update`,
    [experimentIds],
  );
  await moveExperiments(
    tx,
    rows.map((row) => ({
      experimentId: row.id,
      to: row.state_before_block === 'queued' ? 'queued' : 'executing',
      from: ['blocked'] as ExperimentState[],
      message,
    })),
  );
}

/**
 * The move the claim statement (claim-tasks.ts) makes inline as SQL literals: the
 * experiment of a claimed task starts executing if it is queued (a blocked one stays
 * blocked until its resource answers). One of the moves the table allows.
 */
export const claimStart = { from: `'queued'`, to: `'executing'` } as const;

/**
 * Settles those experiments whose tasks have all finished, by the rule in
 * `experimentOutcome` (domain/experiment.ts): completed, failed or canceled. A canceling
 * experiment waits for its job to end too (a retried submit may record one late). Skip
 * their waiting tasks first where a task failed (skipWaitingTasks, task-state.ts). With
 * `pending`, the events are pushed there for the caller to append later in the same
 * transaction.
 */
export async function settleExperiments(tx: Queryable, experimentIds: string[], pending?: NewEvent[]): Promise<void> {
  if (experimentIds.length === 0) return;
  // $1 experiment ids
  const rows = await tx.query<{ id: string; target: ExperimentState; failure: ExperimentFailure | null }>(
    settlementSql('(select id, state from experiments where id = any($1::uuid[]))'),
    [experimentIds],
  );
  const moves: ExperimentMoveRequest[] = rows.map((row) => ({
    experimentId: row.id,
    to: row.target,
    ...(row.failure ? { failure: row.failure } : {}),
  }));
  await moveExperiments(tx, moves, pending);
}

/**
 * SQL selecting, of `candidates` (a relation of experiments' `id` and `state`, read under
 * the caller's lock on them), those that settle, as settleExperiments settles them:
 * `id`, `previous` (its state), `target` and `failure` (the rule of `experimentOutcome`,
 * as `experimentOutcomeSql`), only where the table allows the move. Used by
 * settleExperiments and inline by the claim statement (claim-tasks.ts), which makes the
 * move in its own update of the experiment rows.
 */
export function settlementSql(candidates: string): string {
  const outcome = experimentOutcomeSql({
    state: 'facts.state',
    taskFailure: 'facts.task_failure',
    jobState: 'facts.job_state',
    exitCode: 'facts.exit_code',
  });
  const guard = settlementTargets
    .map((target) => `(${outcome.target}) = '${target}' and facts.state in ${sqlList(experimentStatesBefore(target))}`)
    .join(' or ');
  return `select facts.id, facts.state as previous, ${outcome.target} as target, ${outcome.failure} as failure
    from (
      select c.id, c.state, j.state as job_state, j.exit_code,
        (select f.failure from tasks f where f.experiment_id = c.id and f.state = 'failed' order by f.id limit 1) as task_failure
      from ${candidates} c
      left join lateral ${latestJobSql('c.id', 'state, exit_code')} j on true
      where c.state in ${activeExperimentStatesSql}
        and not exists (select 1 from tasks o where o.experiment_id = c.id and o.state in ${taskStateSql.open})
        and not (c.state = 'canceling' and coalesce(j.state in ${activeJobStatesSql}, false))
      -- offset 0 keeps the facts a subquery of their own: pulled up, the failure's subquery
      -- would be copied into (and run by) each case below
      offset 0) facts
    where ${guard}`;
}

/** The states settling may end an experiment in (the targets of `experimentOutcome`). */
const settlementTargets: ExperimentState[] = ['completed', 'failed', 'canceled'];

function sqlList(values: readonly string[]): string {
  return `(${values.map((value) => `'${value}'`).join(', ')})`;
}

/**
 * Stores the headline values stage-out read from an experiment's outputs (replacing those
 * of an earlier attempt). Only while the experiment is active: a settled experiment's
 * results do not change. Not a transition, so no event: the stage-out task's completion,
 * in the same run, is the event that tells clients to read the experiment again.
 */
export async function recordHeadlineValues(
  tx: Queryable,
  experimentId: string,
  values: HeadlineValue[],
): Promise<boolean> {
  const rows = await tx.query(
    `update experiments set headline_values = $2::jsonb
     where id = $1 and state in ${activeExperimentStatesSql} returning id`,
    [experimentId, JSON.stringify(values)],
  );
  return rows.length > 0;
}

// Reads the transitions above and their callers need.

/** The state an experiment is in now, or null when there is no such experiment. */
export async function currentState(db: Queryable, experimentId: string): Promise<ExperimentState | null> {
  const rows = await db.query<{ state: ExperimentState }>('select state from experiments where id = $1', [
    experimentId,
  ]);
  return rows[0]?.state ?? null;
}

/** The experiments being canceled (whose jobs the controller kills). */
export async function listCanceling(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ id: string }>(`select id from experiments where state = 'canceling'`);
  return rows.map((row) => row.id);
}

/** True when some experiment of the resource waits `blocked` for it (uses `experiments_blocked`). */
export async function hasBlockedExperiments(db: Queryable, gatewayId: string, resource: string): Promise<boolean> {
  const [{ blocked }] = await db.query<{ blocked: boolean }>(
    `select exists (select 1 from experiments where gateway_id = $1 and resource = $2 and state = 'blocked') as blocked`,
    [gatewayId, resource],
  );
  return blocked;
}

/** Where an experiment would run, for the per-user limit of its queue. */
export interface LaunchScope {
  ownerId: string;
  gatewayId: string;
  resource: string;
  queue: string;
}

/** The owner, resource and queue of an experiment, or null when there is none. */
export async function launchScope(db: Queryable, experimentId: string): Promise<LaunchScope | null> {
  const rows = await db.query<{ owner_id: string; gateway_id: string; resource: string; queue: string }>(
    `select owner_id, gateway_id, resource, settings->>'queue' as queue from experiments where id = $1`,
    [experimentId],
  );
  if (rows.length === 0) return null;
  return { ownerId: rows[0].owner_id, gatewayId: rows[0].gateway_id, resource: rows[0].resource, queue: rows[0].queue };
}
