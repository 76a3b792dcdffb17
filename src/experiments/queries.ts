/**
 * Experiments as users read them, in one place: the summary and detail read models, who
 * may see what, one experiment, the list with filters and cursor paging, and the run
 * context (an experiment with everything needed to run it). Writes are in commands.ts.
 */
import { isDeepStrictEqual } from 'node:util';
import { posix } from 'node:path';
import type { ApplicationSpec, InputValue } from '../domain/application.ts';
import { experimentStates, type ExperimentFailure, type ExperimentState } from '../domain/experiment.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import type { JobSettings, ResourceSpec } from '../domain/resource.ts';
import { uuidPattern } from '../domain/validate-inputs.ts';
import type { Principal } from '../catalogue/users.ts';
import { getApplication, getResource } from '../catalogue/catalogue.ts';
import type { Queryable } from '../store/port.ts';
import { latestJob, type JobRecord } from '../state/job-state.ts';
import type { CreatedExperiment } from '../state/experiment-state.ts';
import { listUploads } from '../state/uploads.ts';

/** An experiment as lists show it. */
export interface ExperimentSummary {
  id: string;
  name: string;
  owner: string;
  application: string;
  applicationVersion: string;
  resource: string;
  state: ExperimentState;
  blockedReason: string | null;
  /** When Drover next tries the resource a blocked experiment waits for. */
  blockedUntil: Date | null;
  failure: ExperimentFailure | null;
  parentId: string | null;
  createdAt: Date;
  updatedAt: Date;
  launchedAt: Date | null;
  finishedAt: Date | null;
}

/** One experiment with its inputs, settings, task DAG and job. */
export interface ExperimentDetail extends ExperimentSummary {
  inputs: Record<string, InputValue>;
  settings: JobSettings;
  /** Inputs that differ from the parent's (clones only). */
  changedInputs: string[];
  /** The DAG: each task with the ids of the tasks it waits for. */
  tasks: Array<{
    id: number;
    kind: string;
    state: string;
    attempt: number;
    dependsOn: number[];
    failure: unknown;
    startedAt: Date | null;
    finishedAt: Date | null;
  }>;
  job: JobRecord | null;
  lastEventSeq: number;
}

const summaryColumns = `e.id, e.name, u.name as owner, e.application, e.application_version, e.resource, e.state,
  e.blocked_reason, e.blocked_until, e.failure, e.parent_id, e.created_at, e.updated_at, e.launched_at, e.finished_at`;

function toSummary(row: any): ExperimentSummary {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    application: row.application,
    applicationVersion: row.application_version,
    resource: row.resource,
    state: row.state,
    blockedReason: row.blocked_reason,
    blockedUntil: row.blocked_until,
    failure: row.failure,
    parentId: row.parent_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    launchedAt: row.launched_at,
    finishedAt: row.finished_at,
  };
}

/** Visibility: users see their own experiments, admins their gateway's. */
function visibility(principal: Principal, params: unknown[]): string {
  params.push(principal.gatewayId);
  let clause = `e.gateway_id = $${params.length}`;
  if (principal.role !== 'admin') {
    params.push(principal.userId);
    clause += ` and e.owner_id = $${params.length}`;
  }
  return clause;
}

/** The summaries of those of `ids` the principal may see (for the live list). */
export async function getSummaries(db: Queryable, principal: Principal, ids: string[]): Promise<ExperimentSummary[]> {
  const wanted = ids.filter((id) => uuidPattern.test(id));
  if (wanted.length === 0) return [];
  const params: unknown[] = [wanted];
  const rows = await db.query<any>(
    `select ${summaryColumns} from experiments e join users u on u.id = e.owner_id
     where e.id = any($1::uuid[]) and ${visibility(principal, params)}`,
    params,
  );
  return rows.map(toSummary);
}

/** One experiment with its tasks and job; NotFoundError when missing or not visible. */
export async function getExperiment(db: Queryable, principal: Principal, id: string): Promise<ExperimentDetail> {
  if (!uuidPattern.test(id)) throw new NotFoundError(`experiment ${JSON.stringify(id)}`);
  const params: unknown[] = [id];
  const rows = await db.query<any>(
    `select ${summaryColumns}, e.inputs, e.settings, e.last_event_seq, p.inputs as parent_inputs
     from experiments e join users u on u.id = e.owner_id left join experiments p on p.id = e.parent_id
     where e.id = $1 and ${visibility(principal, params)}`,
    params,
  );
  if (rows.length === 0) throw new NotFoundError(`experiment ${id}`);
  const row = rows[0];
  const tasks = await db.query<any>(
    `select t.id, t.kind, t.state, t.attempt, t.failure, t.started_at, t.finished_at,
       coalesce((select array_agg(d.depends_on order by d.depends_on) from task_dependencies d where d.task_id = t.id), '{}') as depends_on
     from tasks t where t.experiment_id = $1 order by t.id`,
    [id],
  );
  const job = await latestJob(db, id);
  return {
    ...toSummary(row),
    inputs: row.inputs,
    settings: row.settings,
    changedInputs: changedInputs(row.parent_inputs, row.inputs),
    tasks: tasks.map((task) => ({
      id: task.id,
      kind: task.kind,
      state: task.state,
      attempt: task.attempt,
      dependsOn: task.depends_on.map(Number),
      failure: task.failure,
      startedAt: task.started_at,
      finishedAt: task.finished_at,
    })),
    job,
    lastEventSeq: row.last_event_seq,
  };
}

/** The inputs whose values differ from the parent's, sorted (none without a parent). */
function changedInputs(parentInputs: Record<string, unknown> | null, inputs: Record<string, unknown>): string[] {
  if (!parentInputs) return [];
  return [...new Set([...Object.keys(parentInputs), ...Object.keys(inputs)])]
    .filter((name) => !isDeepStrictEqual(parentInputs[name], inputs[name]))
    .sort();
}

/**
 * A new experiment as getExperiment would read it right after its creation, built from
 * what the creating statement returned (no read back): `owner` is the creator's name,
 * `parentInputs` the inputs of the experiment it was cloned from, if any.
 */
export function createdDetail(
  created: CreatedExperiment,
  owner: string,
  parentInputs: Record<string, unknown> | null,
): ExperimentDetail {
  const { row } = created;
  return {
    ...createdSummary(created, owner),
    inputs: row.inputs as Record<string, InputValue>,
    settings: row.settings as JobSettings,
    changedInputs: changedInputs(parentInputs, row.inputs),
    tasks: created.tasks.map((task) => ({
      id: task.id,
      kind: task.kind,
      state: task.state,
      attempt: 0,
      dependsOn: task.dependsOn,
      failure: null,
      startedAt: null,
      finishedAt: null,
    })),
    job: null,
    lastEventSeq: row.last_event_seq,
  };
}

/** A new experiment's summary, as getSummaries would read it right after its creation. */
export function createdSummary(created: CreatedExperiment, owner: string): ExperimentSummary {
  return toSummary({ ...created.row, owner });
}

/** Filters for listing experiments. */
export interface ExperimentFilter {
  state?: string[];
  application?: string;
  resource?: string;
  owner?: string;
  /** Text found in the id, name, application, an input value or an uploaded file's name. */
  text?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  parentId?: string;
  cursor?: string;
  /** Page size, 1-200 (default 50). */
  limit?: number;
}

/** Lists experiments newest first, with an opaque cursor for the next page. */
export async function listExperiments(
  db: Queryable,
  principal: Principal,
  filter: ExperimentFilter,
): Promise<{ items: ExperimentSummary[]; nextCursor: string | null }> {
  const params: unknown[] = [];
  const where = [visibility(principal, params)];
  const add = (clause: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filter.state?.length) {
    const unknown = filter.state.filter((state) => !(experimentStates as readonly string[]).includes(state));
    if (unknown.length > 0)
      throw new ValidationError('invalid filter', [
        { field: 'state', message: `unknown state ${unknown.join(', ')}; states: ${experimentStates.join(', ')}` },
      ]);
    add((p) => `e.state = any(${p}::text[])`, filter.state);
  }
  if (filter.application) add((p) => `e.application = ${p}`, filter.application);
  if (filter.resource) add((p) => `e.resource = ${p}`, filter.resource);
  // The owner's id first, so that experiments_by_owner answers (a join on the name walked
  // the whole gateway's index).
  if (filter.owner) {
    params.push(principal.gatewayId);
    const gateway = `$${params.length}`;
    add(
      (p) => `e.owner_id = (select o.id from users o where o.gateway_id = ${gateway} and o.name = ${p})`,
      filter.owner,
    );
  }
  if (filter.parentId) {
    // Compared as a uuid so that the parent index answers; no experiment has a parent
    // that is not one.
    if (uuidPattern.test(filter.parentId)) add((p) => `e.parent_id = ${p}::uuid`, filter.parentId);
    else where.push('false');
  }
  if (filter.text)
    // experiment_search (migration 0005) holds the id, name, application, input values and
    // uploaded file names; its trigram index answers the ilike.
    add(
      (p) => `e.id in (select s.experiment_id from experiment_search s where s.search_text ilike ${p})`,
      `%${filter.text.replace(/[\\%_]/g, (c) => '\\' + c)}%`,
    );
  if (filter.createdAfter) add((p) => `e.created_at >= ${p}`, filter.createdAfter);
  if (filter.createdBefore) add((p) => `e.created_at < ${p}`, filter.createdBefore);
  if (filter.cursor) {
    const cursor = decodeCursor(filter.cursor);
    params.push(cursor.createdAt, cursor.id);
    where.push(`(e.created_at, e.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
  params.push(limit + 1);
  const rows = await db.query<any>(
    // cursor_at: created_at to the microsecond (a Date keeps milliseconds, and a bulk
    // creation's experiments are a microsecond apart), so that no row is skipped.
    `select ${summaryColumns},
       to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at
     from experiments e join users u on u.id = e.owner_id
     where ${where.join(' and ')} order by e.created_at desc, e.id desc limit $${params.length}`,
    params,
  );
  const items = rows.slice(0, limit).map(toSummary);
  const last = rows.length > limit ? rows[limit - 1] : null;
  return { items, nextCursor: last ? encodeCursor(last.cursor_at, last.id) : null };
}

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt)) || !uuidPattern.test(id))
      throw new Error();
    return { createdAt, id };
  } catch {
    throw new ValidationError('invalid cursor', [
      { field: 'cursor', message: 'use the nextCursor of a previous page' },
    ]);
  }
}

/** An experiment with everything needed to run it. */
export interface RunContext {
  experimentId: string;
  gatewayId: string;
  ownerId: string;
  state: string;
  application: ApplicationSpec;
  resource: ResourceSpec;
  inputs: Record<string, InputValue>;
  settings: JobSettings;
  /** Upload id and file name per file input. */
  files: Record<string, { uploadId: string; filename: string }>;
  /** The job's working directory on the resource. */
  workdir: string;
}

/** An experiment with its application, resource, uploads and working directory (submit, logs, script preview). */
export async function loadRunContext(db: Queryable, experimentId: string): Promise<RunContext> {
  const rows = await db.query<any>(
    'select id, gateway_id, owner_id, state, application, resource, inputs, settings from experiments where id = $1',
    [experimentId],
  );
  if (rows.length === 0) throw new NotFoundError(`experiment ${experimentId}`);
  const row = rows[0];
  const application = await getApplication(db, row.gateway_id, row.application);
  const resource = await getResource(db, row.gateway_id, row.resource);
  const fileInputs = application.inputs.filter(
    (input) => input.type === 'file' && row.inputs[input.name] !== undefined,
  );
  const files: RunContext['files'] = {};
  if (fileInputs.length > 0) {
    const uploads = await listUploads(
      db,
      fileInputs.map((input) => row.inputs[input.name]),
    );
    for (const input of fileInputs) {
      const upload = uploads.find((candidate) => candidate.id === row.inputs[input.name]);
      if (upload) files[input.name] = { uploadId: upload.id, filename: upload.filename };
    }
  }
  return {
    experimentId,
    gatewayId: row.gateway_id,
    ownerId: row.owner_id,
    state: row.state,
    application,
    resource,
    inputs: row.inputs,
    settings: row.settings,
    files,
    workdir: posix.join(resource.config.scratchDir, experimentId),
  };
}
