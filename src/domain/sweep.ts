/**
 * Parameter sweeps, pure: what a sweep request varies (`vary`: per input, a list of values
 * or a numeric range), how the varied inputs combine (`product`: every combination; `zip`:
 * the i-th value of each together), and the elements that makes, each a set of input
 * values that an experiment is validated with like any other. A sweep is bounded by
 * `maxSweepElements` before anything is expanded, so a huge range costs nothing.
 */
import { z } from 'zod';
import type { ApplicationSpec, InputType, InputValue } from './application.ts';
import { ValidationError, type FieldProblem } from './errors.ts';

/** The most elements (experiments) one sweep makes: what one bulk creation takes. */
export const maxSweepElements = 1000;
/** The most inputs one sweep varies. */
export const maxVariedInputs = 10;

/** How varied inputs combine: every combination, or the i-th value of each together. */
export const sweepCombinations = ['product', 'zip'] as const;
export type SweepCombination = (typeof sweepCombinations)[number];

const inputValueSchema = z.union([z.string(), z.number(), z.boolean()], {
  errorMap: () => ({ message: 'each value must be a string, a number or a boolean' }),
});
const finite = (what: string) =>
  z.number({ invalid_type_error: `${what} must be a number`, required_error: `${what} is required` }).finite();

const rangeSchema = z
  .object({ from: finite('from'), to: finite('to'), step: finite('step') })
  .strict()
  .superRefine((range, context) => {
    if (!(range.step > 0)) context.addIssue({ code: 'custom', path: ['step'], message: 'must be greater than 0' });
    else if (range.to < range.from)
      context.addIssue({ code: 'custom', path: ['to'], message: `must be at least from (${range.from})` });
  });

/** A numeric range, `from` to `to` inclusive by `step`. */
export type Range = z.infer<typeof rangeSchema>;

/** One varied input: a list of values, or a range `from` to `to` (inclusive) by `step`. */
export const variationSchema = z
  .object(
    {
      values: z.array(inputValueSchema).min(1, 'give at least one value').max(maxSweepElements).optional(),
      range: rangeSchema.optional(),
    },
    { invalid_type_error: 'must be { "values": [...] } or { "range": { "from", "to", "step" } }' },
  )
  .strict()
  .superRefine((variation, context) => {
    if ((variation.values === undefined) === (variation.range === undefined))
      context.addIssue({
        code: 'custom',
        message: 'give either values (a list) or range ({ from, to, step }), one of the two',
      });
  })
  .transform((variation): { values: InputValue[] } | { range: Range } =>
    variation.values !== undefined ? { values: variation.values } : { range: variation.range! },
  );
export type Variation = z.infer<typeof variationSchema>;

/** What a sweep varies, per input name. */
export const varySchema = z
  .record(variationSchema, { invalid_type_error: 'must be an object: input name to { values } or { range }' })
  .refine((vary) => Object.keys(vary).length >= 1, 'vary at least one input')
  .refine(
    (vary) => Object.keys(vary).length <= maxVariedInputs,
    `vary at most ${maxVariedInputs} inputs; fix the others in inputs`,
  );
export type Vary = z.infer<typeof varySchema>;

/** How many values a range makes, without making them (`from + i*step` up to `to`, a rounding error over). */
export function rangeLength(range: { from: number; to: number; step: number }): number {
  return Math.floor((range.to - range.from) / range.step + 1e-9) + 1;
}

/** A range's values; each rounded to 12 significant digits so 0.1 steps give 0.3, not 0.30000000000000004. */
export function rangeValues(range: { from: number; to: number; step: number }): number[] {
  return Array.from({ length: rangeLength(range) }, (_, index) =>
    Number((range.from + index * range.step).toPrecision(12)),
  );
}

/** The number of values one variation makes. */
function variationLength(variation: Variation): number {
  return 'values' in variation ? variation.values.length : rangeLength(variation.range);
}

/**
 * Checks a sweep's `vary` against the application and expands it into the elements' varied
 * inputs, in order: for `product`, the last varied input changes fastest (as nested loops in
 * the order given); for `zip`, element i takes the i-th value of each.
 *
 * @param fixed the inputs every element shares: an input may be fixed or varied, not both.
 * @returns each element's varied input values (merge them over `fixed`).
 * @throws {ValidationError} (`invalid-sweep`) naming `vary.<input>` or `vary`: an unknown
 *   input, a range over an input that is not a number, unequal lengths for `zip`, or more
 *   than {@link maxSweepElements} elements.
 */
export function expandSweep(
  application: ApplicationSpec,
  vary: Vary,
  combine: SweepCombination,
  fixed: Record<string, unknown>,
): Array<Record<string, InputValue>> {
  const problems: FieldProblem[] = [];
  const names = Object.keys(vary);
  for (const name of names) {
    const input = application.inputs.find((candidate) => candidate.name === name);
    const variation = vary[name];
    if (!input) {
      const known = application.inputs.map((candidate) => candidate.name).join(', ');
      problems.push({ field: `vary.${name}`, message: `${application.name} has no input ${name} (inputs: ${known})` });
    } else if (input.type === 'file') {
      problems.push({ field: `vary.${name}`, message: 'a file input cannot be varied; fix it in inputs' });
    } else if ('range' in variation && input.type !== 'integer' && input.type !== 'number') {
      problems.push({
        field: `vary.${name}.range`,
        message: `a range needs a number or integer input; ${name} is ${input.type}: give values instead`,
      });
    } else if (Object.hasOwn(fixed, name)) {
      problems.push({ field: `vary.${name}`, message: `${name} is also in inputs; give it in one place` });
    }
  }
  const lengths = names.map((name) => variationLength(vary[name]));
  if (problems.length === 0) {
    if (combine === 'zip') {
      const first = lengths[0];
      names.forEach((name, index) => {
        if (lengths[index] !== first)
          problems.push({
            field: `vary.${name}`,
            message: `makes ${lengths[index]} values and ${names[0]} ${first}; zip needs the same number from each`,
          });
      });
    }
    const count = combine === 'zip' ? lengths[0] : lengths.reduce((product, length) => product * length, 1);
    if (problems.length === 0 && count > maxSweepElements)
      problems.push({
        field: 'vary',
        message: `makes ${count.toLocaleString('en')} elements (${names.map((name, index) => `${name}: ${lengths[index]}`).join(combine === 'zip' ? ', ' : ' x ')}); a sweep has at most ${maxSweepElements}`,
      });
  }
  if (problems.length > 0) throw new ValidationError('invalid sweep', problems, 'invalid-sweep');
  const values = names.map((name): InputValue[] => {
    const variation = vary[name];
    if ('range' in variation) return rangeValues(variation.range);
    const input = application.inputs.find((candidate) => candidate.name === name)!;
    return variation.values.map((value) => typedValue(input.type, value));
  });
  if (combine === 'zip')
    return values[0].map((_, index) => Object.fromEntries(names.map((name, at) => [name, values[at][index]])));
  let elements: Array<Record<string, InputValue>> = [{}];
  names.forEach((name, at) => {
    elements = elements.flatMap((element) => values[at].map((value) => ({ ...element, [name]: value })));
  });
  return elements;
}

/**
 * A sweep's fixed inputs and listed values as their inputs' types take them, to store and
 * show (`"7"` for an integer input is 7); values of unknown inputs, and values that are not
 * their type written as text, are kept as they are (the elements' validation names them).
 */
export function typedSpec(
  application: ApplicationSpec,
  fixed: Record<string, unknown>,
  vary: Vary,
): { fixed: Record<string, unknown>; vary: Vary } {
  const typeOf = (name: string) => application.inputs.find((input) => input.name === name)?.type;
  const typed = (name: string, value: unknown) => {
    const type = typeOf(name);
    return type && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      ? typedValue(type, value)
      : value;
  };
  return {
    fixed: Object.fromEntries(Object.entries(fixed).map(([name, value]) => [name, typed(name, value)])),
    vary: Object.fromEntries(
      Object.entries(vary).map(([name, variation]) => [
        name,
        'values' in variation
          ? { values: variation.values.map((value) => typed(name, value) as InputValue) }
          : variation,
      ]),
    ),
  };
}

/**
 * A listed value as its input's type takes it, when it is that type written as text (the
 * CLI sends `--vary n=1,2` as text): `"2"` for an integer is 2, `"true"` for a boolean is
 * true. Anything else is kept as it is, for the element's validation to name.
 */
function typedValue(type: InputType, value: InputValue): InputValue {
  if (typeof value !== 'string' || value.trim() === '') return value;
  if ((type === 'integer' || type === 'number') && Number.isFinite(Number(value))) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/** A short label of an element's varied values (`n=1, x=0.25`), for its experiment's name. */
export function elementLabel(varied: Record<string, InputValue>): string {
  return Object.entries(varied)
    .map(([name, value]) => `${name}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`)
    .join(', ');
}
