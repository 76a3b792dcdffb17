/**
 * Job transitions. Observations from a scheduler may be stale or out of order; the
 * allowed-transition table in domain/job.ts decides, and the SQL guard enforces it, so a
 * late `RUNNING` never moves a finished job backwards.
 */
import {
  activeJobStatesSql,
  jobStatesBefore,
  isTerminalJobState,
  terminalJobStatesSql,
  type JobState,
} from '../domain/job.ts';
import type { JobObservation } from '../batch/port.ts';
import type { JobProgress } from '../domain/progress.ts';
import type { Queryable } from '../store/port.ts';
import { appendEvents, type NewEvent } from './events.ts';

/** A job row as the controller and API use it. */
export interface JobRecord {
  id: number;
  experimentId: string;
  taskId: number;
  gatewayId: string;
  resource: string;
  submissionKey: string;
  nativeId: string | null;
  state: JobState;
  nativeState: string | null;
  reason: string | null;
  exitCode: number | null;
  queue: string | null;
  nodeList: string | null;
  workdir: string;
  details: Record<string, unknown>;
  cancelRequested: boolean;
  submittedAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  /** What the program last reported about its progress, once it has. */
  progress: JobProgress | null;
}

/** An active job as the controller polls it, with its application's progress template. */
export interface ActiveJob extends JobRecord {
  /** The application's `progress.pattern` from the catalogue, when it has one. */
  progressPattern: string | null;
}

/** A job's native state from its submit until the first poll observes it. */
export const submittedNativeState = 'submitted';

/** The channel that announces experiments whose job progress changed (payload: their ids, comma-separated). */
export const progressChannel = 'drover_progress';

export const jobColumns = `id, experiment_id, task_id, gateway_id, resource, submission_key, native_id, state, native_state,
  reason, exit_code, queue, node_list, workdir, details, cancel_requested, submitted_at, started_at, ended_at, progress`;

/** The same columns qualified with the alias `j`, for updates that join the old row. */
const qualifiedJobColumns = jobColumns
  .split(',')
  .map((column) => `j.${column.trim()}`)
  .join(', ');

export function toJobRecord(row: any): JobRecord {
  return {
    id: row.id,
    experimentId: row.experiment_id,
    taskId: row.task_id,
    gatewayId: row.gateway_id,
    resource: row.resource,
    submissionKey: row.submission_key,
    nativeId: row.native_id,
    state: row.state,
    nativeState: row.native_state,
    reason: row.reason,
    exitCode: row.exit_code,
    queue: row.queue,
    nodeList: row.node_list,
    workdir: row.workdir,
    details: row.details ?? {},
    cancelRequested: row.cancel_requested,
    submittedAt: row.submitted_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    progress: row.progress ?? null,
  };
}

/** A job the scheduler accepted (or that a retried submit adopted), as `recordSubmittedJobs` stores it. */
export interface SubmittedJobRecord {
  experimentId: string;
  taskId: number;
  gatewayId: string;
  resource: string;
  submissionKey: string;
  nativeId: string;
  queue: string;
  workdir: string;
  details: Record<string, unknown>;
  adopted: boolean;
  /**
   * When the submit command was sent; default now. A local job starts as it is submitted,
   * before it can be recorded: stored at record time, its start would come before its submission.
   */
  submittedAt?: Date;
}

/**
 * Records a job the scheduler accepted (or that a retried submit adopted). Idempotent on
 * the submission key: a second call for the same key changes nothing.
 */
export async function recordSubmittedJob(tx: Queryable, job: SubmittedJobRecord): Promise<JobRecord> {
  return (await recordSubmittedJobs(tx, [job]))[0];
}

/**
 * recordSubmittedJob for many jobs in three statements (the elements of a job array are
 * answered together): returns each job's record, in the order given. Keys must differ.
 */
export async function recordSubmittedJobs(tx: Queryable, jobs: SubmittedJobRecord[]): Promise<JobRecord[]> {
  if (jobs.length === 0) return [];
  const column = <T>(pick: (job: SubmittedJobRecord) => T) => jobs.map(pick);
  // $1..$10 one array per column, $11 the native state of a job just submitted
  const inserted = await tx.query(
    `insert into jobs (experiment_id, task_id, gateway_id, resource, submission_key, native_id, state, native_state, queue, workdir, details, submitted_at)
     select experiment_id, task_id, gateway_id, resource, submission_key, native_id, 'queued', $11, queue, workdir, details,
       coalesce(submitted_at, now())
     from unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
       $9::jsonb[], $10::timestamptz[])
       as x(experiment_id, task_id, gateway_id, resource, submission_key, native_id, queue, workdir, details, submitted_at)
     on conflict (submission_key) do nothing
     returning ${jobColumns}`,
    [
      column((job) => job.experimentId),
      column((job) => job.taskId),
      column((job) => job.gatewayId),
      column((job) => job.resource),
      column((job) => job.submissionKey),
      column((job) => job.nativeId),
      column((job) => job.queue),
      column((job) => job.workdir),
      column((job) => JSON.stringify(job.details)),
      column((job) => job.submittedAt ?? null),
      submittedNativeState,
    ],
  );
  const records = new Map(inserted.map((row) => [row.submission_key as string, toJobRecord(row)]));
  const fresh = jobs.filter((job) => records.has(job.submissionKey));
  // A key recorded before (a retried record) keeps its job and adds no event.
  const earlier = jobs.filter((job) => !records.has(job.submissionKey)).map((job) => job.submissionKey);
  if (earlier.length > 0) {
    const rows = await tx.query<any>(`select ${jobColumns} from jobs where submission_key = any($1::text[])`, [
      earlier,
    ]);
    for (const row of rows) records.set(row.submission_key, toJobRecord(row));
  }
  await appendEvents(
    tx,
    fresh.map((job) => ({
      experimentId: job.experimentId,
      entity: 'job',
      entityId: String(records.get(job.submissionKey)!.id),
      label: job.nativeId,
      fromState: 'submitting',
      toState: 'queued',
      message: job.adopted
        ? `adopted job ${job.nativeId} submitted by an earlier attempt`
        : `submitted as ${job.nativeId}`,
      data: { nativeId: job.nativeId, queue: job.queue, adopted: job.adopted },
    })),
  );
  return jobs.map((job) => records.get(job.submissionKey)!);
}

/**
 * SQL for the latest job of the experiment `experimentId` (a column or parameter) with
 * `columns`, as a subquery: for `left join lateral ... j on true`. An experiment's job is
 * its latest one (each submit attempt that made a job recorded one); `jobs_by_experiment`
 * (experiment_id, id desc) serves it.
 */
export function latestJobSql(experimentId: string, columns: string = jobColumns): string {
  return `(select ${columns} from jobs where experiment_id = ${experimentId} order by id desc limit 1)`;
}

/** The latest job of an experiment, or null before its submit recorded one. */
export async function latestJob(db: Queryable, experimentId: string): Promise<JobRecord | null> {
  const rows = await db.query(latestJobSql('$1'), [experimentId]);
  return rows.length > 0 ? toJobRecord(rows[0]) : null;
}

/** Active jobs (not terminal) of every resource, for the monitor's one pass, with their application's progress template. */
export async function listActiveJobs(db: Queryable): Promise<ActiveJob[]> {
  const rows = await db.query(
    `select ${qualifiedJobColumns}, a.spec->'progress'->>'pattern' as progress_pattern
     from jobs j join experiments e on e.id = j.experiment_id
       left join applications a on a.gateway_id = e.gateway_id and a.name = e.application
     where j.state in ${activeJobStatesSql} order by j.id`,
  );
  return rows.map((row) => ({ ...toJobRecord(row), progressPattern: (row.progress_pattern as string | null) ?? null }));
}

/**
 * Stores the progress jobs reported (only what changed: see domain/progress.ts
 * `mergeProgress`) in one statement, and announces their experiments on
 * `progressChannel` at commit, for the live streams. Not an event: progress changes
 * every poll while a job runs, and the event log is the experiment's history.
 */
export async function recordProgress(
  tx: Queryable,
  updates: Array<{ job: JobRecord; progress: JobProgress }>,
): Promise<void> {
  if (updates.length === 0) return;
  const ids = [...new Set(updates.map(({ job }) => job.experimentId))];
  const payloads: string[] = [];
  // A notification holds at most 8000 bytes: 100 ids a payload.
  for (let start = 0; start < ids.length; start += 100) payloads.push(ids.slice(start, start + 100).join(','));
  // $1 jsonb array of {id, progress}; $2 channel; $3 payloads. The update runs whatever the select reads.
  await tx.query(
    `with updated as (
       update jobs j set progress = u.progress
       from jsonb_to_recordset($1::jsonb) as u(id bigint, progress jsonb) where j.id = u.id)
     select pg_notify($2, payload) from unnest($3::text[]) as payload`,
    [JSON.stringify(updates.map(({ job, progress }) => ({ id: job.id, progress }))), progressChannel, payloads],
  );
}

/**
 * Records why a job that ran out of walltime or memory was not resubmitted (domain/resubmit.ts):
 * its experiment's failure message ends with it (settlementSql in experiment-state.ts).
 */
export async function recordResubmitRefusal(tx: Queryable, jobId: number, refusal: string): Promise<void> {
  await tx.query(`update jobs set resubmit_refusal = $2 where id = $1`, [jobId, refusal]);
}

/**
 * Asks for the active jobs of an experiment to be killed: the controller's next pass
 * cancels them on their resource (listJobsToCancel).
 */
export async function requestCancel(tx: Queryable, experimentId: string | string[]): Promise<void> {
  // An array: many experiments' jobs in one statement (a sweep's cancel).
  await tx.query(
    `update jobs set cancel_requested = true where experiment_id = any($1::uuid[]) and state in ${activeJobStatesSql}`,
    [Array.isArray(experimentId) ? experimentId : [experimentId]],
  );
}

/** Active jobs whose cancellation was requested and that have not ended yet. */
export async function listJobsToCancel(db: Queryable): Promise<JobRecord[]> {
  const rows = await db.query(
    `select ${jobColumns} from jobs where cancel_requested and state in ${activeJobStatesSql}`,
  );
  return rows.map(toJobRecord);
}

/**
 * Applies observations to jobs: moves allowed by the table are written with their events;
 * a change of native state or reason without a move is recorded too (the user sees
 * `PENDING (Priority)` change to `PENDING (Resources)`). Returns the jobs that reached a
 * terminal state.
 */
export async function applyObservations(
  tx: Queryable,
  observed: Array<{ job: JobRecord; observation: JobObservation }>,
): Promise<JobRecord[]> {
  const events: NewEvent[] = [];
  const finished: JobRecord[] = [];
  for (const { job, observation } of observed) {
    // `job` may be an outdated copy (read before the scheduler call): the SQL guard and the
    // row's real previous state decide, not the copy.
    const moves = observation.state !== job.state;
    const nativeChanged = observation.nativeState !== job.nativeState || (observation.reason ?? null) !== job.reason;
    if (!moves && !nativeChanged) continue;
    const sources = moves ? jobStatesBefore(observation.state) : [job.state];
    // $1 id, $2 state, $3 allowed sources, $4 native state, $5 reason, $6 exit code, $7 started, $8 ended, $9 nodes
    const rows = await tx.query(
      `update jobs j set state = $2, native_state = $4, reason = $5, exit_code = coalesce($6, j.exit_code),
         started_at = coalesce(j.started_at, $7::timestamptz, case when $2 = 'running' then now() end),
         ended_at = coalesce(j.ended_at, $8::timestamptz, case when $2 in ${terminalJobStatesSql} then now() end),
         node_list = coalesce($9, j.node_list), updated_at = now()
       from (select id, state as previous from jobs where id = $1 for update) old
       where j.id = old.id and j.state = any($3::text[])
       returning ${qualifiedJobColumns}, old.previous`,
      [
        job.id,
        observation.state,
        sources,
        observation.nativeState,
        observation.reason ?? null,
        observation.exitCode ?? null,
        observation.startedAt ?? null,
        observation.endedAt ?? null,
        observation.nodeList ?? null,
      ],
    );
    if (rows.length === 0) continue;
    const updated = toJobRecord(rows[0]);
    const previous = (rows[0] as { previous: JobState }).previous;
    const native = observation.reason ? `${observation.nativeState} (${observation.reason})` : observation.nativeState;
    events.push({
      experimentId: job.experimentId,
      entity: 'job',
      entityId: String(job.id),
      label: job.nativeId,
      fromState: previous,
      toState: updated.state,
      message:
        updated.state === 'failed' || updated.state === 'timed-out'
          ? `${native}, exit code ${updated.exitCode ?? 'unknown'}`
          : native,
      data: { nativeState: observation.nativeState, reason: observation.reason ?? null, exitCode: updated.exitCode },
    });
    if (previous !== updated.state && isTerminalJobState(updated.state)) finished.push(updated);
  }
  await appendEvents(tx, events);
  return finished;
}
