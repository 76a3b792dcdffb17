/**
 * Checks a user's inputs against an application's input schema, before anything is
 * created. Every problem is reported with the field it belongs to.
 */
import {
  controlCharacterPattern,
  loneSurrogatePattern,
  type ApplicationSpec,
  type InputDefinition,
  type InputValue,
} from './application.ts';

export interface FieldProblem {
  field: string;
  message: string;
}

export interface ValidatedInputs {
  values: Record<string, InputValue>;
  /** Upload ids referenced by file inputs; the caller checks they exist and are the user's. */
  uploads: Record<string, string>;
  problems: FieldProblem[];
}

/** A `text` input may hold line breaks and tabs, but no other control character (NUL included). */
const textControlPattern = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u;
/** A UUID as Drover makes them (upload and experiment ids), in any case. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Validates `raw` (a JSON object) for `application`. Numbers and booleans may also come
 * as strings (form fields, CLI `key=value`); they are converted. Defaults are filled in.
 */
export function validateInputs(application: ApplicationSpec, raw: unknown): ValidatedInputs {
  const problems: FieldProblem[] = [];
  const values: Record<string, InputValue> = {};
  const uploads: Record<string, string> = {};
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { values, uploads, problems: [{ field: 'inputs', message: 'must be an object of input name to value' }] };
  }
  const given = raw as Record<string, unknown>;
  const known = new Set(application.inputs.map((input) => input.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) {
      problems.push({
        field: `inputs.${name}`,
        message: `unknown input; ${application.name} takes: ${[...known].join(', ')}`,
      });
    }
  }
  for (const input of application.inputs) {
    const field = `inputs.${input.name}`;
    let value = given[input.name];
    if (value === undefined || value === null || value === '') {
      if (input.default !== undefined) value = input.default;
      else if (input.required) {
        problems.push({ field, message: 'is required' });
        continue;
      } else continue;
    }
    const checked = checkValue(input, value);
    if ('problem' in checked) problems.push({ field, message: checked.problem });
    else {
      values[input.name] = checked.value;
      if (input.type === 'file') uploads[input.name] = String(checked.value);
    }
  }
  return { values, uploads, problems };
}

function checkValue(input: InputDefinition, value: unknown): { value: InputValue } | { problem: string } {
  switch (input.type) {
    case 'string':
    case 'text': {
      if (typeof value !== 'string') return { problem: `must be a string, got ${describe(value)}` };
      const maxLength = input.maxLength ?? (input.type === 'text' ? 65536 : 4096);
      if (value.length > maxLength) return { problem: `must be at most ${maxLength} characters` };
      if (loneSurrogatePattern.test(value))
        return { problem: 'must be valid Unicode text (it holds a lone UTF-16 surrogate)' };
      const disallowed = input.type === 'text' ? textControlPattern : controlCharacterPattern;
      const found = disallowed.exec(value);
      if (found) {
        const character = `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
        return {
          problem:
            input.type === 'text'
              ? `must not contain control characters other than line breaks and tabs (found ${character} at offset ${found.index})`
              : `must be one line without control characters (found ${character} at offset ${found.index}); ` +
                'an application that needs multi-line values declares this input with type "text"',
        };
      }
      return { value };
    }
    case 'integer':
    case 'number': {
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isFinite(number))
        return { problem: `must be ${input.type === 'integer' ? 'an integer' : 'a number'}, got ${describe(value)}` };
      if (input.type === 'integer' && !Number.isSafeInteger(number))
        return { problem: `must be a whole number, got ${describe(value)}` };
      if (input.minimum !== undefined && number < input.minimum)
        return { problem: `must be at least ${input.minimum}` };
      if (input.maximum !== undefined && number > input.maximum) return { problem: `must be at most ${input.maximum}` };
      return { value: number };
    }
    case 'boolean': {
      if (typeof value === 'boolean') return { value };
      if (value === 'true' || value === 'false') return { value: value === 'true' };
      return { problem: `must be true or false, got ${describe(value)}` };
    }
    case 'enum': {
      if (typeof value !== 'string' || !(input.values ?? []).includes(value)) {
        return { problem: `must be one of ${(input.values ?? []).join(', ')}, got ${describe(value)}` };
      }
      return { value };
    }
    case 'file': {
      if (typeof value !== 'string' || !uuidPattern.test(value)) {
        return { problem: 'must be the id of an upload (POST /api/v1/uploads first)' };
      }
      return { value: value.toLowerCase() };
    }
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value);
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value);
}
