import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv } from './csv.ts';

describe('parseCsv', () => {
  it('reads the header, the rows and which columns are numbers', () => {
    const table = parseCsv('x,temperature,label\n0,1.5,a\n0.5,-2e-3,b\n1,,c\n');
    assert.deepEqual(table.header, ['x', 'temperature', 'label']);
    assert.deepEqual(table.rows, [
      ['0', '1.5', 'a'],
      ['0.5', '-2e-3', 'b'],
      ['1', '', 'c'],
    ]);
    assert.deepEqual(table.numeric, [true, true, false]);
  });

  it('keeps quoted delimiters, line breaks and doubled quotes inside a field', () => {
    const table = parseCsv('name,note\r\n"a, b","line 1\nline ""2"""\r\n');
    assert.deepEqual(table.rows, [['a, b', 'line 1\nline "2"']]);
  });

  it('drops the last, possibly cut, line of a truncated text; pads and cuts rows to the header', () => {
    assert.deepEqual(parseCsv('a,b\n1,2\n3,4', ',', true).rows, [['1', '2']]);
    assert.deepEqual(parseCsv('a,b\n1,2\n3,4').rows, [
      ['1', '2'],
      ['3', '4'],
    ]);
    assert.deepEqual(parseCsv('a,b\n1\n1,2,3\n').rows, [
      ['1', ''],
      ['1', '2'],
    ]);
  });

  it('reads tab-separated values and an empty text', () => {
    assert.deepEqual(parseCsv('a\tb\n1\t2\n', '\t').rows, [['1', '2']]);
    assert.deepEqual(parseCsv(''), { header: [], rows: [], numeric: [] });
  });
});
