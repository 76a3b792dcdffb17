/**
 * What users do to experiments: create (validated against the catalogue before anything
 * is stored), launch within the per-user limit, cancel, clone and delete a draft. Every
 * state change goes through state/; what is read back comes from queries.ts.
 */
import { controlCharacterPattern, loneSurrogatePattern } from '../domain/application.ts';
import { ConflictError, ForbiddenError, LimitReachedError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { experimentDag } from '../domain/task.ts';
import { validateInputs, type FieldProblem } from '../domain/validate-inputs.ts';
import { resolveJobSettings } from '../domain/resource.ts';
import { deploymentFor } from '../domain/render-command.ts';
import type { Principal } from '../catalogue/users.ts';
import { getApplication, getResource, registeredByOperator } from '../catalogue/catalogue.ts';
import type { Queryable, Store } from '../store/port.ts';
import {
  countActiveOfOwner,
  currentState,
  deleteIfDraft,
  launchScope,
  moveExperiment,
  recordCreated,
  settleExperiments,
} from '../state/experiment-state.ts';
import { cancelOpenTasks, createTasks, skipWaitingTasks } from '../state/task-state.ts';
import { requestCancel } from '../state/job-state.ts';
import { findOwnUploads } from '../state/uploads.ts';
import { getExperiment, type ExperimentDetail } from './queries.ts';

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

/** Validates a request against the catalogue; throws a ValidationError listing every bad field. */
async function validateRequest(db: Queryable, principal: Principal, request: ExperimentRequest) {
  // The route's JSON Schema requires `application` and `resource` (non-empty strings) and a
  // string `name`; a clone takes them from its parent. The name's length is checked here
  // too: a clone's default name adds to its parent's.
  const problems: FieldProblem[] = [];
  const application = await getApplication(db, principal.gatewayId, request.application).catch((error) => {
    if (error instanceof NotFoundError) {
      throw new ValidationError(
        `unknown application ${JSON.stringify(request.application)}`,
        [
          {
            field: 'application',
            message: 'no such application in this gateway (GET /api/v1/applications lists them)',
          },
        ],
        'invalid-experiment',
      );
    }
    throw error;
  });
  const resource = await getResource(db, principal.gatewayId, request.resource).catch((error) => {
    if (error instanceof NotFoundError) {
      throw new ValidationError(
        `unknown resource ${JSON.stringify(request.resource)}`,
        [{ field: 'resource', message: 'no such resource in this gateway (GET /api/v1/resources lists them)' }],
        'invalid-experiment',
      );
    }
    throw error;
  });
  if (resource.kind === 'local' && !(await registeredByOperator(db, principal.gatewayId, application.name))) {
    throw new ForbiddenError(`application ${application.name} may not run on ${resource.name}`, [
      {
        field: 'resource',
        message: `${resource.name} runs programs on the Drover host, which only applications the platform operator registered may do`,
      },
    ]);
  }
  const deployment = deploymentFor(application, resource.name);
  const inputs = validateInputs(application, request.inputs);
  problems.push(...inputs.problems);
  const uploadIds = Object.values(inputs.uploads);
  if (uploadIds.length > 0) {
    const known = await findOwnUploads(db, principal.userId, uploadIds);
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
  if (request.name !== undefined && request.name.length > 200) {
    problems.push({ field: 'name', message: 'must be a string of at most 200 characters' });
  } else if (
    request.name !== undefined &&
    (controlCharacterPattern.test(request.name) || loneSurrogatePattern.test(request.name))
  ) {
    problems.push({ field: 'name', message: 'must be one line of text without control characters' });
  }
  if (problems.length > 0) throw new ValidationError('invalid experiment', problems, 'invalid-experiment');
  return { application, resource, values: inputs.values, settings };
}

/** Creates an experiment (and launches it unless `launch: false`). A 201 means it is stored. */
export async function createExperiment(
  store: Store,
  principal: Principal,
  request: ExperimentRequest,
  parentId: string | null = null,
): Promise<ExperimentDetail> {
  const { application, resource, values, settings } = await validateRequest(store, principal, request);
  const id = await store.transaction(async (tx) => {
    const experimentId = await recordCreated(tx, {
      gatewayId: principal.gatewayId,
      ownerId: principal.userId,
      name: request.name || `${application.name} ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`,
      application: application.name,
      applicationVersion: application.version,
      resource: resource.name,
      inputs: values,
      settings,
      parentId,
      message: parentId ? `cloned from ${parentId}` : `created by ${principal.name}`,
    });
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
 * queue's `maxJobsPerUser` experiments active on that resource and queue. The owner's row
 * is locked first, so two launches at once cannot both take the last place.
 */
async function checkJobsPerUser(tx: Queryable, experimentId: string): Promise<void> {
  const scope = await launchScope(tx, experimentId);
  if (scope === null) return;
  const { resource: resourceName, queue: queueName } = scope;
  const resource = await getResource(tx, scope.gatewayId, resourceName);
  const limit = resource.config.queues.find((queue) => queue.name === queueName)?.maxJobsPerUser;
  if (limit === undefined) return;
  const active = await countActiveOfOwner(tx, scope, experimentId);
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
      const current = await currentState(tx, id);
      if (current === 'canceling') return;
      throw new ConflictError(
        `experiment is ${current}; only an unfinished experiment can be canceled`,
        [],
        'invalid-state',
      );
    }
    await cancelOpenTasks(tx, id);
    await requestCancel(tx, id);
    await skipWaitingTasks(tx, [id]);
    await settleExperiments(tx, [id]);
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
  if (experiment.state !== 'created')
    throw new ConflictError(
      `experiment is ${experiment.state}; only a created draft can be deleted`,
      [],
      'invalid-state',
    );
  await deleteIfDraft(store, id);
}
