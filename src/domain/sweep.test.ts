import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ApplicationSpec } from './application.ts';
import { ValidationError } from './errors.ts';
import { elementLabel, expandSweep, rangeLength, rangeValues, typedSpec, varySchema } from './sweep.ts';

const application = {
  name: 'heat',
  version: '1',
  inputs: [
    { name: 'steps', type: 'integer' },
    { name: 'diffusivity', type: 'number' },
    { name: 'boundary', type: 'enum', values: ['fixed', 'insulated'] },
    { name: 'verbose', type: 'boolean' },
  ],
  outputs: [],
  deployments: {},
} as unknown as ApplicationSpec;

describe('sweep expansion', () => {
  it('makes a range of decimal steps without rounding noise, its end included', () => {
    assert.deepEqual(rangeValues({ from: 0, to: 1, step: 0.1 }), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    assert.deepEqual(rangeValues({ from: 0, to: 1, step: 0.3 }), [0, 0.3, 0.6, 0.9]);
    assert.equal(rangeLength({ from: 0, to: 1e9, step: 1 }), 1e9 + 1);
  });

  it('loops the last varied input fastest in a product, and pairs values in a zip', () => {
    const vary = varySchema.parse({ steps: { values: ['10', 20] }, boundary: { values: ['fixed', 'insulated'] } });
    assert.deepEqual(expandSweep(application, vary, 'product', {}), [
      { steps: 10, boundary: 'fixed' },
      { steps: 10, boundary: 'insulated' },
      { steps: 20, boundary: 'fixed' },
      { steps: 20, boundary: 'insulated' },
    ]);
    assert.deepEqual(expandSweep(application, vary, 'zip', {}), [
      { steps: 10, boundary: 'fixed' },
      { steps: 20, boundary: 'insulated' },
    ]);
    const typed = varySchema.parse({ verbose: { values: ['true', false] } });
    assert.deepEqual(expandSweep(application, typed, 'product', {}), [{ verbose: true }, { verbose: false }]);
  });

  it('bounds the element count before expanding anything', () => {
    const vary = varySchema.parse({
      steps: { range: { from: 1, to: 1e12, step: 1 } },
      diffusivity: { range: { from: 0, to: 1e12, step: 1 } },
    });
    assert.throws(
      () => expandSweep(application, vary, 'product', {}),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.type === 'invalid-sweep' &&
        error.fields[0].field === 'vary' &&
        /a sweep has at most 1000/.test(error.fields[0].message),
    );
  });

  it('stores what the CLI sends as text as the inputs take it', () => {
    const vary = varySchema.parse({ steps: { values: ['10', 'lots'] }, boundary: { values: ['fixed'] } });
    assert.deepEqual(typedSpec(application, { diffusivity: '0.5', verbose: 'true', other: '1' }, vary), {
      fixed: { diffusivity: 0.5, verbose: true, other: '1' },
      vary: { steps: { values: [10, 'lots'] }, boundary: { values: ['fixed'] } },
    });
  });

  it('labels an element by its varied values', () => {
    assert.equal(
      elementLabel({ steps: 10, boundary: 'fixed', verbose: true }),
      'steps=10, boundary="fixed", verbose=true',
    );
  });
});
