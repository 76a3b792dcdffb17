/**
 * The experiment form's values and how they become a request: pure functions, no React.
 * Controls hold text (what the user typed); numbers are converted only when sending, so
 * the server can name a bad value rather than the form silently dropping it.
 */
import { defaultJobSettings } from '../../src/api-client/constants';
import type {
  Application,
  Deployment,
  ExperimentDetail,
  InputDefinition,
  Queue,
  Resource,
} from '../../src/api-client/types';
import { formatValue } from './format';

/** What the form holds. */
export interface FormValues {
  name: string;
  resource: string;
  queue: string;
  nodes: string;
  coresPerNode: string;
  walltimeMinutes: string;
  /**
   * Text for string, number and enum inputs, a boolean for checkboxes; for files a newly
   * picked File, or the upload id an earlier experiment used ('' for none).
   */
  inputs: Record<string, string | boolean | File>;
}

/** The resource choice that lets Drover pick the resource expected to start first. */
export const autoResource = 'auto';

/** The request fields the form produces (the caller adds `application` or the clone's parent). */
export interface FormRequest {
  name?: string;
  resource: string;
  /** Left out with resource `auto`, as are the other settings: each deployment's apply. */
  queue?: string;
  nodes?: number;
  coresPerNode?: number;
  walltimeMinutes?: number;
  inputs: Record<string, string | number | boolean>;
}

/** The deployment of `application` on `resource`: its own, or the `*` one. */
export function deploymentFor(application: Application, resource: string): Deployment | undefined {
  return application.deployments[resource] ?? application.deployments['*'];
}

/** Resources `application` can run on. */
export function resourcesFor(application: Application, resources: Resource[]): Resource[] {
  return resources.filter((resource) => deploymentFor(application, resource.name));
}

/** The queue named `name` on `resource`. */
export function findQueue(resources: Resource[], resource: string, name: string): Queue | undefined {
  return resources.find((candidate) => candidate.name === resource)?.config.queues.find((queue) => queue.name === name);
}

/** Job settings as the server would default them on `resource`: deployment first, then the resource's first queue and the server's defaults. */
export function defaultSettings(
  application: Application,
  resource: Resource | undefined,
): Pick<FormValues, 'resource' | 'queue' | 'nodes' | 'coresPerNode' | 'walltimeMinutes'> {
  const deployment = resource ? deploymentFor(application, resource.name) : undefined;
  return {
    resource: resource?.name ?? '',
    queue: deployment?.queue ?? resource?.config.queues[0]?.name ?? '',
    nodes: String(deployment?.nodes ?? defaultJobSettings.nodes),
    coresPerNode: String(deployment?.coresPerNode ?? defaultJobSettings.coresPerNode),
    walltimeMinutes: String(deployment?.walltimeMinutes ?? defaultJobSettings.walltimeMinutes),
  };
}

function inputText(input: InputDefinition, value: unknown): string | boolean {
  if (input.type === 'boolean') return value === true || value === 'true';
  return value === undefined || value === null ? '' : String(value);
}

/** A new experiment's form: every input at its default. */
export function initialValues(application: Application, resources: Resource[]): FormValues {
  const usable = resourcesFor(application, resources);
  return {
    name: '',
    ...defaultSettings(application, usable[0]),
    inputs: Object.fromEntries(application.inputs.map((input) => [input.name, inputText(input, input.default)])),
  };
}

/** A clone's form: the parent's inputs and settings. */
export function valuesFromExperiment(application: Application, parent: ExperimentDetail): FormValues {
  return {
    name: `${parent.name} (clone)`,
    resource: parent.resource,
    queue: parent.settings.queue,
    nodes: String(parent.settings.nodes),
    coresPerNode: String(parent.settings.coresPerNode),
    walltimeMinutes: String(parent.settings.walltimeMinutes),
    inputs: Object.fromEntries(
      application.inputs.map((input) => [input.name, inputText(input, parent.inputs[input.name] ?? input.default)]),
    ),
  };
}

function numberOrText(text: string): number | string {
  const number = Number(text);
  return text.trim() !== '' && Number.isFinite(number) ? number : text;
}

function optionalNumber(text: string): number | undefined {
  const number = Number(text);
  return text.trim() !== '' && Number.isFinite(number) ? number : undefined;
}

/**
 * The request for `values`. `uploads` maps each picked File to its upload id (uploaded
 * first). Empty optional inputs are left out so the server applies their defaults.
 */
export function buildRequest(application: Application, values: FormValues, uploads: Map<File, string>): FormRequest {
  const inputs: FormRequest['inputs'] = {};
  for (const input of application.inputs) {
    const value = values.inputs[input.name];
    if (input.type === 'boolean') inputs[input.name] = value === true;
    else if (value instanceof File) inputs[input.name] = uploads.get(value) ?? '';
    else if (typeof value === 'string' && value !== '') {
      inputs[input.name] = input.type === 'integer' || input.type === 'number' ? numberOrText(value) : value;
    }
  }
  if (values.resource === autoResource)
    return { name: values.name.trim() || undefined, resource: autoResource, inputs };
  return {
    name: values.name.trim() || undefined,
    resource: values.resource,
    queue: values.queue,
    nodes: optionalNumber(values.nodes),
    coresPerNode: optionalNumber(values.coresPerNode),
    walltimeMinutes: optionalNumber(values.walltimeMinutes),
    inputs,
  };
}

/** One difference between a clone's form and its parent. */
export interface Change {
  field: string;
  label: string;
  before: string;
  after: string;
}

/** What the form changes compared to `parent`: inputs first, then the job settings. */
export function changesFromParent(application: Application, parent: ExperimentDetail, values: FormValues): Change[] {
  const changes: Change[] = [];
  for (const input of application.inputs) {
    const value = values.inputs[input.name];
    const before = parent.inputs[input.name];
    let after: string;
    if (value instanceof File) after = `new file ${value.name}`;
    else if (input.type === 'boolean') after = formatValue(value === true);
    else after = value === '' ? formatValue(input.default) : String(value);
    const beforeText = input.type === 'boolean' ? formatValue(before === true) : formatValue(before);
    // Numbers are compared as numbers, so "1e6" and 1000000 are the same value; an optional
    // number left empty on both sides (a dash each) is no change either.
    const same =
      after === beforeText ||
      ((input.type === 'integer' || input.type === 'number') &&
        Number(after) === Number(beforeText) &&
        after.trim() !== '');
    if (!same)
      changes.push({ field: `inputs.${input.name}`, label: input.title ?? input.name, before: beforeText, after });
  }
  const settings: Array<[keyof FormValues & keyof ExperimentDetail['settings'], string]> = [
    ['queue', 'Queue'],
    ['nodes', 'Nodes'],
    ['coresPerNode', 'Cores per node'],
    ['walltimeMinutes', 'Walltime (minutes)'],
  ];
  if (values.resource !== parent.resource)
    changes.push({ field: 'resource', label: 'Resource', before: parent.resource, after: values.resource });
  for (const [field, label] of settings) {
    const before = String(parent.settings[field] ?? '');
    const after = String(values[field]);
    if (before !== after && !(Number(before) === Number(after) && after.trim() !== ''))
      changes.push({ field, label, before, after });
  }
  return changes;
}

/**
 * Only the inputs a clone changes, for `POST .../clone` (the server copies the rest from
 * the parent). An input the user emptied is sent as '' so that it gets its default.
 */
export function changedInputs(
  parentInputs: Record<string, unknown>,
  inputs: FormRequest['inputs'],
): FormRequest['inputs'] {
  const changed: FormRequest['inputs'] = {};
  for (const [name, value] of Object.entries(inputs)) {
    if (String(parentInputs[name]) !== String(value)) changed[name] = value;
  }
  for (const name of Object.keys(parentInputs)) {
    if (!(name in inputs)) changed[name] = '';
  }
  return changed;
}

/** "Between 1 and 2,000,000,000", "At most 200 characters" and the like, for an input's hint. */
export function describeBounds(input: InputDefinition, format: (value: number) => string): string | null {
  if (input.type === 'integer' || input.type === 'number') {
    const kind = input.type === 'integer' ? 'A whole number' : 'A number';
    if (input.minimum !== undefined && input.maximum !== undefined)
      return `${kind} from ${format(input.minimum)} to ${format(input.maximum)}.`;
    if (input.minimum !== undefined) return `${kind}, at least ${format(input.minimum)}.`;
    if (input.maximum !== undefined) return `${kind}, at most ${format(input.maximum)}.`;
    return `${kind}.`;
  }
  if ((input.type === 'string' || input.type === 'text') && input.maxLength)
    return `At most ${format(input.maxLength)} characters.`;
  return null;
}
