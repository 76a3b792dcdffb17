/**
 * Experiments as users see them: create (validated before anything is stored), launch,
 * get, list with filters and cursor paging, cancel, clone and delete a draft.
 */
import { isDeepStrictEqual } from 'node:util';
import { controlCharacterPattern, loneSurrogatePattern, type InputValue } from '../domain/application.ts';
import { experimentStates, type ExperimentState } from '../domain/experiment.ts';
import { ConflictError, ForbiddenError, LimitReachedError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { experimentDag } from '../domain/task.ts';
import { validateInputs, type FieldProblem } from '../domain/validate-inputs.ts';
import { resolveJobSettings, type JobSettings } from '../domain/resource.ts';
import { deploymentFor } from '../domain/render-command.ts';
import type { Principal } from '../catalogue/users.ts';
import { getApplication, getResource, registeredByOperator } from '../catalogue/catalogue.ts';
import type { Queryable, Store } from '../store/port.ts';
import { moveExperiment } from '../state/experiment-state.ts';
import { appendEvents } from '../state/events.ts';
import { cancelOpenTasks, createTasks, finishExperiments } from '../state/task-state.ts';
import { jobColumns, toJobRecord, type JobRecord } from '../state/job-state.ts';

/** What a user sends to create an experiment. */
export interface ExperimentRequest {
  application: string;
  resource: string;
  name?: string;
  inputs?: Record<string, unknown>;
  queue?: string;
  nodes?: number;
  coresPerNode?: number;
  walltimeMinutes?: number;
  memoryMb?: number;
  /** Launch at once (default true); false keeps a `created` draft to preview and edit. */
  launch?: boolean;
}

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
  failure: { code: string; message: string } | null;
  parentId: string | null;
  createdAt: Date;
  updatedAt: Date;
  launchedAt: Date | null;
  finishedAt: Date | null;
}

export interface ExperimentDetail extends ExperimentSummary {
  inputs: Record<string, InputValue>;
  settings: JobSettings;
  /** Inputs that differ from the parent's (clones only). */
  changedInputs: string[];
  /** The DAG: each task with the ids of the tasks it waits for. */
  tasks: Array<{ id: number; kind: string; state: string; attempt: number; dependsOn: number[]; failure: unknown; startedAt: Date | null; finishedAt: Date | null }>;
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

/** Validates a request against the catalogue; throws a ValidationError listing every bad field. */
async function validateRequest(db: Queryable, principal: Principal, request: ExperimentRequest) {
  const problems: FieldProblem[] = [];
  if (typeof request.application !== 'string' || !request.application) problems.push({ field: 'application', message: 'is required' });
  if (typeof request.resource !== 'string' || !request.resource) problems.push({ field: 'resource', message: 'is required' });
  if (problems.length > 0) throw new ValidationError('invalid experiment', problems, 'invalid-experiment');
  const application = await getApplication(db, principal.gatewayId, request.application).catch((error) => {
    if (error instanceof NotFoundError) {
      throw new ValidationError(`unknown application ${JSON.stringify(request.application)}`, [
        { field: 'application', message: 'no such application in this gateway (GET /api/v1/applications lists them)' },
      ], 'invalid-experiment');
    }
    throw error;
  });
  const resource = await getResource(db, principal.gatewayId, request.resource).catch((error) => {
    if (error instanceof NotFoundError) {
      throw new ValidationError(`unknown resource ${JSON.stringify(request.resource)}`, [
        { field: 'resource', message: 'no such resource in this gateway (GET /api/v1/resources lists them)' },
      ], 'invalid-experiment');
    }
    throw error;
  });
  if (resource.kind === 'local' && !(await registeredByOperator(db, principal.gatewayId, application.name))) {
    throw new ForbiddenError(`application ${application.name} may not run on ${resource.name}`, [
      { field: 'resource', message: `${resource.name} runs programs on the Drover host, which only applications the platform operator registered may do` },
    ]);
  }
  const deployment = deploymentFor(application, resource.name);
  const inputs = validateInputs(application, request.inputs);
  problems.push(...inputs.problems);
  const uploadIds = Object.values(inputs.uploads);
  if (uploadIds.length > 0) {
    const found = await db.query<{ id: string }>('select id from uploads where id = any($1::uuid[]) and owner_id = $2', [uploadIds, principal.userId]);
    const known = new Set(found.map((row) => row.id));
    for (const [name, id] of Object.entries(inputs.uploads)) {
      if (!known.has(id)) problems.push({ field: `inputs.${name}`, message: `no upload ${id} of yours` });
    }
  }
  const { settings, problems: settingProblems } = resolveJobSettings(resource, deployment, {
    queue: request.queue,
    nodes: request.nodes,
    coresPerNode: request.coresPerNode,
    walltimeMinutes: request.walltimeMinutes,
    memoryMb: request.memoryMb,
  });
  problems.push(...settingProblems);
  if (request.name !== undefined && (typeof request.name !== 'string' || request.name.length > 200)) {
    problems.push({ field: 'name', message: 'must be a string of at most 200 characters' });
  } else if (request.name !== undefined && (controlCharacterPattern.test(request.name) || loneSurrogatePattern.test(request.name))) {
    problems.push({ field: 'name', message: 'must be one line of text without control characters' });
  }
  if (problems.length > 0) throw new ValidationError('invalid experiment', problems, 'invalid-experiment');
  return { application, resource, values: inputs.values, settings };
}

/** Creates an experiment (and launches it unless `launch: false`). A 201 means it is stored. */
export async function createExperiment(store: Store, principal: Principal, request: ExperimentRequest, parentId: string | null = null): Promise<ExperimentDetail> {
  const { application, resource, values, settings } = await validateRequest(store, principal, request);
  const id = await store.transaction(async (tx) => {
    const rows = await tx.query<{ id: string }>(
      `insert into experiments (gateway_id, owner_id, name, application, application_version, resource, inputs, settings, parent_id)
       values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9) returning id`,
      [
        principal.gatewayId,
        principal.userId,
        request.name || `${application.name} ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`,
        application.name,
        application.version,
        resource.name,
        JSON.stringify(values),
        JSON.stringify(settings),
        parentId,
      ],
    );
    const experimentId = rows[0].id;
    await appendEvents(tx, [
      {
        experimentId,
        entity: 'experiment',
        entityId: experimentId,
        toState: 'created',
        message: parentId ? `cloned from ${parentId}` : `created by ${principal.name}`,
        data: { parentId },
      },
    ]);
    if (request.launch !== false) await launchInTransaction(tx, experimentId);
    return experimentId;
  });
  return getExperiment(store, principal, id);
}

async function launchInTransaction(tx: Queryable, experimentId: string): Promise<void> {
  await checkJobsPerUser(tx, experimentId);
  const previous = await moveExperiment(tx, experimentId, 'queued', { from: ['created'], message: 'launched' });
  if (previous === null) throw new ConflictError('only a created experiment can be launched', [], 'invalid-state');
  await createTasks(tx, experimentId, experimentDag);
}

/**
 * Refuses a launch (a LimitReachedError, `queue-limit`) when the owner already has the
 * queue's `maxJobsPerUser` experiments active on that resource and queue. The owner's row is locked first, so two
 * launches at once cannot both take the last place.
 */
async function checkJobsPerUser(tx: Queryable, experimentId: string): Promise<void> {
  const rows = await tx.query<{ owner_id: string; gateway_id: string; resource: string; queue: string }>(
    `select owner_id, gateway_id, resource, settings->>'queue' as queue from experiments where id = $1`,
    [experimentId],
  );
  if (rows.length === 0) return;
  const { owner_id: ownerId, gateway_id: gatewayId, resource: resourceName, queue: queueName } = rows[0];
  const resource = await getResource(tx, gatewayId, resourceName);
  const limit = resource.config.queues.find((queue) => queue.name === queueName)?.maxJobsPerUser;
  if (limit === undefined) return;
  await tx.query('select id from users where id = $1 for update', [ownerId]);
  const [{ active }] = await tx.query<{ active: number }>(
    `select count(*)::int as active from experiments
     where owner_id = $1 and resource = $2 and settings->>'queue' = $3 and id <> $4
       and state in ('queued', 'executing', 'blocked', 'canceling')`,
    [ownerId, resourceName, queueName, experimentId],
  );
  if (active >= limit) {
    throw new LimitReachedError(
      `queue ${queueName} on ${resourceName} allows ${limit} active experiments per user and you have ${active}: wait for one to finish, cancel one, or pick another queue`,
      [{ field: 'queue', message: `at most ${limit} active experiments per user` }],
      'queue-limit',
    );
  }
}

/** Launches a `created` experiment: plans its task DAG and queues it. */
export async function launchExperiment(store: Store, principal: Principal, id: string): Promise<ExperimentDetail> {
  await getExperiment(store, principal, id);
  await store.transaction((tx) => launchInTransaction(tx, id));
  return getExperiment(store, principal, id);
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

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  const jobs = await db.query(`select ${jobColumns} from jobs where experiment_id = $1 order by id desc limit 1`, [id]);
  const parentInputs: Record<string, unknown> | null = row.parent_inputs;
  const changedInputs = parentInputs
    ? [...new Set([...Object.keys(parentInputs), ...Object.keys(row.inputs)])].filter((name) => !isDeepStrictEqual(parentInputs[name], row.inputs[name])).sort()
    : [];
  return {
    ...toSummary(row),
    inputs: row.inputs,
    settings: row.settings,
    changedInputs,
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
    job: jobs.length > 0 ? toJobRecord(jobs[0]) : null,
    lastEventSeq: row.last_event_seq,
  };
}

/** Filters for listing experiments. */
export interface ExperimentFilter {
  state?: string[];
  application?: string;
  resource?: string;
  owner?: string;
  /** Text found in the name, application or id. */
  text?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  parentId?: string;
  cursor?: string;
  /** Page size, 1-200 (default 50). */
  limit?: number;
}

/** Lists experiments newest first, with an opaque cursor for the next page. */
export async function listExperiments(db: Queryable, principal: Principal, filter: ExperimentFilter): Promise<{ items: ExperimentSummary[]; nextCursor: string | null }> {
  const params: unknown[] = [];
  const where = [visibility(principal, params)];
  const add = (clause: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filter.state?.length) {
    const unknown = filter.state.filter((state) => !(experimentStates as readonly string[]).includes(state));
    if (unknown.length > 0) throw new ValidationError('invalid filter', [{ field: 'state', message: `unknown state ${unknown.join(', ')}; states: ${experimentStates.join(', ')}` }]);
    add((p) => `e.state = any(${p}::text[])`, filter.state);
  }
  if (filter.application) add((p) => `e.application = ${p}`, filter.application);
  if (filter.resource) add((p) => `e.resource = ${p}`, filter.resource);
  if (filter.owner) add((p) => `u.name = ${p}`, filter.owner);
  if (filter.parentId) add((p) => `e.parent_id::text = ${p}`, filter.parentId);
  if (filter.text) add((p) => `(e.name ilike ${p} or e.application ilike ${p} or e.id::text ilike ${p})`, `%${filter.text.replace(/[\\%_]/g, (c) => '\\' + c)}%`);
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
    `select ${summaryColumns} from experiments e join users u on u.id = e.owner_id
     where ${where.join(' and ')} order by e.created_at desc, e.id desc limit $${params.length}`,
    params,
  );
  const items = rows.slice(0, limit).map(toSummary);
  const last = rows.length > limit ? rows[limit - 1] : null;
  return { items, nextCursor: last ? encodeCursor(last.created_at, last.id) : null };
}

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt)) || !uuidPattern.test(id)) throw new Error();
    return { createdAt, id };
  } catch {
    throw new ValidationError('invalid cursor', [{ field: 'cursor', message: 'use the nextCursor of a previous page' }]);
  }
}

/**
 * Cancels an experiment: tasks not yet started are canceled at once; a running job is
 * killed by the controller, after which the experiment ends `canceled`.
 */
export async function cancelExperiment(store: Store, principal: Principal, id: string): Promise<ExperimentDetail> {
  const experiment = await getExperiment(store, principal, id);
  await store.transaction(async (tx) => {
    if (experiment.state === 'created') {
      await moveExperiment(tx, id, 'canceled', { from: ['created'], message: `canceled by ${principal.name}` });
      return;
    }
    const previous = await moveExperiment(tx, id, 'canceling', { message: `cancel requested by ${principal.name}` });
    if (previous === null) {
      const current = await tx.query<{ state: string }>('select state from experiments where id = $1', [id]);
      if (current[0]?.state === 'canceling') return;
      throw new ConflictError(`experiment is ${current[0]?.state}; only an unfinished experiment can be canceled`, [], 'invalid-state');
    }
    await cancelOpenTasks(tx, id);
    await tx.query(`update jobs set cancel_requested = true where experiment_id = $1 and state in ('submitting', 'queued', 'running')`, [id]);
    await finishExperiments(tx, [id]);
  });
  return getExperiment(store, principal, id);
}

/** Clones an experiment with some inputs (and settings) changed; the clone records its parent. */
export async function cloneExperiment(
  store: Store,
  principal: Principal,
  id: string,
  overrides: Partial<ExperimentRequest> & { inputs?: Record<string, unknown> },
): Promise<ExperimentDetail> {
  const parent = await getExperiment(store, principal, id);
  const request: ExperimentRequest = {
    application: parent.application,
    resource: overrides.resource ?? parent.resource,
    name: overrides.name ?? `${parent.name} (clone)`,
    inputs: { ...parent.inputs, ...(overrides.inputs ?? {}) },
    queue: overrides.queue ?? parent.settings.queue,
    nodes: overrides.nodes ?? parent.settings.nodes,
    coresPerNode: overrides.coresPerNode ?? parent.settings.coresPerNode,
    walltimeMinutes: overrides.walltimeMinutes ?? parent.settings.walltimeMinutes,
    memoryMb: overrides.memoryMb ?? parent.settings.memoryMb,
    launch: overrides.launch,
  };
  return createExperiment(store, principal, request, parent.id);
}

/** Deletes a draft (`created`) experiment. */
export async function deleteDraft(store: Store, principal: Principal, id: string): Promise<void> {
  const experiment = await getExperiment(store, principal, id);
  if (experiment.state !== 'created') throw new ConflictError(`experiment is ${experiment.state}; only a created draft can be deleted`, [], 'invalid-state');
  await store.query(`delete from experiments where id = $1 and state = 'created'`, [id]);
}
