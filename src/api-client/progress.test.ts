import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPercent, progressTimes } from './progress.ts';

const started = '2026-12-02T10:00:00.000Z';

test('a running job: elapsed, walltime left, and the end at the pace it reported', () => {
  const times = progressTimes(
    {
      fraction: 0.25,
      updatedAt: '2026-12-02T10:05:00.000Z',
      jobStartedAt: started,
      jobEndedAt: null,
      walltimeMinutes: 60,
    },
    new Date('2026-12-02T10:06:00.000Z'),
  );
  assert.equal(times.elapsedMs, 6 * 60_000);
  assert.equal(times.walltimeLeftMs, 54 * 60_000);
  assert.equal(times.estimatedEnd?.toISOString(), '2026-12-02T10:20:00.000Z');
  assert.equal(times.overrunsWalltime, false);
});

test('a pace that ends past the walltime says so', () => {
  const times = progressTimes(
    {
      fraction: 0.1,
      updatedAt: '2026-12-02T10:10:00.000Z',
      jobStartedAt: started,
      jobEndedAt: null,
      walltimeMinutes: 60,
    },
    new Date('2026-12-02T10:10:00.000Z'),
  );
  assert.equal(times.estimatedEnd?.toISOString(), '2026-12-02T11:40:00.000Z');
  assert.equal(times.overrunsWalltime, true);
});

test('an ended job has its run time and no estimate; a job not started has nothing', () => {
  const ended = progressTimes(
    {
      fraction: 0.5,
      updatedAt: '2026-12-02T10:01:00.000Z',
      jobStartedAt: started,
      jobEndedAt: '2026-12-02T10:02:00.000Z',
      walltimeMinutes: 60,
    },
    new Date('2026-12-02T11:00:00.000Z'),
  );
  assert.deepEqual(ended, { elapsedMs: 120_000, walltimeLeftMs: null, estimatedEnd: null, overrunsWalltime: false });
  const waiting = progressTimes(
    { fraction: 0.5, updatedAt: started, jobStartedAt: null, jobEndedAt: null, walltimeMinutes: 60 },
    new Date(),
  );
  assert.equal(waiting.elapsedMs, null);
});

test('percentages are whole and never say 100% before the end', () => {
  assert.equal(formatPercent(0.426), '42%');
  assert.equal(formatPercent(0.999), '99%');
  assert.equal(formatPercent(1), '100%');
  assert.equal(formatPercent(0), '0%');
});
