import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProgressPattern, mergeProgress, readProgress } from './progress.ts';

const heat = compileProgressPattern('step {current}/{total} t={t} max={max} mean={mean}');

test("Drover's own lines: the last progress line gives the position, every value line adds", () => {
  const report = readProgress(
    [
      'starting',
      '::drover progress 10/200 warming up',
      '::drover value energy=-1.5e3 phase=liquid',
      '::drover progress 40/200',
      '::drover value energy=-1.25e3',
      'ordinary output',
      '',
    ].join('\n'),
    { truncated: false },
  );
  assert.deepEqual(report, {
    fraction: 0.2,
    current: 40,
    total: 200,
    message: null,
    values: { energy: -1250, phase: 'liquid' },
  });
  assert.equal(readProgress('::drover progress 37.5% meshing\n', { truncated: false })?.fraction, 0.375);
  assert.equal(readProgress('::drover progress 37.5% meshing\n', { truncated: false })?.message, 'meshing');
});

test('an application pattern reads the program its own way, named placeholders become values', () => {
  const report = readProgress('step 12/50 t=0.24 max=0.98 mean=0.31\nstep 13/50 t=0.26 max=0.97 mean=0.31\n', {
    truncated: false,
    pattern: heat,
  });
  assert.deepEqual(report, {
    fraction: 13 / 50,
    current: 13,
    total: 50,
    message: null,
    values: { t: 0.26, max: 0.97, mean: 0.31 },
  });
  const pi = compileProgressPattern('progress {percent}% {done}/{samples} estimate={estimate} elapsed={elapsed}s');
  assert.deepEqual(
    readProgress('progress  30% 300/1000 estimate=3.14000000 elapsed=0.52s\n', { truncated: false, pattern: pi }),
    {
      fraction: 0.3,
      current: null,
      total: null,
      message: null,
      values: { done: 300, samples: 1000, estimate: 3.14, elapsed: 0.52 },
    },
  );
});

test('only whole lines count: a cut first line and an unfinished last line are skipped', () => {
  assert.equal(
    readProgress('ess 99/100\n::drover progress 5/100\n::drover progress 6/1', { truncated: true })?.current,
    5,
  );
  assert.equal(readProgress('::drover progress 99/100\n', { truncated: true }), null);
  assert.equal(readProgress('::drover progress 7/100\r\n', { truncated: false })?.current, 7);
});

test('what a program cannot do with its output: control characters, bad numbers, odd names, floods of values', () => {
  const escape = readProgress('::drover progress 1/2 \u001b[2J\u001b]0;owned\u0007 done\n', { truncated: false });
  assert.equal(escape?.message, '[2J ]0;owned  done');
  assert.equal(
    readProgress('::drover progress 1/0\n::drover progress x/2\n::drover progress NaN%\n', { truncated: false }),
    null,
  );
  assert.equal(readProgress('::drover progress 250%\n', { truncated: false })?.fraction, 1);
  const odd = readProgress('::drover value __proto__=1 constructor=2 9lives=3 ok=4\n', { truncated: false });
  assert.deepEqual(odd?.values, { constructor: 2, ok: 4 });
  assert.equal(Object.getPrototypeOf(odd?.values), Object.prototype);
  const flood = Array.from({ length: 40 }, (_, index) => `::drover value v${index}=${index}`).join('\n');
  assert.equal(Object.keys(readProgress(`${flood}\n`, { truncated: false })!.values).length, 24);
  assert.equal(readProgress(`::drover progress 1/2 ${'x'.repeat(600)}\n`, { truncated: false }), null);
});

test('patterns are checked when the catalogue is loaded, and cannot backtrack', () => {
  assert.throws(() => compileProgressPattern('step'), /at least one placeholder/);
  assert.throws(() => compileProgressPattern('{current}{total}'), /separated/);
  assert.throws(() => compileProgressPattern('{message} at {current}/{total}'), /must come last/);
  assert.throws(() => compileProgressPattern('{current} of {current}'), /twice/);
  assert.throws(() => compileProgressPattern('{current} only'), /needs \{current\} and \{total\}/);
  const pattern = compileProgressPattern('a{x}a{y}a{z}a{current}/{total}');
  const started = performance.now();
  readProgress(`${'a'.repeat(500)}\n`.repeat(4), { truncated: false, pattern });
  assert.ok(performance.now() - started < 1000, 'a crafted line must not take long to match');
  assert.equal(compileProgressPattern('[x] {current}/{total} (y)').expression.test('[x] 1/2 (y)'), true);
});

test('merging keeps earlier values, and an unchanged report writes nothing', () => {
  const now = new Date('2026-12-02T10:00:00Z');
  const first = mergeProgress(
    null,
    readProgress('::drover progress 1/4\n::drover value a=1\n', { truncated: false }),
    now,
  );
  assert.deepEqual(first, {
    fraction: 0.25,
    current: 1,
    total: 4,
    message: null,
    values: { a: 1 },
    updatedAt: now.toISOString(),
  });
  assert.equal(mergeProgress(first, readProgress('::drover progress 1/4\n', { truncated: false }), now), null);
  const later = mergeProgress(
    first,
    readProgress('::drover progress 2/4\n::drover value b=x\n', { truncated: false }),
    now,
  );
  assert.deepEqual(later?.values, { a: 1, b: 'x' });
  assert.equal(later?.current, 2);
  assert.equal(mergeProgress(first, null, now), null);
});
