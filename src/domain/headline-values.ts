/**
 * Headline values: the few numbers of a run a scientist looks for first, declared by the
 * application (`headlineValues` in the catalogue) and read from its JSON outputs after
 * stage-out. Pure: the caller reads the files.
 */
import type { HeadlineValueDefinition } from './application.ts';

/** A headline value as stored with an experiment and served by the API. */
export interface HeadlineValue {
  name: string;
  label: string;
  unit: string | null;
  /** The value found; null when the file or the path was missing or held no scalar. */
  value: number | string | boolean | null;
}

/** The most of a JSON output read for headline values: a larger file gives none. */
export const headlineFileLimitBytes = 1024 * 1024;

/** The longest text value kept (a program's output may hold anything). */
export const headlineTextLimit = 200;

/** A path into a JSON document: keys of letters, digits, `_` and `-`, joined by dots. */
export const headlinePathPattern = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/**
 * The value at `path` in `document`: a number, text (cut to `headlineTextLimit`
 * characters), boolean, or null when absent, not a scalar or not finite.
 */
export function headlineValueAt(document: unknown, path: string): HeadlineValue['value'] {
  let current: unknown = document;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return null;
    // Own keys only: a path may not walk into the prototype (`__proto__`, `constructor`).
    if (!Object.prototype.hasOwnProperty.call(current, key)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  if (typeof current === 'number') return Number.isFinite(current) ? current : null;
  if (typeof current === 'string') return current.slice(0, headlineTextLimit);
  if (typeof current === 'boolean') return current;
  return null;
}

/**
 * The headline values of `definitions`, in their order, from `documents` (output path to
 * its parsed JSON, or undefined when missing, too large or not JSON).
 */
export function extractHeadlineValues(
  definitions: readonly HeadlineValueDefinition[],
  documents: ReadonlyMap<string, unknown>,
): HeadlineValue[] {
  return definitions.map((definition) => ({
    name: definition.name,
    label: definition.label,
    unit: definition.unit ?? null,
    value: documents.has(definition.file) ? headlineValueAt(documents.get(definition.file), definition.path) : null,
  }));
}
