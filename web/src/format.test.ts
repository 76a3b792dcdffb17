/**
 * How the UI writes sizes, durations and values. Times and numbers follow the runtime's
 * locale, so those are checked against Intl itself, not against one locale's text.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatBytes,
  formatDateTime,
  formatDuration,
  formatHeadline,
  formatNumber,
  formatTime,
  formatValue,
} from './format';

describe('formatBytes', () => {
  test('bytes below 1 KB as they are; then one decimal below 10, none above', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1024), '1.0 KB');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(10 * 1024), '10 KB');
    assert.equal(formatBytes(1.2 * 1024 ** 2), '1.2 MB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GB');
  });

  test('TB is the largest unit', () => {
    assert.equal(formatBytes(2048 * 1024 ** 4), '2048 TB');
  });
});

describe('formatDuration', () => {
  const start = '2026-03-12T14:00:00.000Z';
  const plus = (ms: number) => new Date(Date.parse(start) + ms).toISOString();

  test('seconds with one decimal below a minute, then minutes and seconds, then hours and minutes', () => {
    assert.equal(formatDuration(start, plus(3400)), '3.4 s');
    assert.equal(formatDuration(start, plus(0)), '0.0 s');
    assert.equal(formatDuration(start, plus(62_500)), '1 min 2 s');
    assert.equal(formatDuration(start, plus(59 * 60_000 + 59_999)), '59 min 59 s');
    assert.equal(formatDuration(start, plus(62 * 60_000)), '1 h 2 min');
    assert.equal(formatDuration(new Date(start), new Date(plus(25 * 3600_000))), '25 h 0 min');
  });

  test('no start, a negative span or an unreadable time is a dash', () => {
    assert.equal(formatDuration(null), '—');
    assert.equal(formatDuration(undefined, plus(1000)), '—');
    assert.equal(formatDuration(plus(1000), start), '—');
    assert.equal(formatDuration('not a time', start), '—');
  });

  test('without an end, until now', () => {
    assert.equal(formatDuration(new Date(Date.now() - 2 * 3600_000 - 5 * 60_000)), '2 h 5 min');
  });
});

describe('formatDateTime and formatTime', () => {
  test('no time is a dash', () => {
    assert.equal(formatDateTime(null), '—');
    assert.equal(formatDateTime(undefined), '—');
    assert.equal(formatDateTime(''), '—');
  });

  test('an unreadable time is shown as it came', () => {
    assert.equal(formatDateTime('soon'), 'soon');
    assert.equal(formatTime('soon'), 'soon');
  });

  test("a time in the runtime's locale: date and time, or the time alone", () => {
    const at = '2026-03-12T14:03:05Z';
    assert.equal(
      formatDateTime(at),
      new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(at)),
    );
    assert.equal(
      formatTime(new Date(at)),
      new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(
        new Date(at),
      ),
    );
  });
});

describe('formatNumber', () => {
  test("the locale's grouping, and up to 10 decimals", () => {
    const locale = new Intl.NumberFormat(undefined, { maximumFractionDigits: 10 });
    assert.equal(formatNumber(2_000_000_000), locale.format(2_000_000_000));
    assert.equal(formatNumber(0.1234567891), locale.format(0.1234567891));
  });
});

describe('formatValue', () => {
  test('booleans as yes or no, nothing as a dash, everything else as written', () => {
    assert.equal(formatValue(true), 'yes');
    assert.equal(formatValue(false), 'no');
    for (const nothing of [undefined, null, '']) assert.equal(formatValue(nothing), '—');
    assert.equal(formatValue(0), '0');
    assert.equal(formatValue('fast'), 'fast');
    assert.equal(formatValue(1e21), '1e+21');
  });
});

describe('formatHeadline', () => {
  test('numbers to 6 significant digits with the unit; booleans yes/no; text as written; none as a dash', () => {
    const six = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 6 });
    assert.equal(formatHeadline(15.11676613090272, 's'), `${six.format(15.1168)} s`);
    assert.equal(formatHeadline(5), '5');
    assert.equal(formatHeadline(true), 'yes');
    assert.equal(formatHeadline('interrupted by SIGTERM'), 'interrupted by SIGTERM');
    assert.equal(formatHeadline(null, 'K'), '—');
  });
});
