/**
 * The experiment form's pure model: initial values, a clone's values, the request, and
 * what a clone changes. Runs in the quick tier (scripts/run-tests.js looks in web/src too).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Application, ExperimentDetail, Resource } from '../../src/api-client/types';
import {
  buildRequest,
  changedInputs,
  changesFromParent,
  defaultSettings,
  deploymentFor,
  describeBounds,
  findQueue,
  initialValues,
  resourcesFor,
  valuesFromExperiment,
  type FormValues,
} from './form-model';

const local: Resource = {
  name: 'local',
  kind: 'local',
  config: { scratchDir: '/tmp/s', queues: [{ name: 'default', maxWalltimeMinutes: 60, maxCores: 4 }] },
};
const cluster: Resource = {
  name: 'hpc',
  kind: 'slurm',
  config: {
    scratchDir: '/scratch',
    queues: [
      { name: 'short', maxWalltimeMinutes: 60, maxCores: 8 },
      { name: 'long', maxWalltimeMinutes: 1440, maxCores: 64 },
    ],
  },
};
const other: Resource = { ...cluster, name: 'other' };

const app: Application = {
  name: 'sim',
  version: '1',
  title: 'Simulation',
  inputs: [
    { name: 'steps', type: 'integer', title: 'Steps', default: 100, minimum: 1, maximum: 2_000_000_000 },
    { name: 'scale', type: 'number' },
    { name: 'label', type: 'string', maxLength: 200 },
    { name: 'verbose', type: 'boolean', default: true },
    { name: 'mode', type: 'enum', values: ['fast', 'exact'], default: 'fast' },
    { name: 'data', type: 'file' },
  ],
  outputs: ['*.csv'],
  deployments: {
    hpc: { command: ['sim'], queue: 'long', nodes: 2, coresPerNode: 4, walltimeMinutes: 120 },
    local: { command: ['sim'] },
  },
};

/** A parent experiment with just what the form reads. */
function parent(
  inputs: ExperimentDetail['inputs'],
  settings: Partial<ExperimentDetail['settings']> = {},
): ExperimentDetail {
  return {
    name: 'first run',
    resource: 'hpc',
    inputs,
    settings: { queue: 'long', nodes: 2, coresPerNode: 4, walltimeMinutes: 120, ...settings },
  } as ExperimentDetail;
}

describe('deploymentFor and resourcesFor', () => {
  test("a resource's own deployment, else the `*` one, else none", () => {
    const wildcard: Application = { ...app, deployments: { hpc: app.deployments.hpc, '*': { command: ['any'] } } };
    assert.equal(deploymentFor(wildcard, 'hpc'), app.deployments.hpc);
    assert.deepEqual(deploymentFor(wildcard, 'other'), { command: ['any'] });
    assert.equal(deploymentFor(app, 'other'), undefined);
  });

  test('resources are those with a deployment, in the order given', () => {
    assert.deepEqual(
      resourcesFor(app, [other, cluster, local]).map((resource) => resource.name),
      ['hpc', 'local'],
    );
  });

  test('findQueue looks in the named resource only', () => {
    assert.deepEqual(findQueue([local, cluster], 'hpc', 'long'), cluster.config.queues[1]);
    assert.equal(findQueue([local, cluster], 'local', 'long'), undefined);
    assert.equal(findQueue([local], 'hpc', 'short'), undefined);
  });
});

describe('defaultSettings', () => {
  test("the deployment's defaults, as text", () => {
    assert.deepEqual(defaultSettings(app, cluster), {
      resource: 'hpc',
      queue: 'long',
      nodes: '2',
      coresPerNode: '4',
      walltimeMinutes: '120',
    });
  });

  test("without deployment defaults: the resource's first queue, 1 node, 1 core, 10 minutes (as the server resolves them)", () => {
    assert.deepEqual(defaultSettings(app, local), {
      resource: 'local',
      queue: 'default',
      nodes: '1',
      coresPerNode: '1',
      walltimeMinutes: '10',
    });
  });

  test('without a resource: empty resource and queue, and the fallback numbers', () => {
    assert.deepEqual(defaultSettings(app, undefined), {
      resource: '',
      queue: '',
      nodes: '1',
      coresPerNode: '1',
      walltimeMinutes: '10',
    });
  });
});

describe('initialValues', () => {
  test('the first usable resource and every input at its default, as the controls hold it', () => {
    assert.deepEqual(initialValues(app, [other, cluster, local]), {
      name: '',
      resource: 'hpc',
      queue: 'long',
      nodes: '2',
      coresPerNode: '4',
      walltimeMinutes: '120',
      inputs: { steps: '100', scale: '', label: '', verbose: true, mode: 'fast', data: '' },
    });
  });

  test('a boolean without a default is unchecked', () => {
    const flag: Application = { ...app, inputs: [{ name: 'flag', type: 'boolean' }] };
    assert.deepEqual(initialValues(flag, [local]).inputs, { flag: false });
  });
});

describe('valuesFromExperiment', () => {
  test("a clone's form holds the parent's inputs and settings, and defaults for inputs it lacks", () => {
    const values = valuesFromExperiment(
      app,
      parent({ steps: 5, label: 'x', verbose: false, data: 'upload-1' }, { nodes: 1 }),
    );
    assert.deepEqual(values, {
      name: 'first run (clone)',
      resource: 'hpc',
      queue: 'long',
      nodes: '1',
      coresPerNode: '4',
      walltimeMinutes: '120',
      inputs: { steps: '5', scale: '', label: 'x', verbose: false, mode: 'fast', data: 'upload-1' },
    });
  });

  test("a boolean stored as the string 'true' is checked", () => {
    assert.equal(valuesFromExperiment(app, parent({ verbose: 'true' })).inputs.verbose, true);
  });
});

describe('buildRequest', () => {
  const base: FormValues = initialValues(app, [cluster]);

  test('numbers are sent as numbers, text as typed, empty optional inputs left out', () => {
    const values: FormValues = {
      ...base,
      name: '  run 1  ',
      inputs: { ...base.inputs, steps: ' 2e3 ', label: 'hello', scale: '' },
    };
    assert.deepEqual(buildRequest(app, values, new Map()), {
      name: 'run 1',
      resource: 'hpc',
      queue: 'long',
      nodes: 2,
      coresPerNode: 4,
      walltimeMinutes: 120,
      inputs: { steps: 2000, label: 'hello', verbose: true, mode: 'fast' },
    });
  });

  test('resource auto sends no settings: each resource gets its own deployment', () => {
    const values: FormValues = { ...base, resource: 'auto', inputs: { ...base.inputs, steps: '5' } };
    assert.deepEqual(buildRequest(app, values, new Map()), {
      name: undefined,
      resource: 'auto',
      inputs: { steps: 5, verbose: true, mode: 'fast' },
    });
  });

  test('a number that is not one is sent as typed, so the server names it', () => {
    const values: FormValues = { ...base, inputs: { ...base.inputs, steps: 'many' } };
    assert.equal(buildRequest(app, values, new Map()).inputs.steps, 'many');
  });

  test('a blank name and unreadable settings are left out', () => {
    const values: FormValues = { ...base, name: '   ', nodes: '', coresPerNode: 'x', walltimeMinutes: ' ' };
    const request = buildRequest(app, values, new Map());
    assert.equal(request.name, undefined);
    assert.equal(request.nodes, undefined);
    assert.equal(request.coresPerNode, undefined);
    assert.equal(request.walltimeMinutes, undefined);
  });

  test('an unchecked boolean is sent as false', () => {
    const values: FormValues = { ...base, inputs: { ...base.inputs, verbose: false } };
    assert.equal(buildRequest(app, values, new Map()).inputs.verbose, false);
  });

  test('a picked file is sent as its upload id; an earlier upload id as it is', () => {
    const file = new File(['1,2\n'], 'data.csv');
    const picked: FormValues = { ...base, inputs: { ...base.inputs, data: file } };
    assert.equal(buildRequest(app, picked, new Map([[file, 'upload-2']])).inputs.data, 'upload-2');
    assert.equal(buildRequest(app, picked, new Map()).inputs.data, '');
    const earlier: FormValues = { ...base, inputs: { ...base.inputs, data: 'upload-1' } };
    assert.equal(buildRequest(app, earlier, new Map()).inputs.data, 'upload-1');
  });
});

describe('changesFromParent', () => {
  const first = parent({ steps: 100, scale: 1000000, label: 'a', verbose: true, mode: 'fast', data: 'upload-1' });

  test('the same values are no change, numbers compared as numbers', () => {
    const values = valuesFromExperiment(app, first);
    assert.deepEqual(
      changesFromParent(app, first, { ...values, inputs: { ...values.inputs, scale: '1e6' }, nodes: '2.0' }),
      [],
    );
  });

  test('inputs first, then resource and settings, each with its label and both values', () => {
    const values = valuesFromExperiment(app, first);
    const file = new File(['x'], 'new.csv');
    const changed: FormValues = {
      ...values,
      resource: 'other',
      queue: 'short',
      walltimeMinutes: '30',
      inputs: { ...values.inputs, steps: '5', verbose: false, data: file },
    };
    assert.deepEqual(changesFromParent(app, first, changed), [
      { field: 'inputs.steps', label: 'Steps', before: '100', after: '5' },
      { field: 'inputs.verbose', label: 'verbose', before: 'yes', after: 'no' },
      { field: 'inputs.data', label: 'data', before: 'upload-1', after: 'new file new.csv' },
      { field: 'resource', label: 'Resource', before: 'hpc', after: 'other' },
      { field: 'queue', label: 'Queue', before: 'long', after: 'short' },
      { field: 'walltimeMinutes', label: 'Walltime (minutes)', before: '120', after: '30' },
    ]);
  });

  test('an emptied input shows the default it will get, or a dash when it has none', () => {
    const full = parent({ steps: 100, scale: 2, label: 'a', verbose: true, mode: 'exact', data: 'upload-1' });
    const values = valuesFromExperiment(app, full);
    const emptied: FormValues = { ...values, inputs: { ...values.inputs, steps: '', scale: '', mode: '' } };
    assert.deepEqual(changesFromParent(app, full, emptied), [
      { field: 'inputs.scale', label: 'scale', before: '2', after: '—' },
      { field: 'inputs.mode', label: 'mode', before: 'exact', after: 'fast' },
    ]);
  });

  test('an optional number empty in the parent and in the clone is no change', () => {
    const without = parent({ steps: 100, label: 'a', verbose: true, mode: 'fast', data: 'upload-1' });
    const values = valuesFromExperiment(app, without);
    assert.equal(values.inputs.scale, '');
    assert.deepEqual(changesFromParent(app, without, values), []);
  });
});

describe('changedInputs', () => {
  test('only what differs (as text), and an input left out is sent as empty', () => {
    assert.deepEqual(
      changedInputs({ steps: 100, label: 'a', mode: 'fast' }, { steps: '100', label: 'b', extra: true }),
      { label: 'b', extra: true, mode: '' },
    );
  });

  test('nothing changed is an empty object', () => {
    assert.deepEqual(changedInputs({ steps: 100, verbose: false }, { steps: 100, verbose: false }), {});
  });
});

describe('describeBounds', () => {
  const plain = (value: number) => String(value);

  test('numbers: both bounds, one, or none', () => {
    assert.equal(
      describeBounds({ name: 'i', type: 'integer', minimum: 1, maximum: 9 }, plain),
      'A whole number from 1 to 9.',
    );
    assert.equal(describeBounds({ name: 'x', type: 'number', minimum: 0 }, plain), 'A number, at least 0.');
    assert.equal(describeBounds({ name: 'x', type: 'number', maximum: 5 }, plain), 'A number, at most 5.');
    assert.equal(describeBounds({ name: 'i', type: 'integer' }, plain), 'A whole number.');
  });

  test('text: its longest length, with the formatter given', () => {
    assert.equal(
      describeBounds({ name: 's', type: 'text', maxLength: 20000 }, (value) => value.toLocaleString('en-US')),
      'At most 20,000 characters.',
    );
    assert.equal(describeBounds({ name: 's', type: 'string' }, plain), null);
    assert.equal(describeBounds({ name: 'b', type: 'boolean' }, plain), null);
  });
});
