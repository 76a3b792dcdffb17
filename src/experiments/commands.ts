/**
 * What users do to experiments: create (validated against the catalogue before anything
 * is stored), launch within the per-user limit, cancel, clone and delete a draft. Every
 * state change goes through state/; what is read back comes from queries.ts.
 */
import { controlCharacterPattern, loneSurrogatePattern } from '../domain/application.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { experimentDag } from '../domain/task.ts';
import { notificationEvents, type ExperimentNotify } from '../domain/notification.ts';
import { validateInputs, type FieldProblem } from '../domain/validate-inputs.ts';
import { resolveJobSettings } from '../domain/resource.ts';
import { deploymentFor } from '../domain/render-command.ts';
import type { Principal } from '../catalogue/users.ts';
import { getCatalogueEntries, getResource, type CatalogueEntries } from '../catalogue/catalogue.ts';
import type { ApplicationSpec } from '../domain/application.ts';
import type { JobSettings, ResourceSpec } from '../domain/resource.ts';
import type { Queryable, Store } from '../store/port.ts';
import { admitExperiments } from '../state/admission-state.ts';
import {
  currentState,
  deleteIfDraft,
  launchScope,
  moveExperiment,
  moveExperiments,
  recordCreatedMany,
  setExperimentNotify,
  setExperimentPriority,
  settleExperiments,
  type CreatedExperiment,
} from '../state/experiment-state.ts';
import { cancelOpenTasks, createTasksOfMany, skipWaitingTasks } from '../state/task-state.ts';
import { requestCancel } from '../state/job-state.ts';
import { findOwnUploads } from '../state/uploads.ts';
import { appendEvents, type NewEvent, type Notice } from '../state/events.ts';
import {
  createdDetail,
  createdSummary,
  getExperiment,
  type ExperimentDetail,
  type ExperimentSummary,
} from './queries.ts';
import { isGatewayCapped, needsAdmission } from './admission.ts';
import { chooseAutoResources, type SchedulerOpener } from './resource-choice.ts';
import type { ResourceChoice } from '../domain/resource-choice.ts';

/** What creating experiments may use beyond the store. */
export interface CreateOptions {
  /**
   * Opens a resource's scheduler, for requests that name resource `auto`
   * (resource-choice.ts); without it such a request fails.
   */
  openScheduler?: SchedulerOpener;
}

/** What a user sends to create an experiment. */
export interface ExperimentRequest {
  application: string;
  /** A resource's name, or `auto`: the one expected to start it first (resource-choice.ts). */
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
  /** Its own choice of notifications over the owner's defaults (null or left out: the defaults). */
  notify?: ExperimentNotify | null;
  /** The owner's priority for it among their own waiting experiments, -5 to 5 (default 0). */
  priority?: number;
}

/** The most experiments one bulk creation (`createExperiments`) takes. */
export const maxExperimentsPerBatch = 1000;

/** A request that passed validation, with what it resolved to. */
interface ValidRequest {
  request: ExperimentRequest;
  application: ApplicationSpec;
  resource: ResourceSpec;
  values: Record<string, unknown>;
  settings: JobSettings;
  /** File input name to the uploaded file's name. */
  inputFiles: Record<string, string>;
}

/**
 * Validates requests against the catalogue (one query for all of them) and the owner's
 * uploads (one more when there are file inputs). Throws a ValidationError listing every bad
 * field; in a batch (`batch` true), each field is named `items.<i>.<field>`.
 */
async function validateRequests(
  db: Queryable,
  principal: Principal,
  requests: ExperimentRequest[],
  batch: boolean,
): Promise<ValidRequest[]> {
  const catalogue = await getCatalogueEntries(
    db,
    principal.gatewayId,
    [...new Set(requests.map((request) => request.application))],
    [...new Set(requests.map((request) => request.resource))],
  );
  const problems: FieldProblem[] = [];
  const invalidItems: number[] = [];
  const prefix = (index: number) => (batch ? `items.${index}.` : '');
  const checked = requests.map((request, index) => {
    try {
      return checkRequest(principal, request, catalogue);
    } catch (error) {
      if (!batch || !(error instanceof ValidationError || error instanceof ForbiddenError)) throw error;
      const fields = error.fields.map((problem) => ({ ...problem, field: prefix(index) + problem.field }));
      if (error instanceof ForbiddenError) throw new ForbiddenError(`item ${index}: ${error.message}`, fields);
      problems.push(...fields);
      invalidItems.push(index);
      return null;
    }
  });
  const uploadIds = [...new Set(checked.flatMap((check) => (check ? Object.values(check.uploads) : [])))];
  const owned = uploadIds.length > 0 ? await findOwnUploads(db, principal.userId, uploadIds) : new Map();
  const valid = checked.map((check, index): ValidRequest | null => {
    if (check === null) return null;
    const itemProblems = [...check.problems];
    for (const [name, id] of Object.entries(check.uploads)) {
      if (!owned.has(id)) itemProblems.push({ field: `inputs.${name}`, message: `no upload ${id} of yours` });
    }
    if (itemProblems.length === 0) {
      const inputFiles = Object.fromEntries(
        Object.entries(check.uploads).map(([name, id]) => [name, owned.get(id) as string]),
      );
      return { ...check, request: requests[index], inputFiles };
    }
    problems.push(...itemProblems.map((problem) => ({ ...problem, field: prefix(index) + problem.field })));
    invalidItems.push(index);
    return null;
  });
  if (problems.length > 0) {
    const sorted = [...new Set(invalidItems)].sort((a, b) => a - b);
    const message = batch
      ? `${sorted.length} of ${requests.length} items are invalid (items ${sorted.slice(0, 10).join(', ')}${sorted.length > 10 ? ', ...' : ''}); nothing was created`
      : 'invalid experiment';
    throw new ValidationError(message, problems, 'invalid-experiment');
  }
  return valid as ValidRequest[];
}

/** Checks one request against the catalogue; throws for an unknown application or resource. */
function checkRequest(principal: Principal, request: ExperimentRequest, catalogue: CatalogueEntries) {
  // The route's JSON Schema requires `application` and `resource` (non-empty strings) and a
  // string `name`; a clone takes them from its parent. The name's length is checked here
  // too: a clone's default name adds to its parent's.
  const problems: FieldProblem[] = [];
  const entry = catalogue.applications.get(request.application);
  if (entry === undefined) {
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
  const application = entry.spec;
  const resource = catalogue.resources.get(request.resource);
  if (resource === undefined) {
    throw new ValidationError(
      `unknown resource ${JSON.stringify(request.resource)}`,
      [{ field: 'resource', message: 'no such resource in this gateway (GET /api/v1/resources lists them)' }],
      'invalid-experiment',
    );
  }
  if (resource.kind === 'local' && !entry.registeredByOperator) {
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
  return { application, resource, values: inputs.values, settings, uploads: inputs.uploads, problems };
}

/**
 * Creates an experiment (and launches it unless `launch: false`). A 201 means it is stored.
 * A clone names its `parent` (its id and inputs, for `changedInputs`).
 */
export async function createExperiment(
  store: Store,
  principal: Principal,
  request: ExperimentRequest,
  parent: { id: string; inputs: Record<string, unknown> } | null = null,
  options: CreateOptions = {},
): Promise<ExperimentDetail> {
  const [created] = await createInStore(store, principal, [request], false, parent?.id ?? null, options);
  return createdDetail(
    created,
    principal.name,
    parent?.inputs ?? null,
    created.inputFiles,
    created.resourceChoice?.summary ?? null,
  );
}

/**
 * Creates many experiments in one transaction: all of them or, when any item is invalid,
 * none (a ValidationError names every bad `items.<i>.<field>`). Each item is what
 * `createExperiment` takes and is launched unless it says `launch: false`. At most
 * `maxExperimentsPerBatch` items. Returns their summaries in the order given.
 */
export async function createExperiments(
  store: Store,
  principal: Principal,
  requests: ExperimentRequest[],
  options: CreateOptions = {},
): Promise<ExperimentSummary[]> {
  if (requests.length === 0 || requests.length > maxExperimentsPerBatch) {
    throw new ValidationError(
      `a bulk creation takes 1 to ${maxExperimentsPerBatch} experiments, not ${requests.length}`,
      [
        {
          field: 'items',
          message: `send 1 to ${maxExperimentsPerBatch} items; split a larger set into several requests`,
        },
      ],
      'invalid-experiment',
    );
  }
  const created = await createInStore(store, principal, requests, true, null, options);
  return created.map((experiment) => createdSummary(experiment, principal.name));
}

/**
 * Validates, stores and launches (where asked) experiments in one statement, so one commit
 * (recordCreatedMany). A launch into a queue with limits waits for the controller's
 * admission (`held`); the others are admitted at once. Returns them in the order given.
 */
async function createInStore(
  store: Store,
  principal: Principal,
  requests: ExperimentRequest[],
  batch: boolean,
  parentId: string | null,
  options: CreateOptions,
): Promise<Array<CreatedExperiment & { inputFiles: Record<string, string>; resourceChoice: ResourceChoice | null }>> {
  const choices = await chooseAutoResources(store, principal, requests, options.openScheduler);
  const chosen = requests.map((request, index) => {
    const choice = choices[index];
    return choice ? { ...request, resource: choice.resource } : request;
  });
  const valid = await validateRequests(store, principal, chosen, batch);
  const capped = await isGatewayCapped(store, principal.gatewayId);
  const now = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const experiments = valid.map(({ request, application, resource, values, settings, inputFiles }, index) => ({
    gatewayId: principal.gatewayId,
    ownerId: principal.userId,
    name: request.name || `${application.name} ${now}`,
    application: application.name,
    applicationVersion: application.version,
    resource: resource.name,
    inputs: values,
    settings,
    parentId,
    message:
      (parentId ? `cloned from ${parentId}` : `created by ${principal.name}`) +
      (choices[index] ? `. ${choices[index].summary}` : ''),
    resourceChoice: choices[index] ?? undefined,
    fileNames: Object.values(inputFiles),
    launch: request.launch !== false,
    held: needsAdmission(resource, settings.queue, capped),
    priority: request.priority ?? 0,
    notify: normalizeNotify(request.notify),
  }));
  const created = await recordCreatedMany(store, experiments, experimentDag);
  return created.map((experiment, index) => ({
    ...experiment,
    inputFiles: valid[index].inputFiles,
    resourceChoice: choices[index],
  }));
}

/** Launches a `created` experiment: plans its task DAG and queues it. */
export async function launchExperiment(store: Store, principal: Principal, id: string): Promise<ExperimentDetail> {
  await getExperiment(store, principal, id);
  await store.transaction(async (tx) => {
    const scope = await launchScope(tx, id);
    if (scope === null) throw new NotFoundError(`experiment ${id}`);
    const resource = await getResource(tx, scope.gatewayId, scope.resource);
    const pending = { events: [] as NewEvent[], notices: [] as Notice[] };
    const moved = await moveExperiments(
      tx,
      [{ experimentId: id, to: 'queued', from: ['created'], message: 'launched' }],
      pending.events,
    );
    if (moved.size !== 1) throw new ConflictError('only a created experiment can be launched', [], 'invalid-state');
    const held = needsAdmission(resource, scope.queue, await isGatewayCapped(tx, scope.gatewayId));
    await createTasksOfMany(tx, [id], experimentDag, { held, pending });
    if (!held) await admitExperiments(tx, [id]);
    await appendEvents(tx, pending.events, pending.notices);
  });
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
  options: CreateOptions = {},
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
    notify: overrides.notify !== undefined ? overrides.notify : parent.notify,
    priority: overrides.priority ?? parent.priority,
  };
  return createExperiment(store, principal, request, parent, options);
}

/**
 * An experiment's own choice of notifications as stored: events once each in the order of
 * `notificationEvents`, null for none or an empty choice (which follows the defaults).
 */
function normalizeNotify(notify: ExperimentNotify | null | undefined): ExperimentNotify | null {
  if (!notify) return null;
  const normalized: ExperimentNotify = {};
  if (notify.events) normalized.events = notificationEvents.filter((event) => notify.events!.includes(event));
  if (notify.email !== undefined) normalized.email = notify.email;
  if (notify.webhook !== undefined) normalized.webhook = notify.webhook;
  return Object.keys(normalized).length > 0 ? normalized : null;
}

/**
 * Changes what may change in any state: the experiment's own choice of notifications
 * (null: its owner's defaults again; for the events still to come) and its owner's
 * priority for it (it orders their waiting line). Only its owner changes them:
 * notifications go to them, and the priority orders their own experiments.
 * @throws {NotFoundError} when the principal cannot see it; ForbiddenError when it is another user's.
 */
export async function updateExperiment(
  store: Store,
  principal: Principal,
  id: string,
  change: { notify?: ExperimentNotify | null; priority?: number },
): Promise<ExperimentDetail> {
  const experiment = await getExperiment(store, principal, id);
  if (experiment.owner !== principal.name) {
    const field = change.notify !== undefined ? 'notify' : 'priority';
    throw new ForbiddenError(`experiment ${id} is ${experiment.owner}'s: only its owner changes its ${field}`, [
      {
        field,
        message:
          field === 'notify'
            ? 'notifications go to the owner; only they choose them'
            : "a priority orders its owner's own experiments; only they set it",
      },
    ]);
  }
  await store.transaction(async (tx) => {
    if (change.notify !== undefined) await setExperimentNotify(tx, id, normalizeNotify(change.notify));
    if (change.priority !== undefined) await setExperimentPriority(tx, id, change.priority);
  });
  return getExperiment(store, principal, id);
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
