/**
 * The owner of `workers` rows (migration 0015): a worker's membership, from registration to
 * stopped or lost. Every write is guarded by the states domain/worker.ts allows. Putting a
 * gone worker's tasks back is task-state.ts's (returnTasksOfLostWorkers, handBackTasks),
 * called here in the same transaction.
 */
import {
  missedHeartbeatsBeforeLost,
  type WorkerCapabilities,
  type WorkerRegistration,
  type WorkerState,
} from '../domain/worker.ts';
import type { TaskKind } from '../domain/task.ts';
import type { Queryable } from '../store/port.ts';
import { handBackTasks, returnTasksOfLostWorkers } from './task-state.ts';

/**
 * Registers a worker as `active` with its capabilities: a new one, or one found lost that
 * is back (its row moves lost -> active, its capabilities as it says now).
 */
export async function registerWorker(db: Queryable, worker: WorkerRegistration): Promise<void> {
  // $1 id, $2 kinds, $3 resources, $4 concurrency, $5 version, $6 host, $7 pid, $8 heartbeat ms
  await db.query(
    `insert into workers (id, state, kinds, resources, concurrency, version, host, pid, heartbeat_ms)
     values ($1, 'active', $2::text[], $3::text[], $4, $5, $6, $7, $8)
     on conflict (id) do update set state = 'active', kinds = excluded.kinds, resources = excluded.resources,
       concurrency = excluded.concurrency, heartbeat_at = now(), stopped_at = null
     where workers.state = 'lost'`,
    [
      worker.id,
      worker.kinds,
      worker.resources,
      worker.concurrency,
      worker.version,
      worker.host,
      worker.pid,
      worker.heartbeatMs,
    ],
  );
}

/**
 * Records a heartbeat. Returns the worker's state, or null when it has no row: a worker
 * told `lost` (or null) should register again; its old tasks are someone else's now.
 */
export async function recordHeartbeat(db: Queryable, workerId: string): Promise<WorkerState | null> {
  const rows = await db.query<{ state: WorkerState }>(
    `update workers set heartbeat_at = case when state in ('active', 'stopping') then now() else heartbeat_at end
     where id = $1 returning state`,
    [workerId],
    { prepared: true },
  );
  return rows[0]?.state ?? null;
}

/** A draining worker: active -> stopping. It claims nothing from now on (the claim checks the row). */
export async function markStopping(db: Queryable, workerId: string): Promise<void> {
  await db.query(`update workers set state = 'stopping' where id = $1 and state = 'active'`, [workerId]);
}

/**
 * A worker leaves: the tasks of `handBack` it still holds go back to the queue unfinished
 * (not costing an attempt), and its row becomes `stopped`. Returns the ids handed back.
 */
export async function markStopped(tx: Queryable, workerId: string, handBack: number[]): Promise<number[]> {
  const returned = await handBackTasks(tx, workerId, handBack);
  await tx.query(
    `update workers set state = 'stopped', stopped_at = now() where id = $1 and state in ('active', 'stopping')`,
    [workerId],
  );
  return returned;
}

/**
 * The controller's look for silent workers: an active or stopping worker whose last
 * heartbeat is older than `missedHeartbeatsBeforeLost` of its own heartbeat intervals
 * becomes `lost`, and the tasks it held go back to the queue at once (without costing
 * their attempt). With `all`, every worker not stopped is lost (the embedded store at
 * start: the one process that could run them died). Returns the ids found lost.
 */
export async function markSilentWorkersLost(tx: Queryable, { all = false } = {}): Promise<string[]> {
  // $1 heartbeats missed, $2 every one
  const rows = await tx.query<{ id: string }>(
    `update workers set state = 'lost', stopped_at = now()
     where state in ('active', 'stopping')
       and ($2 or heartbeat_at < now() - $1 * heartbeat_ms * interval '1 millisecond')
     returning id`,
    [missedHeartbeatsBeforeLost, all],
  );
  const ids = rows.map((row) => row.id);
  await returnTasksOfLostWorkers(tx, ids);
  return ids;
}

/** Forgets stopped and lost workers that left more than `keepMs` ago (default a day). */
export async function forgetGoneWorkers(db: Queryable, keepMs = 24 * 3_600_000): Promise<number> {
  const rows = await db.query(
    `delete from workers where state in ('stopped', 'lost') and stopped_at < now() - $1 * interval '1 millisecond' returning id`,
    [keepMs],
  );
  return rows.length;
}

/** A task a worker is running, as the workers list shows it. */
export interface RunningTask {
  id: number;
  kind: TaskKind;
  experimentId: string;
  gatewayId: string;
  attempt: number;
  startedAt: Date;
}

/** A worker as listed: its registration, state, heartbeat, and what it runs now. */
export interface WorkerRecord extends WorkerCapabilities {
  id: string;
  state: WorkerState;
  concurrency: number;
  version: string;
  host: string;
  pid: number;
  heartbeatMs: number;
  startedAt: Date;
  lastHeartbeatAt: Date;
  /** Milliseconds since its last heartbeat, by the store's clock (no skew with the reader's). */
  heartbeatAgeMs: number;
  stoppedAt: Date | null;
  /** How many tasks it holds now. */
  runningTasks: number;
  /** The first `tasksShown` of them, oldest first. */
  tasks: RunningTask[];
}

/**
 * Every known worker (gone ones until forgetGoneWorkers removes them): active and stopping
 * first, then by start, newest first. Each with the count of tasks it holds and the first
 * `tasksShown` of them.
 */
export async function listWorkers(db: Queryable, tasksShown = 20): Promise<WorkerRecord[]> {
  const rows = await db.query<any>(
    `select w.id, w.state, w.kinds, w.resources, w.concurrency, w.version, w.host, w.pid, w.heartbeat_ms,
       w.started_at, w.heartbeat_at, w.stopped_at,
       (extract(epoch from now() - w.heartbeat_at) * 1000)::float8 as heartbeat_age_ms,
       (select count(*)::int from tasks t where t.state = 'running' and not t.detached and t.lease_owner = w.id) as running,
       coalesce((select json_agg(json_build_object('id', t.id, 'kind', t.kind, 'experimentId', t.experiment_id,
                   'gatewayId', e.gateway_id, 'attempt', t.attempt, 'startedAt', t.started_at) order by t.id)
                 from (select * from tasks t where t.state = 'running' and not t.detached and t.lease_owner = w.id
                       order by t.id limit $1) t join experiments e on e.id = t.experiment_id), '[]') as tasks
     from workers w
     order by w.state in ('active', 'stopping') desc, w.started_at desc, w.id`,
    [tasksShown],
  );
  return rows.map((row) => ({
    id: row.id,
    state: row.state,
    kinds: row.kinds,
    resources: row.resources,
    concurrency: row.concurrency,
    version: row.version,
    host: row.host,
    pid: row.pid,
    heartbeatMs: row.heartbeat_ms,
    startedAt: row.started_at,
    lastHeartbeatAt: row.heartbeat_at,
    heartbeatAgeMs: Math.max(0, Math.round(row.heartbeat_age_ms)),
    stoppedAt: row.stopped_at,
    runningTasks: row.running,
    tasks: row.tasks.map((task: any) => ({ ...task, id: Number(task.id), startedAt: new Date(task.startedAt) })),
  }));
}
