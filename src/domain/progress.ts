/**
 * Progress from inside a running job: what a program prints about itself, read from the
 * last bytes of its stdout at each poll. Two ways to say it, both plain lines of text:
 *
 * - Drover's own lines, for any program in any language:
 *   `::drover progress 40/100 [message]`, `::drover progress 40% [message]` and
 *   `::drover value name=value [name=value ...]`.
 * - An application's `progress` pattern in the catalogue, for programs that already print
 *   their progress their own way: `step {current}/{total} t={t}`, where `{current}`,
 *   `{total}`, `{percent}` and `{message}` say how far it is and any other `{name}` is a
 *   named value.
 *
 * Pure: no I/O. The controller calls `readProgress` on what a poll brought back and stores
 * the result with the job when it changed (job-state.ts `recordProgress`).
 */

/** Bytes of a job's stdout that each poll reads (its end). */
export const outputTailBytes = 2048;

/** Longest output line that is looked at; longer lines are skipped. */
const longestLine = 512;
/** Most named values kept per job; later names beyond it are dropped. */
const mostValues = 24;
/** Longest kept message or string value, in characters. */
const longestText = 200;

/** A job's progress as stored and served. */
export interface JobProgress {
  /** How far, 0 to 1, when the program said (a percentage, or current of total). */
  fraction: number | null;
  current: number | null;
  total: number | null;
  /** The program's own words about where it is. */
  message: string | null;
  /** Named values the program reported, latest value of each. */
  values: Record<string, number | string>;
  /** When Drover last saw the progress change (ISO 8601). */
  updatedAt: string;
}

/** What one read of the output says, before it is merged into the stored progress. */
export type ProgressReport = Omit<JobProgress, 'updatedAt'>;

/** An application's way of printing progress, from the catalogue. */
export interface ProgressPattern {
  /** A line template: literal text with `{current}`, `{total}`, `{percent}`, `{message}` and `{name}` placeholders. */
  pattern: string;
}

const placeholderPattern = /\{([A-Za-z][A-Za-z0-9_]{0,39})\}/g;
const namePattern = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const numberPattern = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
/** The characters of the C0 and C1 control sets and DEL: kept out of messages a terminal or page shows. */
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu;

/** A compiled application pattern: its regular expression and its placeholder names, in order. */
export interface CompiledPattern {
  expression: RegExp;
  names: string[];
}

/**
 * Compiles a catalogue template into a regular expression that cannot backtrack: each
 * placeholder takes the characters up to the next literal character (or white space), so
 * matching is linear in the line's length whatever the template, which a gateway admin
 * writes and every program's output is matched against.
 *
 * @throws {RangeError} saying what is wrong with the template.
 */
export function compileProgressPattern(template: string): CompiledPattern {
  if (template.length === 0 || template.length > 200) throw new RangeError('must be 1 to 200 characters');
  const names: string[] = [];
  let source = '^\\s*';
  let rest = template.trim();
  let previousWasPlaceholder = false;
  while (rest.length > 0) {
    placeholderPattern.lastIndex = 0;
    const match = placeholderPattern.exec(rest);
    const literal = match ? rest.slice(0, match.index) : rest;
    if (literal.length > 0) {
      source += literal
        .split(/\s+/)
        .map((word) => word.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))
        .join('\\s+');
      previousWasPlaceholder = false;
    }
    if (!match) break;
    const name = match[1];
    if (previousWasPlaceholder)
      throw new RangeError(`{${name}} must be separated from the placeholder before it by text`);
    if (names.includes(name)) throw new RangeError(`{${name}} appears twice`);
    names.push(name);
    rest = rest.slice(match.index + match[0].length);
    if (name === 'message') {
      if (rest.trim().length > 0) throw new RangeError('{message} takes the rest of the line, so it must come last');
      source += '(.*)';
      break;
    }
    // Up to the next literal character, or the next white space when none follows.
    const next = rest[0];
    source += next === undefined || /\s/.test(next) ? '(\\S+)' : `([^\\s${next.replace(/[\]\\^-]/g, '\\$&')}]+)`;
    previousWasPlaceholder = true;
  }
  if (names.length === 0)
    throw new RangeError('needs at least one placeholder, such as {current}/{total} or {percent}');
  const hasCount = names.includes('current') && names.includes('total');
  if (!hasCount && !names.includes('percent') && names.every((name) => ['current', 'total', 'message'].includes(name)))
    throw new RangeError('needs {current} and {total}, {percent}, or a named value');
  return { expression: new RegExp(`${source}\\s*$`), names };
}

/**
 * Reads the progress a program reported in the end of its output: the last progress line
 * (Drover's own or the application's pattern) gives fraction, counts and message; every
 * value line and pattern value is kept, later ones winning. Only whole lines count: the
 * first line is skipped when the text was cut from a longer output, the last when the
 * program has not finished writing it.
 *
 * @param tail the last bytes of the job's stdout
 * @param truncated whether `tail` starts part way into the output
 * @returns null when the text holds no progress at all
 */
export function readProgress(
  tail: string,
  options: { truncated: boolean; pattern?: CompiledPattern | null },
): ProgressReport | null {
  const lines = tail.split('\n');
  lines.pop(); // after the last newline: empty, or a line still being written
  if (options.truncated) lines.shift();
  let report: ProgressReport | null = null;
  for (const rawLine of lines) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.length > longestLine) continue;
    const found = line.startsWith('::drover ')
      ? readDroverLine(line.slice('::drover '.length))
      : options.pattern
        ? readPatternLine(line, options.pattern)
        : null;
    if (!found) continue;
    report ??= { fraction: null, current: null, total: null, message: null, values: {} };
    if (found.hasPosition) {
      report.fraction = found.fraction;
      report.current = found.current;
      report.total = found.total;
      report.message = found.message;
    }
    addValues(report.values, found.values);
  }
  return report;
}

/**
 * The progress to store: `report` over what was stored before (named values accumulate,
 * so a value printed once stays after it scrolls out of the tail). Returns null when
 * nothing changed, so an unchanged poll writes nothing.
 */
export function mergeProgress(
  stored: JobProgress | null,
  report: ProgressReport | null,
  now: Date,
): JobProgress | null {
  if (!report) return null;
  const values = { ...(stored?.values ?? {}) };
  addValues(values, Object.entries(report.values));
  const next: JobProgress = {
    fraction: report.fraction ?? stored?.fraction ?? null,
    current: report.fraction !== null ? report.current : (stored?.current ?? null),
    total: report.fraction !== null ? report.total : (stored?.total ?? null),
    message: report.message ?? (report.fraction !== null ? null : (stored?.message ?? null)),
    values,
    updatedAt: now.toISOString(),
  };
  if (
    stored &&
    stored.fraction === next.fraction &&
    stored.current === next.current &&
    stored.total === next.total &&
    stored.message === next.message &&
    JSON.stringify(stored.values) === JSON.stringify(next.values)
  )
    return null;
  return next;
}

interface FoundLine {
  hasPosition: boolean;
  fraction: number | null;
  current: number | null;
  total: number | null;
  message: string | null;
  /** Name and text of each value the line reported, in order. */
  values: Array<[string, string]>;
}

/** `progress 40/100 [message]`, `progress 40% [message]` or `value a=1 b=x`. */
function readDroverLine(rest: string): FoundLine | null {
  const progress = /^progress\s+(?:(\S+)\/(\S+)|(\S+)%)(?:\s+(.*))?$/.exec(rest);
  if (progress) {
    const [, current, total, percent, message] = progress;
    return position(percent === undefined ? { current, total } : { percent }, message, []);
  }
  const valueLine = /^value\s+(.+)$/.exec(rest);
  if (!valueLine) return null;
  const values: Array<[string, string]> = [];
  for (const pair of valueLine[1].trim().split(/\s+/)) {
    const equals = pair.indexOf('=');
    if (equals > 0) values.push([pair.slice(0, equals), pair.slice(equals + 1)]);
  }
  return { hasPosition: false, fraction: null, current: null, total: null, message: null, values };
}

function readPatternLine(line: string, pattern: CompiledPattern): FoundLine | null {
  const match = pattern.expression.exec(line);
  if (!match) return null;
  const byName = new Map(pattern.names.map((name, index) => [name, match[index + 1]]));
  const values = [...byName].filter(([name]) => !['current', 'total', 'percent', 'message'].includes(name));
  const hasCount = byName.has('current') && byName.has('total');
  if (!hasCount && !byName.has('percent'))
    return { hasPosition: false, fraction: null, current: null, total: null, message: null, values };
  return position(
    byName.has('percent')
      ? { percent: byName.get('percent') }
      : { current: byName.get('current'), total: byName.get('total') },
    byName.get('message'),
    values,
  );
}

/** The position a progress line gives; a line whose numbers do not read is not progress. */
function position(
  said: { current?: string; total?: string; percent?: string },
  message: string | undefined,
  values: Array<[string, string]>,
): FoundLine | null {
  let fraction: number;
  let current: number | null = null;
  let total: number | null = null;
  if (said.percent !== undefined) {
    if (!numberPattern.test(said.percent)) return null;
    fraction = Number(said.percent) / 100;
  } else {
    if (!numberPattern.test(said.current ?? '') || !numberPattern.test(said.total ?? '')) return null;
    current = Number(said.current);
    total = Number(said.total);
    if (!(total > 0)) return null;
    fraction = current / total;
  }
  if (!Number.isFinite(fraction)) return null;
  return {
    hasPosition: true,
    fraction: Math.min(1, Math.max(0, fraction)),
    current,
    total,
    message: cleanText(message ?? '') || null,
    values,
  };
}

/** Adds reported values: names checked, numbers as numbers, text cleaned and capped, at most `mostValues`. */
function addValues(into: Record<string, number | string>, values: Iterable<[string, number | string]>): void {
  for (const [name, raw] of values) {
    if (!namePattern.test(name)) continue;
    if (!Object.hasOwn(into, name) && Object.keys(into).length >= mostValues) continue;
    const text = String(raw);
    into[name] = numberPattern.test(text) && Number.isFinite(Number(text)) ? Number(text) : cleanText(text);
  }
}

/** Text a page or a terminal may show: no control characters (a terminal escape is one), capped. */
function cleanText(text: string): string {
  return text.replace(controlCharacters, ' ').trim().slice(0, longestText);
}
