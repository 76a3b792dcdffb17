import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { elementTable, parseVariation, sweepSize, variationText } from './sweep-model.ts';

describe('sweep choices', () => {
  it('reads a list or a from:to:step range, and writes it back', () => {
    assert.equal(parseVariation('  '), null);
    assert.deepEqual(parseVariation('1, 2,,3'), { values: ['1', '2', '3'] });
    assert.deepEqual(parseVariation('fixed,insulated'), { values: ['fixed', 'insulated'] });
    assert.deepEqual(parseVariation('0:1:0.25'), { range: { from: 0, to: 1, step: 0.25 } });
    assert.deepEqual(parseVariation('-1 : 1e2 : .5'), { range: { from: -1, to: 100, step: 0.5 } });
    assert.equal(variationText({ range: { from: 0, to: 1, step: 0.25 } }), '0:1:0.25');
    assert.equal(variationText({ values: [1, 'a'] }), '1, a');
  });

  it('counts a product, a zip, and nothing for unequal zips', () => {
    const list = { values: ['1', '2', '3'] };
    const range = { range: { from: 0, to: 1, step: 0.5 } };
    assert.equal(sweepSize([list, range], false), 9);
    assert.equal(sweepSize([list, range], true), 3);
    assert.equal(sweepSize([list, { values: ['1'] }], true), 0);
  });

  it('makes a table of varied inputs and headline values for the plot', () => {
    const element = (index: number, samples: number, estimate: number | null) =>
      ({
        index,
        inputs: { samples },
        previous: [],
        experiment: { headlineValues: [{ name: 'estimate', label: 'Estimate', value: estimate }] },
      }) as never;
    const table = elementTable(['samples'], [element(0, 10, 3.1), element(1, 20, null)]);
    assert.deepEqual(table.header, ['samples', 'Estimate']);
    assert.deepEqual(table.rows, [
      ['10', '3.1'],
      ['20', ''],
    ]);
    assert.deepEqual(table.numeric, [true, true]);
  });
});
