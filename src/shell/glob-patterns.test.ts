import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGlobPatterns } from './glob-patterns.ts';

test('checkGlobPatterns accepts patterns inside the directory and refuses the rest', () => {
  assert.doesNotThrow(() => checkGlobPatterns(['**', '*.txt', 'sub/**', './a.txt', '!a.txt', '.cache/*', 'a..b', '']));
  for (const pattern of ['/etc/*', '~/x', '~', '..', '../x', 'sub/../../x', 'sub/..']) {
    assert.throws(() => checkGlobPatterns(['ok', pattern]), RangeError, pattern);
  }
});
