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
import type { HeadlineValue } from '../domain/headline-values.ts';
import type { ExperimentNotify } from '../domain/notification.ts';
import type { JobSettings, ResourceSpec } from '../domain/resource.ts';
import type { JobProgress } from '../domain/progress.ts';
import { uuidPattern } from '../domain/validate-inputs.ts';
import type { Principal } from '../catalogue/users.ts';
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
  /** The application's headline values as read after stage-out; empty before (or without any declared). */
  headlineValues: HeadlineValue[];
  /** How far the program in the latest job says it is, once it has said (domain/progress.ts), for a progress bar and an estimated end. */
  progress: ProgressSummary | null;
  /** Why a launched experiment has not started yet, and its place in line; null when it is not waiting. */
  waiting: { reason: string; place: number } | null;
  /** The owner's priority for it among their own waiting experiments, -5 to 5. */
  priority: number;
  /** The parameter sweep it is an element of, and its index there; null for an experiment of its own. */
  sweep: { id: string; index: number } | null;
}

/** A job's progress as lists show it: no named values, with what a bar and an estimated end need. */
export interface ProgressSummary extends Omit<JobProgress, 'values'> {
  jobStartedAt: string | null;
  jobEndedAt: string | null;
  walltimeMinutes: number | null;
}

/** One experiment with its inputs, settings, task DAG and job. */
export interface ExperimentDetail extends ExperimentSummary {
  inputs: Record<string, InputValue>;
  /** File input name to the name of the file uploaded for it (its value is the upload's id). */
  inputFiles: Record<string, string>;
  settings: JobSettings;
  /** Inputs that differ from the parent's (clones only). */
  changedInputs: string[];
  /** Why Drover chose its resource, when it was created with resource `auto` (else null). */
  resourceChoice: string | null;
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
  /** Its own choice of notifications over its owner's defaults; null: the defaults. */
  notify: ExperimentNotify | null;
  /** Which run it is in: 1, then one more at each resume (commands.ts resumeExperiment). */
  run: number;
  /** Its job's automatic resubmits in this run, for lack of walltime or memory (domain/resubmit.ts). */
  resubmits: number;
}

/**
 * The summary's columns. `progress` comes from the latest job (jobs_by_experiment, one
 * probe per row shown), without the named values, which only the detail carries.
 */
const summaryColumns = `e.id, e.name, u.name as owner, e.application, e.application_version, e.resource, e.state,
  e.blocked_reason, e.blocked_until, e.failure, e.parent_id, e.created_at, e.updated_at, e.launched_at, e.finished_at,
  e.headline_values, e.waiting_reason, e.waiting_place, e.priority, e.sweep_id, e.sweep_index,
  (select case when j.progress is not null then (j.progress - 'values') || jsonb_build_object(
       'jobStartedAt', j.started_at, 'jobEndedAt', j.ended_at, 'walltimeMinutes', e.settings->'walltimeMinutes') end
     from jobs j where j.experiment_id = e.id order by j.id desc limit 1) as progress`;

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
    headlineValues: row.headline_values ?? [],
    progress: row.progress ?? null,
    waiting: row.waiting_reason ? { reason: row.waiting_reason, place: row.waiting_place } : null,
    priority: row.priority ?? 0,
    sweep: row.sweep_id ? { id: row.sweep_id, index: row.sweep_index } : null,
  };
}

/**
 * Visibility: users see their own experiments, admins their gateway's; the same for the
 * rows of `table` (an alias of a table with gateway_id and owner_id: sweeps `s`), whose
 * values are pushed on `params`.
 */
export function visibility(principal: Principal, params: unknown[], table = 'e'): string {
  params.push(principal.gatewayId);
  let clause = `${table}.gateway_id = $${params.length}`;
  if (principal.role !== 'admin') {
    params.push(principal.userId);
    clause += ` and ${table}.owner_id = $${params.length}`;
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
    `select ${summaryColumns}, e.inputs, e.settings, e.last_event_seq, e.notify, e.run, e.resubmits, p.inputs as parent_inputs,
       (select ev.data->'resourceChoice'->>'summary' from events ev where ev.experiment_id = e.id and ev.seq = 1) as resource_choice,
       -- The owner's uploads that inputs name: file inputs hold an upload's id.
       (select coalesce(jsonb_object_agg(i.key, f.filename), '{}') from jsonb_each_text(e.inputs) i
         join uploads f on f.owner_id = e.owner_id
          and f.id = case when i.value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then i.value::uuid end) as input_files
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
    inputFiles: row.input_files,
    settings: row.settings,
    changedInputs: changedInputs(row.parent_inputs, row.inputs),
    resourceChoice: row.resource_choice ?? null,
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
    notify: row.notify,
    run: row.run,
    resubmits: row.resubmits,
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
 * `parentInputs` the inputs of the experiment it was cloned from, if any, `inputFiles` the
 * names of the files its file inputs name, `resourceChoice` why Drover chose its resource (`auto`).
 */
export function createdDetail(
  created: CreatedExperiment,
  owner: string,
  parentInputs: Record<string, unknown> | null,
  inputFiles: Record<string, string>,
  resourceChoice: string | null = null,
): ExperimentDetail {
  const { row } = created;
  return {
    ...createdSummary(created, owner),
    inputs: row.inputs as Record<string, InputValue>,
    inputFiles,
    settings: row.settings as JobSettings,
    changedInputs: changedInputs(parentInputs, row.inputs),
    resourceChoice,
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
    notify: row.notify,
    run: 1,
    resubmits: 0,
  };
}

/** A new experiment's summary, as getSummaries would read it right after its creation. */
export function createdSummary(created: CreatedExperiment, owner: string): ExperimentSummary {
  return toSummary({ ...created.row, owner });
}

/** One element of a sweep: its newest experiment, and the older ones at its index (resubmitted). */
export interface SweepElementRecord {
  experiment: ExperimentSummary & { inputs: Record<string, InputValue> };
  /** The ids of the older experiments at this index, newest first (each was resubmitted). */
  previous: string[];
}

/**
 * The elements of sweep `sweepId` in index order: at each index the newest experiment (a
 * resubmission of a failed one is newer) with its inputs, and the ids of the older ones.
 * The caller has checked that the principal may see the sweep: its elements are its owner's.
 */
export async function listSweepElements(db: Queryable, sweepId: string): Promise<SweepElementRecord[]> {
  // $1 the sweep: all its experiments, newest first per index (experiments_by_sweep).
  const rows = await db.query<any>(
    `select ${summaryColumns}, e.inputs from experiments e join users u on u.id = e.owner_id
     where e.sweep_id = $1 order by e.sweep_index, e.created_at desc, e.id desc`,
    [sweepId],
  );
  const elements: SweepElementRecord[] = [];
  for (const row of rows) {
    const last = elements.at(-1);
    if (last && last.experiment.sweep!.index === row.sweep_index) last.previous.push(row.id);
    else elements.push({ experiment: { ...toSummary(row), inputs: row.inputs }, previous: [] });
  }
  return elements;
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

/** The conditions of a list's filters (not its cursor), as listExperiments and countExperiments ask them. */
interface ListConditions {
  params: unknown[];
  placeholder: (value: unknown) => string;
  /** Conditions on columns that experiments and experiment_search both hold (e. or s.). */
  shared: Array<(table: 'e' | 's') => string>;
  /** Conditions on experiments alone. */
  where: string[];
  states: string[];
}

/** @throws {ValidationError} naming an unknown state. */
function listConditions(principal: Principal, filter: ExperimentFilter): ListConditions {
  const params: unknown[] = [];
  const placeholder = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const shared: Array<(table: 'e' | 's') => string> = [];
  const where: string[] = [];
  const gateway = placeholder(principal.gatewayId);
  shared.push((t) => `${t}.gateway_id = ${gateway}`);
  if (principal.role !== 'admin') {
    const owner = placeholder(principal.userId);
    shared.push((t) => `${t}.owner_id = ${owner}`);
  }
  let states: string[] = [];
  if (filter.state?.length) {
    const unknown = filter.state.filter((state) => !(experimentStates as readonly string[]).includes(state));
    if (unknown.length > 0)
      throw new ValidationError('invalid filter', [
        { field: 'state', message: `unknown state ${unknown.join(', ')}; states: ${experimentStates.join(', ')}` },
      ]);
    states = [...new Set(filter.state)];
  }
  if (filter.application) {
    const application = placeholder(filter.application);
    shared.push((t) => `${t}.application = ${application}`);
  }
  if (filter.resource) {
    const resource = placeholder(filter.resource);
    shared.push((t) => `${t}.resource = ${resource}`);
  }
  // The owner's id first, so that experiments_by_owner answers (a join on the name walked
  // the whole gateway's index).
  if (filter.owner) {
    const owner = `(select o.id from users o where o.gateway_id = ${gateway} and o.name = ${placeholder(filter.owner)})`;
    shared.push((t) => `${t}.owner_id = ${owner}`);
  }
  if (filter.parentId) {
    // Compared as a uuid so that the parent index answers; no experiment has a parent
    // that is not one.
    if (uuidPattern.test(filter.parentId)) where.push(`e.parent_id = ${placeholder(filter.parentId)}::uuid`);
    else where.push('false');
  }
  if (filter.createdAfter) {
    const after = placeholder(filter.createdAfter);
    shared.push((t) => `${t}.created_at >= ${after}`);
  }
  if (filter.createdBefore) {
    const before = placeholder(filter.createdBefore);
    shared.push((t) => `${t}.created_at < ${before}`);
  }
  return { params, placeholder, shared, where, states };
}

/**
 * Lists experiments newest first (created_at, then id, descending), with an opaque cursor
 * for the next page. Users see their own experiments, admins their gateway's.
 *
 * Query shapes (issue 11, migration 0006), all giving the same rows in the same order:
 * - Text (`q`) with no state or parent filter: the page is cut in `experiment_search`,
 *   whose rows carry the experiment's gateway, owner, application, resource and creation
 *   time (none of which ever changes), then only the page's experiments are read. The
 *   planner finds a rare text's matches in the GIN index (owner, application, resource
 *   and trigrams), or walks `experiment_search_by_gateway` / `_by_owner` for a common one.
 * - Text with a state or parent: the experiments whose search row matches (the same
 *   conditions on experiment_search), the state or parent checked on each.
 * - Several states (and no text): one branch per state, each read in list order from its
 *   own index range and cut at the page size; the page is the newest of those rows.
 */
export async function listExperiments(
  db: Queryable,
  principal: Principal,
  filter: ExperimentFilter,
): Promise<{ items: ExperimentSummary[]; nextCursor: string | null }> {
  const { params, placeholder, shared, where, states } = listConditions(principal, filter);
  if (filter.cursor) {
    const cursor = decodeCursor(filter.cursor);
    const at = placeholder(cursor.createdAt);
    const id = placeholder(cursor.id);
    shared.push(
      (t) => `(${t}.created_at, ${t}.${t === 's' ? 'experiment_id' : 'id'}) < (${at}::timestamptz, ${id}::uuid)`,
    );
  }
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
  const rowLimit = placeholder(limit + 1);
  const order = 'order by e.created_at desc, e.id desc';
  // cursor_at: created_at to the microsecond (a Date keeps milliseconds, and a bulk
  // creation's experiments are a microsecond apart), so that no row is skipped.
  const columns = `${summaryColumns},
       to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`;
  if (filter.text) {
    const matches = [...shared.map((condition) => condition('s')), ...textConditions(filter.text, placeholder)].join(
      ' and ',
    );
    if (states.length === 0 && where.length === 0) {
      // Every filter is one the search row holds: the page is cut in experiment_search
      // (by its GIN index for a rare word, or walking its list-order index for a common
      // one), and only the page's experiments are read.
      const page = `select s.experiment_id from experiment_search s where ${matches}
        order by s.created_at desc, s.experiment_id desc limit ${rowLimit}`;
      const rows = await db.query<any>(
        `select ${columns} from (${page}) m join experiments e on e.id = m.experiment_id
         join users u on u.id = e.owner_id ${order} limit ${rowLimit}`,
        params,
      );
      return toPage(rows, limit);
    }
    // With a state or a parent (which the search row does not hold), the planner picks:
    // the matches first (the GIN index narrows them by owner, application and resource),
    // or the experiments in list order, each probed in experiment_search.
    where.push(`e.id in (select s.experiment_id from experiment_search s where ${matches})`);
  }
  where.unshift(...shared.map((condition) => condition('e')));
  let sql: string;
  if (states.length > 1 && !filter.text) {
    // Each state's newest rows from its own index range; the page is the newest of those.
    // (With a text the matches come first, or the list is walked, as for one state.)
    const branches = states.map(
      (state) =>
        `(select e.* from experiments e where ${[...where, `e.state = ${placeholder(state)}`].join(' and ')} ${order} limit ${rowLimit})`,
    );
    sql = `select ${columns} from (${branches.join(' union all ')}) e join users u on u.id = e.owner_id ${order} limit ${rowLimit}`;
  } else {
    if (states.length === 1) where.push(`e.state = ${placeholder(states[0])}`);
    else if (states.length > 1) where.push(`e.state = any(${placeholder(states)}::text[])`);
    sql = `select ${columns} from experiments e join users u on u.id = e.owner_id where ${where.join(' and ')} ${order} limit ${rowLimit}`;
  }
  return toPage(await db.query<any>(sql, params), limit);
}

/** Counts above this are not finished: the answer is "more than 10,000". */
export const experimentCountCap = 10_000;

/**
 * How many experiments match `filter` (its cursor and limit aside), counting no further
 * than `experimentCountCap`: a list's "21-40 of 1,234" costs at most that many index
 * entries, however many experiments the gateway holds.
 *
 * @returns the count, and whether it stopped at the cap (there are more)
 * @throws {ValidationError} naming an unknown state.
 */
export async function countExperiments(
  db: Queryable,
  principal: Principal,
  filter: Omit<ExperimentFilter, 'cursor' | 'limit'>,
): Promise<{ count: number; capped: boolean }> {
  const { params, placeholder, shared, where, states } = listConditions(principal, filter);
  const cap = placeholder(experimentCountCap + 1);
  let matching: string;
  if (filter.text && states.length === 0 && where.length === 0) {
    const matches = [...shared.map((condition) => condition('s')), ...textConditions(filter.text, placeholder)];
    matching = `select 1 from experiment_search s where ${matches.join(' and ')} limit ${cap}`;
  } else {
    if (filter.text) {
      const matches = [...shared.map((condition) => condition('s')), ...textConditions(filter.text, placeholder)];
      where.push(`e.id in (select s.experiment_id from experiment_search s where ${matches.join(' and ')})`);
    }
    if (states.length > 0) where.push(`e.state = any(${placeholder(states)}::text[])`);
    matching = `select 1 from experiments e where ${[...shared.map((condition) => condition('e')), ...where].join(' and ')} limit ${cap}`;
  }
  const rows = await db.query<{ n: number }>(`select count(*)::int as n from (${matching}) m`, params);
  const counted = rows[0].n;
  return { count: Math.min(counted, experimentCountCap), capped: counted > experimentCountCap };
}

/**
 * The conditions on `s.search_text` for `text`, as a substring ignoring case.
 *
 * The trigram index is asked for each word of the text (a run of at least 3 ASCII letters
 * or digits, any substring of the text being implied by it) as a condition of its own,
 * those with digits then the longest first, at most 4; the whole text is then checked
 * on the matches. Asked for the whole text at once, the GIN index reads every posting list
 * of the text's trigrams from start to end whenever one of them is in most rows (the
 * `sample` of `sample-12345`); asked word by word, a rare word's few matches are looked up
 * in the common word's lists. A text without such a word is asked as it is.
 */
function textConditions(text: string, placeholder: (value: unknown) => string): string[] {
  const like = (value: string) => `%${value.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
  const words = [...new Set((text.match(/[a-z0-9]{3,}/gi) ?? []).map((word) => word.toLowerCase()))]
    .sort((a, b) => Number(/\d/.test(b)) - Number(/\d/.test(a)) || b.length - a.length)
    .slice(0, 4);
  if (words.length === 0 || (words.length === 1 && words[0] === text.toLowerCase()))
    return [`s.search_text ilike ${placeholder(like(text))}`];
  // coalesce keeps the whole text out of the index condition (it would bring every trigram back).
  return [
    ...words.map((word) => `s.search_text ilike ${placeholder(like(word))}`),
    `coalesce(s.search_text ilike ${placeholder(like(text))}, false)`,
  ];
}

/** The page of `limit` items and the cursor after it, from up to `limit + 1` rows. */
function toPage(rows: any[], limit: number): { items: ExperimentSummary[]; nextCursor: string | null } {
  const items = rows.slice(0, limit).map(toSummary);
  const last = rows.length > limit ? rows[limit - 1] : null;
  return { items, nextCursor: last ? encodeCursor(last.cursor_at, last.id) : null };
}

/** A list cursor: the last row's creation time (to the microsecond) and id (sweeps' lists use it too). */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

/** The creation time and id of a list cursor. @throws {ValidationError} naming `cursor` for one that is not. */
export function decodeCursor(cursor: string): { createdAt: string; id: string } {
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
  /** The parameter sweep it is an element of (its elements may be submitted together), or null. */
  sweepId: string | null;
  /** Its index in that sweep (0 first), or null. */
  sweepIndex: number | null;
  /** How many elements that sweep has, or null. */
  sweepSize: number | null;
}

/** An experiment with its application, resource, uploads and working directory (submit, logs, script preview). */
export async function loadRunContext(db: Queryable, experimentId: string): Promise<RunContext> {
  // One round trip for the experiment, its application and resource and its sweep's size:
  // every task of every experiment opens its context, a 1,000-element sweep 3,000 times.
  const rows = await db.query<any>(
    `select e.id, e.gateway_id, e.owner_id, e.state, e.application, e.resource, e.inputs, e.settings, e.sweep_id,
       e.sweep_index, a.spec as application_spec, r.kind as resource_kind, r.config as resource_config,
       s.element_count as sweep_size
     from experiments e
       left join applications a on a.gateway_id = e.gateway_id and a.name = e.application
       left join resources r on r.gateway_id = e.gateway_id and r.name = e.resource
       left join sweeps s on s.id = e.sweep_id
     where e.id = $1`,
    [experimentId],
  );
  if (rows.length === 0) throw new NotFoundError(`experiment ${experimentId}`);
  const row = rows[0];
  if (!row.application_spec) throw new NotFoundError(`application ${JSON.stringify(row.application)}`);
  if (!row.resource_kind) throw new NotFoundError(`resource ${JSON.stringify(row.resource)}`);
  const application: ApplicationSpec = row.application_spec;
  const resource: ResourceSpec = {
    gatewayId: row.gateway_id,
    name: row.resource,
    kind: row.resource_kind,
    config: row.resource_config,
  };
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
    sweepId: row.sweep_id,
    sweepIndex: row.sweep_index,
    sweepSize: row.sweep_size ?? null,
  };
}
