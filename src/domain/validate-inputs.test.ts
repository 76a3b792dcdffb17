/**
 * validateInputs: a user's inputs checked against an application's input schema, each
 * problem named by its field, values converted and defaults filled in.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApplicationSpec, InputDefinition } from './application.ts';
import { validateInputs } from './validate-inputs.ts';

/** An application with just `inputs` (the rest does not matter to validation). */
function application(...inputs: InputDefinition[]): ApplicationSpec {
  return { name: 'demo', version: '1', title: 'Demo', inputs, outputs: [], deployments: {} };
}

/** The one problem's message for `value` given to a lone input `input`, or null when it is accepted. */
function problemFor(input: InputDefinition, value: unknown): string | null {
  const { problems } = validateInputs(application(input), { [input.name]: value });
  assert.ok(problems.length <= 1, JSON.stringify(problems));
  return problems[0]?.message ?? null;
}

describe('validateInputs', () => {
  test('no inputs given (undefined or null) is an empty object', () => {
    for (const raw of [undefined, null, {}]) {
      assert.deepEqual(validateInputs(application({ name: 'n', type: 'integer' }), raw), {
        values: {},
        uploads: {},
        problems: [],
      });
    }
  });

  test('inputs that are not an object are one problem on `inputs`', () => {
    for (const raw of [[], 'x', 3, true]) {
      assert.deepEqual(validateInputs(application({ name: 'n', type: 'integer' }), raw).problems, [
        { field: 'inputs', message: 'must be an object of input name to value' },
      ]);
    }
  });

  test('an unknown input names the inputs the application takes', () => {
    const { problems } = validateInputs(application({ name: 'a', type: 'string' }, { name: 'b', type: 'string' }), {
      c: 'x',
    });
    assert.deepEqual(problems, [{ field: 'inputs.c', message: 'unknown input; demo takes: a, b' }]);
  });

  test('a missing required input is a problem; a missing optional one is left out; a default fills in', () => {
    const app = application(
      { name: 'needed', type: 'string', required: true },
      { name: 'optional', type: 'integer' },
      { name: 'defaulted', type: 'integer', default: 7 },
    );
    assert.deepEqual(validateInputs(app, {}), {
      values: { defaulted: 7 },
      uploads: {},
      problems: [{ field: 'inputs.needed', message: 'is required' }],
    });
  });

  test("'' and null count as not given, so the default applies", () => {
    const app = application({ name: 'steps', type: 'integer', default: 5, required: true });
    assert.deepEqual(validateInputs(app, { steps: '' }).values, { steps: 5 });
    assert.deepEqual(validateInputs(app, { steps: null }).values, { steps: 5 });
  });

  test('a default is checked like a given value', () => {
    const { problems } = validateInputs(application({ name: 'steps', type: 'integer', default: 'many' }), {});
    assert.deepEqual(problems, [{ field: 'inputs.steps', message: 'must be an integer, got "many"' }]);
  });

  test('every problem is reported, not only the first', () => {
    const app = application({ name: 'a', type: 'integer' }, { name: 'b', type: 'boolean' });
    const fields = validateInputs(app, { a: 'x', b: 'maybe', c: 1 }).problems.map((problem) => problem.field);
    assert.deepEqual(fields, ['inputs.c', 'inputs.a', 'inputs.b']);
  });

  describe('string', () => {
    const input: InputDefinition = { name: 'label', type: 'string' };

    test('takes one line of text', () => {
      assert.deepEqual(validateInputs(application(input), { label: 'héllo wörld ✓ 🧪' }).values, {
        label: 'héllo wörld ✓ 🧪',
      });
    });

    test('refuses non-strings, naming what it got', () => {
      assert.equal(problemFor(input, 3), 'must be a string, got 3');
      assert.equal(problemFor(input, ['a']), 'must be a string, got an array');
      assert.equal(problemFor(input, { a: 1 }), 'must be a string, got an object');
    });

    test('refuses line breaks and other control characters, naming the first one and where', () => {
      assert.match(
        problemFor(input, 'one\ntwo')!,
        /^must be one line without control characters \(found U\+000A at offset 3\); .*type "text"$/,
      );
      assert.match(problemFor(input, 'a\u0000')!, /found U\+0000 at offset 1/);
      assert.match(problemFor(input, 'tab\there')!, /found U\+0009 at offset 3/);
      assert.match(problemFor(input, 'x\u2028')!, /found U\+2028 at offset 1/);
      assert.match(problemFor(input, '\u0085')!, /found U\+0085 at offset 0/);
    });

    test('refuses a lone surrogate but takes a pair', () => {
      assert.equal(problemFor(input, 'a\uD800b'), 'must be valid Unicode text (it holds a lone UTF-16 surrogate)');
      assert.equal(problemFor(input, '\uD83E\uDDEA'), null);
    });

    test('is at most 4096 characters unless maxLength says otherwise', () => {
      assert.equal(problemFor(input, 'x'.repeat(4096)), null);
      assert.equal(problemFor(input, 'x'.repeat(4097)), 'must be at most 4096 characters');
      assert.equal(problemFor({ ...input, maxLength: 3 }, 'abcd'), 'must be at most 3 characters');
    });

    test('a long value is shortened in the message', () => {
      assert.equal(
        problemFor({ name: 'n', type: 'integer' }, 'y'.repeat(50)),
        `must be an integer, got "${'y'.repeat(40)}..."`,
      );
    });
  });

  describe('text', () => {
    const input: InputDefinition = { name: 'block', type: 'text' };

    test('takes line breaks and tabs', () => {
      assert.equal(problemFor(input, 'line one\r\n\tline two\n'), null);
    });

    test('refuses other control characters', () => {
      assert.equal(
        problemFor(input, 'a\u0007'),
        'must not contain control characters other than line breaks and tabs (found U+0007 at offset 1)',
      );
      assert.match(problemFor(input, '\u0000')!, /U\+0000/);
    });

    test('is at most 65536 characters by default', () => {
      assert.equal(problemFor(input, 'x'.repeat(65536)), null);
      assert.equal(problemFor(input, 'x'.repeat(65537)), 'must be at most 65536 characters');
    });
  });

  describe('integer and number', () => {
    test('numbers may come as strings (form fields, CLI key=value) and are converted', () => {
      const app = application({ name: 'i', type: 'integer' }, { name: 'x', type: 'number' });
      assert.deepEqual(validateInputs(app, { i: '42', x: ' 2.5e3 ' }).values, { i: 42, x: 2500 });
    });

    test('refuses what is not a finite number', () => {
      const input: InputDefinition = { name: 'x', type: 'number' };
      assert.equal(problemFor(input, 'abc'), 'must be a number, got "abc"');
      assert.equal(problemFor(input, '   '), 'must be a number, got "   "');
      assert.equal(problemFor(input, 'Infinity'), 'must be a number, got "Infinity"');
      assert.equal(problemFor(input, true), 'must be a number, got true');
    });

    test('an integer is a safe whole number', () => {
      const input: InputDefinition = { name: 'i', type: 'integer' };
      assert.equal(problemFor(input, 1.5), 'must be a whole number, got 1.5');
      assert.equal(problemFor(input, 2 ** 53), `must be a whole number, got ${2 ** 53}`);
      assert.equal(problemFor(input, -3), null);
    });

    test('bounds are inclusive', () => {
      const input: InputDefinition = { name: 'i', type: 'integer', minimum: 1, maximum: 10 };
      assert.equal(problemFor(input, 1), null);
      assert.equal(problemFor(input, 10), null);
      assert.equal(problemFor(input, 0), 'must be at least 1');
      assert.equal(problemFor(input, '11'), 'must be at most 10');
    });
  });

  describe('boolean', () => {
    const input: InputDefinition = { name: 'b', type: 'boolean' };

    test('takes true, false and their strings', () => {
      const app = application(input, { name: 'c', type: 'boolean' }, { name: 'd', type: 'boolean' });
      assert.deepEqual(validateInputs(app, { b: 'true', c: false, d: 'false' }).values, {
        b: true,
        c: false,
        d: false,
      });
    });

    test('refuses anything else', () => {
      assert.equal(problemFor(input, 'yes'), 'must be true or false, got "yes"');
      assert.equal(problemFor(input, 1), 'must be true or false, got 1');
    });
  });

  describe('enum', () => {
    const input: InputDefinition = { name: 'mode', type: 'enum', values: ['fast', 'exact'] };

    test('takes one of its values, exactly', () => {
      assert.equal(problemFor(input, 'exact'), null);
      assert.equal(problemFor(input, 'Exact'), 'must be one of fast, exact, got "Exact"');
      assert.equal(problemFor(input, 1), 'must be one of fast, exact, got 1');
    });
  });

  describe('file', () => {
    const input: InputDefinition = { name: 'data', type: 'file' };
    const uploadId = '0F8FAD5B-D9CB-469F-A165-70867728950E';

    test('takes an upload id (lower-cased) and lists it among the uploads', () => {
      assert.deepEqual(validateInputs(application(input), { data: uploadId }), {
        values: { data: uploadId.toLowerCase() },
        uploads: { data: uploadId.toLowerCase() },
        problems: [],
      });
    });

    test('refuses anything that is not an upload id', () => {
      for (const value of ['data.csv', `${uploadId}x`, '../etc/passwd', 7]) {
        assert.equal(problemFor(input, value), 'must be the id of an upload (POST /api/v1/uploads first)');
      }
    });
  });
});
