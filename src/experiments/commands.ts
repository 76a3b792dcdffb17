/**
 * What users do to experiments: create (validated against the catalogue before anything
 * is stored), launch within the per-user limit, cancel, resume a failed one, clone and
 * delete a draft. Every
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
  moveExperiments,
  recordCreatedMany,
  reopenForResume,
  setExperimentNotify,
  setExperimentPriority,
  settleExperiments,
  type CreatedExperiment,
} from '../state/experiment-state.ts';
import {
  cancelOpenTasksOfMany,
  createTasksOfMany,
  rerunTasks,
  skipWaitingTasks,
  tasksToResume,
} from '../state/task-state.ts';
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

/** How the requests of a bulk creation are named in errors: `items.<i>.<field>`, or a sweep's `elements.<i>.<field>`. */
type ItemsField = 'items' | 'elements';

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
  itemsField: ItemsField | null,
): Promise<ValidRequest[]> {
  const batch = itemsField !== null;
  const catalogue = await getCatalogueEntries(
    db,
    principal.gatewayId,
    [...new Set(requests.map((request) => request.application))],
    [...new Set(requests.map((request) => request.resource))],
  );
  const problems: FieldProblem[] = [];
  const invalidItems: number[] = [];
  const prefix = (index: number) => (batch ? `${itemsField}.${index}.` : '');
  const checked = requests.map((request, index) => {
    try {
      return checkRequest(principal, request, catalogue);
    } catch (error) {
      if (!batch || !(error instanceof ValidationError || error instanceof ForbiddenError)) throw error;
      const fields = error.fields.map((problem) => ({ ...problem, field: prefix(index) + problem.field }));
      if (error instanceof ForbiddenError)
        throw new ForbiddenError(`${itemsField === 'items' ? 'item' : 'element'} ${index}: ${error.message}`, fields);
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
      ? `${sorted.length} of ${requests.length} ${itemsField} are invalid (${itemsField} ${sorted.slice(0, 10).join(', ')}${sorted.length > 10 ? ', ...' : ''}); nothing was created`
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
  const [created] = await createInStore(
    store,
    principal,
    [request],
    null,
    [{ parentId: parent?.id ?? null, sweep: null }],
    options,
  );
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
  store: Queryable,
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
  const created = await createInStore(store, principal, requests, 'items', null, options);
  return created.map((experiment) => createdSummary(experiment, principal.name));
}

/** Where a sweep's element belongs: its sweep and index, and the experiment it resubmits (or null). */
export interface SweepElementLink {
  parentId: string | null;
  sweep: { id: string; index: number };
}

/**
 * Creates the experiments of a sweep in the caller's transaction (the sweep row is already
 * there), as `createExperiments` does: all or none, a bad element named
 * `elements.<i>.<field>` (i: its place in `requests`), each launched unless it says
 * `launch: false`, each under the admission like any launch. `links[i]` places request i
 * in the sweep. Returns their summaries in the order given.
 */
export async function createSweepElements(
  tx: Queryable,
  principal: Principal,
  requests: ExperimentRequest[],
  links: SweepElementLink[],
  options: CreateOptions = {},
): Promise<ExperimentSummary[]> {
  const created = await createInStore(tx, principal, requests, 'elements', links, options);
  return created.map((experiment) => createdSummary(experiment, principal.name));
}

/**
 * Validates, stores and launches (where asked) experiments in one statement, so one commit
 * (recordCreatedMany). A launch into a queue with limits waits for the controller's
 * admission (`held`); the others are admitted at once. Returns them in the order given.
 */
async function createInStore(
  db: Queryable,
  principal: Principal,
  requests: ExperimentRequest[],
  itemsField: ItemsField | null,
  links: Array<{ parentId: string | null; sweep: { id: string; index: number } | null }> | null,
  options: CreateOptions,
): Promise<Array<CreatedExperiment & { inputFiles: Record<string, string>; resourceChoice: ResourceChoice | null }>> {
  const choices = await chooseAutoResources(db, principal, requests, options.openScheduler);
  const chosen = requests.map((request, index) => {
    const choice = choices[index];
    return choice ? { ...request, resource: choice.resource } : request;
  });
  const valid = await validateRequests(db, principal, chosen, itemsField);
  const capped = await isGatewayCapped(db, principal.gatewayId);
  const now = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const experiments = valid.map(({ request, application, resource, values, settings, inputFiles }, index) => {
    const parentId = links?.[index].parentId ?? null;
    return {
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
      sweep: links?.[index].sweep ?? null,
    };
  });
  const created = await recordCreatedMany(db, experiments, experimentDag);
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
    const launched = await launchExperimentsIn(tx, [id]);
    if (launched.length !== 1)
      throw new ConflictError('only a created experiment can be launched', [], 'invalid-state');
  });
  return getExperiment(store, principal, id);
}

/**
 * Launches those of `ids` that are still `created`, in the caller's transaction: each
 * moves to `queued` with its task DAG, and starts at once unless a limit of its queue (or
 * its gateway's cap) makes it wait for the admission pass. The caller has checked that
 * the principal may see every one. Returns the ids launched.
 */
export async function launchExperimentsIn(tx: Queryable, ids: string[]): Promise<string[]> {
  const pending = { events: [] as NewEvent[], notices: [] as Notice[] };
  const moved = await moveExperiments(
    tx,
    ids.map((id) => ({ experimentId: id, to: 'queued' as const, from: ['created' as const], message: 'launched' })),
    pending.events,
  );
  const held: string[] = [];
  const admitted: string[] = [];
  // A sweep's elements share a resource and queue: each is looked up once.
  const resources = new Map<string, ResourceSpec>();
  const capped = new Map<string, boolean>();
  for (const id of moved.keys()) {
    const scope = await launchScope(tx, id);
    if (scope === null) continue;
    const key = JSON.stringify([scope.gatewayId, scope.resource]);
    if (!resources.has(key)) resources.set(key, await getResource(tx, scope.gatewayId, scope.resource));
    if (!capped.has(scope.gatewayId)) capped.set(scope.gatewayId, await isGatewayCapped(tx, scope.gatewayId));
    const waits = needsAdmission(resources.get(key)!, scope.queue, capped.get(scope.gatewayId)!);
    (waits ? held : admitted).push(id);
  }
  await createTasksOfMany(tx, held, experimentDag, { held: true, pending });
  await createTasksOfMany(tx, admitted, experimentDag, { held: false, pending });
  await admitExperiments(tx, admitted);
  await appendEvents(tx, pending.events, pending.notices);
  return [...moved.keys()];
}

/**
 * Cancels an experiment: tasks not yet started are canceled at once; a running job is
 * killed by the controller, after which the experiment ends `canceled`.
 */
export async function cancelExperiment(store: Store, principal: Principal, id: string): Promise<ExperimentDetail> {
  await getExperiment(store, principal, id);
  await store.transaction(async (tx) => {
    if ((await cancelExperimentsIn(tx, principal, [id])) > 0) return;
    const current = await currentState(tx, id);
    if (current === 'canceling') return;
    throw new ConflictError(
      `experiment is ${current}; only an unfinished experiment can be canceled`,
      [],
      'invalid-state',
    );
  });
  return getExperiment(store, principal, id);
}

/**
 * Cancels many experiments in the caller's transaction, as cancelExperiment cancels one:
 * drafts at once, the others `canceling` with their open tasks canceled and their jobs
 * killed by the controller. Those already ended or canceling are left as they are. The
 * caller has checked that the principal may see every one. Returns how many it canceled.
 */
export async function cancelExperimentsIn(tx: Queryable, principal: Principal, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const states = await tx.query<{ id: string; state: string }>(
    'select id, state from experiments where id = any($1::uuid[])',
    [ids],
  );
  const moved = await moveExperiments(
    tx,
    states.map(({ id, state }) =>
      state === 'created'
        ? { experimentId: id, to: 'canceled', from: ['created'], message: `canceled by ${principal.name}` }
        : { experimentId: id, to: 'canceling', message: `cancel requested by ${principal.name}` },
    ),
  );
  const canceling = [...moved.keys()].filter((id) => moved.get(id) !== 'created');
  await cancelOpenTasksOfMany(tx, canceling);
  await requestCancel(tx, canceling);
  await skipWaitingTasks(tx, canceling);
  await settleExperiments(tx, canceling);
  return moved.size;
}

/**
 * Resumes a failed experiment from the task that failed, keeping what completed: that task
 * and every task after it run again (its staged inputs are not staged again; a job that
 * completed keeps its outputs; a job that failed, ran out of walltime or vanished is
 * submitted again as a new job, with a new submission key, never adopting the failed one).
 * The experiment starts run 2 (3, ...) and goes back through queued (waiting for a place
 * in line when its queue has limits, as a launch does) and executing; its events continue,
 * the first a `resumed` event. Its owner resumes it, or an admin of its
 * gateway (whoever may see it: getExperiment's visibility).
 * @throws {NotFoundError} when the principal cannot see it.
 * @throws {ConflictError} (`invalid-state`) when it is not failed.
 */
export async function resumeExperiment(store: Store, principal: Principal, id: string): Promise<ExperimentDetail> {
  await getExperiment(store, principal, id);
  await store.transaction(async (tx) => {
    const pending = { events: [] as NewEvent[], notices: [] as Notice[] };
    const scope = await launchScope(tx, id);
    if (scope === null) throw new NotFoundError(`experiment ${id}`);
    // The queue's limits apply to a new run as to a launch: over one, it waits in line. A
    // resource gone from the catalogue holds nothing back (its tasks will say what is wrong).
    const resource = await getResource(tx, scope.gatewayId, scope.resource).catch((error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    });
    const held = resource !== null && needsAdmission(resource, scope.queue, await isGatewayCapped(tx, scope.gatewayId));
    // A failed experiment's tasks have all finished: nothing changes them until it is reopened.
    const { ids, from } = await tasksToResume(tx, id);
    const reopened =
      from && (await reopenForResume(tx, id, { by: principal.name, fromTask: from, held }, pending.events));
    if (!reopened) {
      const current = await currentState(tx, id);
      throw new ConflictError(
        current === 'failed'
          ? 'the experiment has no task or job to run again; clone it instead'
          : `experiment is ${current}; only a failed experiment can be resumed (clone it to run it again)`,
        [],
        'invalid-state',
      );
    }
    await rerunTasks(tx, id, ids, `run ${reopened.run}: resumed`, pending, held);
    await appendEvents(tx, pending.events, pending.notices);
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
