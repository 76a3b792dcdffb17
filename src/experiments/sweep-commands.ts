/**
 * What users do to parameter sweeps: create one (a sweep row and its N experiments in one
 * transaction, each element validated as an experiment is), cancel all its elements, clone
 * it with changes into a new sweep, and resubmit its failed elements (a new experiment per
 * failed element, cloned from it, at the same index). Reads are in sweep-queries.ts.
 */
import { z } from 'zod';
import { ForbiddenError, NotFoundError, ValidationError, type FieldProblem } from '../domain/errors.ts';
import type { InputValue } from '../domain/application.ts';
import { terminalExperimentStates } from '../domain/experiment.ts';
import { expandSweep, elementLabel, sweepCombinations, typedSpec, varySchema, type Vary } from '../domain/sweep.ts';
import type { Principal } from '../catalogue/users.ts';
import { getApplication } from '../catalogue/catalogue.ts';
import type { Store } from '../store/port.ts';
import {
  cancelExperimentsIn,
  createSweepElements,
  launchExperimentsIn,
  type CreateOptions,
  type ExperimentRequest,
  type SweepElementLink,
} from './commands.ts';
import { listSweepElements } from './queries.ts';
import { findSweepRow, getSweep, type SweepDetail, type SweepSettings } from './sweep-queries.ts';

/** What a user sends to create a sweep: an experiment request whose `vary` inputs take many values. */
export interface SweepRequest extends Omit<ExperimentRequest, 'inputs'> {
  /** The inputs every element shares. */
  inputs?: Record<string, unknown>;
  /** Per input name, `{ values: [...] }` or `{ range: { from, to, step } }`. */
  vary: unknown;
  /** How the varied inputs combine (default `product`). */
  combine?: string;
}

/** A clone's changes: anything of a sweep request; a `vary` entry of null stops varying that input. */
export type SweepCloneRequest = Partial<Omit<SweepRequest, 'application'>>;

const sweepShapeSchema = z.object({
  vary: varySchema,
  combine: z.enum(sweepCombinations, { message: `must be one of ${sweepCombinations.join(', ')}` }).default('product'),
});

/** The longest experiment name (as commands.ts checks it). */
const maxNameLength = 200;

/**
 * Creates a sweep and its experiments in one transaction (all or none), each launched
 * unless `launch: false`, each under the admission like any launch.
 *
 * @throws {ValidationError} (`invalid-sweep`) naming `vary...` or `combine`; a bad element
 *   as `elements.<index>.<field>` (`invalid-experiment`), with nothing created.
 */
export async function createSweep(
  store: Store,
  principal: Principal,
  request: SweepRequest,
  parentId: string | null = null,
  options: CreateOptions = {},
): Promise<SweepDetail> {
  const parsed = sweepShapeSchema.safeParse({ vary: request.vary, combine: request.combine });
  if (!parsed.success)
    throw new ValidationError(
      'invalid sweep',
      parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), message: issue.message })),
      'invalid-sweep',
    );
  const { combine } = parsed.data;
  const application = await getApplication(store, principal.gatewayId, request.application).catch((error: unknown) => {
    if (!(error instanceof NotFoundError)) throw error;
    throw new ValidationError(
      `unknown application ${JSON.stringify(request.application)}`,
      [{ field: 'application', message: 'no such application in this gateway (GET /api/v1/applications lists them)' }],
      'invalid-sweep',
    );
  });
  const { fixed, vary } = typedSpec(application, request.inputs ?? {}, parsed.data.vary);
  const elements = expandSweep(application, vary, combine, fixed);
  const now = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const name = request.name || `${application.name} sweep ${now}`;
  const settings: SweepSettings = {
    queue: request.queue,
    nodes: request.nodes,
    coresPerNode: request.coresPerNode,
    walltimeMinutes: request.walltimeMinutes,
    memoryMb: request.memoryMb,
    priority: request.priority,
    notify: request.notify ?? undefined,
  };
  const base: ExperimentRequest = {
    application: request.application,
    resource: request.resource,
    queue: request.queue,
    nodes: request.nodes,
    coresPerNode: request.coresPerNode,
    walltimeMinutes: request.walltimeMinutes,
    memoryMb: request.memoryMb,
    launch: request.launch,
    notify: request.notify,
    priority: request.priority,
  };
  const requests = elements.map((varied): ExperimentRequest => ({
    ...base,
    name: elementName(name, varied),
    inputs: { ...fixed, ...varied },
  }));
  const id = await store.transaction(async (tx) => {
    // $1-$12 the sweep's columns: the row its elements name.
    const [row] = await tx.query<{ id: string }>(
      `insert into sweeps (gateway_id, owner_id, name, application, resource, inputs, vary, varied_inputs, combine,
         settings, element_count, parent_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning id`,
      [
        principal.gatewayId,
        principal.userId,
        name,
        application.name,
        request.resource,
        JSON.stringify(fixed),
        JSON.stringify(vary),
        Object.keys(vary),
        combine,
        JSON.stringify(settings),
        elements.length,
        parentId,
      ],
    );
    await createSweepElements(
      tx,
      principal,
      requests,
      requests.map((_, index) => ({ parentId: null, sweep: { id: row.id, index } })),
      options,
    ).catch((error: unknown) => {
      throw error instanceof ValidationError ? sweepProblems(error, elements) : error;
    });
    return row.id;
  });
  return getSweep(store, principal, id);
}

/**
 * A sweep's element problems, said once where they are the same for every element: a
 * problem with a varied input names its element (`elements.3.inputs.samples`, its values
 * in the message); one with what the elements share (the resource, a fixed input, a
 * setting) is said once under its own name (`resource`, `inputs.seed`).
 */
function sweepProblems(error: ValidationError, elements: Array<Record<string, InputValue>>): ValidationError {
  const shared = new Map<string, FieldProblem>();
  const own: FieldProblem[] = [];
  for (const problem of error.fields) {
    const match = /^elements\.(\d+)\.(.*)$/.exec(problem.field);
    if (!match) {
      shared.set(`${problem.field}\n${problem.message}`, problem);
      continue;
    }
    const varied = elements[Number(match[1])];
    const input = /^inputs\.([^.]+)/.exec(match[2])?.[1];
    if (input !== undefined && Object.hasOwn(varied, input))
      own.push({ ...problem, message: `${problem.message} (element ${match[1]}: ${elementLabel(varied)})` });
    else shared.set(`${match[2]}\n${problem.message}`, { field: match[2], message: problem.message });
  }
  const elementCount = new Set(own.map((problem) => problem.field.split('.')[1])).size;
  const message =
    own.length > 0
      ? `${elementCount} of ${elements.length} elements are invalid; nothing was created`
      : 'invalid sweep; nothing was created';
  return new ValidationError(message, [...shared.values(), ...own], error.type);
}

/** An element's experiment name: the sweep's and the element's varied values, within the name's limit. */
function elementName(sweepName: string, varied: Record<string, InputValue>): string {
  const full = `${sweepName} (${elementLabel(varied)})`;
  if (full.length <= maxNameLength) return full;
  // Cut on a code point, never in a surrogate pair.
  return (
    Array.from(full.slice(0, maxNameLength - 1))
      .join('')
      .replace(/[\uD800-\uDBFF]$/u, '') + '…'
  );
}

/**
 * Cancels every unfinished element of a sweep (its newest experiment at each index), in
 * one transaction; each ends `canceled` as a canceled experiment does (its job killed, its
 * logs and outputs brought back). Returns the sweep as it is now.
 */
export async function cancelSweep(
  store: Store,
  principal: Principal,
  id: string,
): Promise<{ sweep: SweepDetail; canceled: number }> {
  await findSweepRow(store, principal, id);
  const terminal = new Set<string>(terminalExperimentStates);
  const canceled = await store.transaction(async (tx) => {
    const open = (await listSweepElements(tx, id))
      .map((element) => element.experiment)
      .filter((experiment) => !terminal.has(experiment.state) && experiment.state !== 'canceling')
      .map((experiment) => experiment.id);
    return cancelExperimentsIn(tx, principal, open);
  });
  return { sweep: await getSweep(store, principal, id), canceled };
}

/**
 * Launches every draft element of a sweep (created with `launch: false`) in one
 * transaction, each as `POST /experiments/{id}/launch` launches one.
 *
 * @returns the sweep as it is now and how many elements were launched (0: none was a draft).
 */
export async function launchSweep(
  store: Store,
  principal: Principal,
  id: string,
): Promise<{ sweep: SweepDetail; launched: number }> {
  await findSweepRow(store, principal, id);
  const launched = await store.transaction(async (tx) => {
    const drafts = (await listSweepElements(tx, id))
      .filter((element) => element.experiment.state === 'created')
      .map((element) => element.experiment.id);
    return (await launchExperimentsIn(tx, drafts)).length;
  });
  return { sweep: await getSweep(store, principal, id), launched };
}

/**
 * Clones a sweep into a new one (which records it as its parent), with the changes given:
 * `inputs` merged over the fixed inputs, `vary` entries replacing the sweep's (null stops
 * varying an input: then give it in `inputs`, or its default applies), other settings as given.
 */
export async function cloneSweep(
  store: Store,
  principal: Principal,
  id: string,
  changes: SweepCloneRequest,
  options: CreateOptions = {},
): Promise<SweepDetail> {
  const parent = await findSweepRow(store, principal, id);
  // In the order the parent varied them (its loop order).
  const vary: Record<string, unknown> = Object.fromEntries(
    (parent.varied_inputs as string[]).map((name) => [name, (parent.vary as Vary)[name]]),
  );
  if (changes.vary !== undefined) {
    if (changes.vary === null || typeof changes.vary !== 'object' || Array.isArray(changes.vary))
      throw new ValidationError(
        'invalid sweep',
        [{ field: 'vary', message: 'must be an object: input name to { values }, { range } or null' }],
        'invalid-sweep',
      );
    for (const [name, variation] of Object.entries(changes.vary)) {
      if (variation === null) delete vary[name];
      else vary[name] = variation;
    }
  }
  const settings = parent.settings as SweepSettings;
  // An input varied now is not fixed too (a clone may vary what its parent fixed).
  const inputs = Object.fromEntries(
    Object.entries({ ...parent.inputs, ...(changes.inputs ?? {}) }).filter(([name]) => !Object.hasOwn(vary, name)),
  );
  const request: SweepRequest = {
    application: parent.application,
    resource: changes.resource ?? parent.resource,
    name: changes.name ?? `${parent.name} (clone)`.slice(0, maxNameLength),
    inputs,
    vary,
    combine: changes.combine ?? parent.combine,
    queue: changes.queue ?? settings.queue,
    nodes: changes.nodes ?? settings.nodes,
    coresPerNode: changes.coresPerNode ?? settings.coresPerNode,
    walltimeMinutes: changes.walltimeMinutes ?? settings.walltimeMinutes,
    memoryMb: changes.memoryMb ?? settings.memoryMb,
    priority: changes.priority ?? settings.priority,
    notify: changes.notify !== undefined ? changes.notify : (settings.notify as ExperimentRequest['notify']),
    launch: changes.launch,
  };
  return createSweep(store, principal, request, parent.id, options);
}

/**
 * Resubmits the failed elements of a sweep: for each index whose newest experiment failed,
 * a new experiment cloned from it (same inputs and settings, launched), in the sweep at the
 * same index; the failed one stays as history. Only the sweep's owner may: the new
 * experiments are theirs.
 *
 * @returns the sweep as it is now and how many elements were resubmitted (0: none had failed).
 */
export async function resubmitFailed(
  store: Store,
  principal: Principal,
  id: string,
): Promise<{ sweep: SweepDetail; resubmitted: number }> {
  const row = await findSweepRow(store, principal, id);
  if (row.owner_id !== principal.userId)
    throw new ForbiddenError(`sweep ${id} is ${row.owner}'s: only its owner resubmits its elements`, [
      { field: 'id', message: 'the new experiments would be the owner’s; ask them, or clone the sweep as your own' },
    ]);
  const resubmitted = await store.transaction(async (tx) => {
    // The sweep's experiments at each failed index, locked so that two resubmits add one each.
    await tx.query('select id from sweeps where id = $1 for update', [id]);
    const failed = (await listSweepElements(tx, id)).filter((element) => element.experiment.state === 'failed');
    if (failed.length === 0) return 0;
    const experiments = await tx.query<any>(
      'select id, name, application, resource, inputs, settings, priority, notify from experiments where id = any($1::uuid[])',
      [failed.map((element) => element.experiment.id)],
    );
    const byId = new Map(experiments.map((experiment) => [experiment.id, experiment]));
    const requests: ExperimentRequest[] = [];
    const links: SweepElementLink[] = [];
    for (const element of failed) {
      const experiment = byId.get(element.experiment.id);
      requests.push({
        application: experiment.application,
        resource: experiment.resource,
        name: experiment.name,
        inputs: experiment.inputs,
        ...experiment.settings,
        priority: experiment.priority,
        notify: experiment.notify,
      });
      links.push({ parentId: experiment.id, sweep: { id, index: element.experiment.sweep!.index } });
    }
    await createSweepElements(tx, principal, requests, links);
    return requests.length;
  });
  return { sweep: await getSweep(store, principal, id), resubmitted };
}
