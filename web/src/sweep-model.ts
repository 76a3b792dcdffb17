/**
 * The new-experiment form's sweep choices, pure: what a user types to vary an input
 * (`1, 2, 3` or `0:1:0.25` for from:to:step), as the API's variation, how many
 * experiments that makes, and a sweep's element values as a table the plot can draw.
 */
import type { SweepElement, Variation } from '../../src/api-client/types';
import type { CsvTable } from './csv';

const number = String.raw`\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*`;
const rangePattern = new RegExp(`^${number}:${number}:${number}$`, 'i');

/**
 * The variation a text asks for: `from:to:step` is a range, anything else a list of values
 * separated by commas (typed by the server as the input takes them); null for a blank text.
 */
export function parseVariation(text: string): Variation | null {
  if (text.trim() === '') return null;
  const range = rangePattern.exec(text);
  if (range) return { range: { from: Number(range[1]), to: Number(range[2]), step: Number(range[3]) } };
  return {
    values: text
      .split(',')
      .map((value) => value.trim())
      .filter((value) => value !== ''),
  };
}

/** A variation as the text that asks for it (to fill the form from a sweep). */
export function variationText(variation: Variation): string {
  if (variation.range) return `${variation.range.from}:${variation.range.to}:${variation.range.step}`;
  return (variation.values ?? []).map(String).join(', ');
}

/** How many values a variation makes (as the server counts a range), or 0 for a bad one. */
export function variationLength(variation: Variation): number {
  if (variation.values) return variation.values.length;
  const range = variation.range;
  if (!range || !(range.step > 0) || range.to < range.from) return 0;
  return Math.floor((range.to - range.from) / range.step + 1e-9) + 1;
}

/** How many experiments the variations make: their product, or for `zip` their common length (0 when they differ). */
export function sweepSize(variations: Variation[], zip: boolean): number {
  if (variations.length === 0) return 0;
  const lengths = variations.map(variationLength);
  if (zip) return lengths.every((length) => length === lengths[0]) ? lengths[0] : 0;
  return lengths.reduce((product, length) => product * length, 1);
}

/**
 * A sweep's elements as a table for the plot: a column per varied input, then one per
 * headline value (by label), a row per element; numeric where every value is a number.
 */
export function elementTable(varied: string[], elements: SweepElement[]): CsvTable {
  const headlines = new Map<string, string>();
  for (const element of elements)
    for (const value of element.experiment.headlineValues)
      if (!headlines.has(value.name))
        headlines.set(value.name, value.unit ? `${value.label} (${value.unit})` : value.label);
  const header = [...varied, ...headlines.values()];
  const rows = elements.map((element) => [
    ...varied.map((name) => cell(element.inputs[name])),
    ...[...headlines.keys()].map((name) =>
      cell(element.experiment.headlineValues.find((value) => value.name === name)?.value),
    ),
  ]);
  const numeric = header.map(
    (_, column) =>
      rows.some((row) => row[column] !== '') &&
      rows.every((row) => row[column] === '' || Number.isFinite(Number(row[column]))),
  );
  return { header, rows, numeric };
}

function cell(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}
