import { useId } from 'react';
import type { Application } from '../../../src/api-client/types';
import { parseVariation, sweepSize } from '../sweep-model';

/** What the user chose to vary: per input name the text typed, and whether to zip; `open` shows the choices. */
export interface VaryChoices {
  open: boolean;
  texts: Record<string, string>;
  zip: boolean;
}

/** Props of {@link VaryChoice}. */
export interface VaryChoiceProps {
  application: Application;
  value: VaryChoices;
  onChange(value: VaryChoices): void;
}

/** The inputs a sweep may vary here: numbers, integers, choices and booleans (not files or free text). */
export function variableInputs(application: Application) {
  return application.inputs.filter((input) => ['integer', 'number', 'enum', 'boolean'].includes(input.type));
}

/**
 * "Vary" per numeric, choice and boolean input: values separated by commas, or
 * from:to:step for a number; filled in, the form submits a parameter sweep (one experiment
 * per combination, or per position with "in step") instead of one experiment, and says
 * how many experiments it makes.
 */
export function VaryChoice({ application, value, onChange }: VaryChoiceProps) {
  const id = useId();
  const inputs = variableInputs(application);
  if (inputs.length === 0) return null;
  const variations = inputs
    .map((input) => parseVariation(value.texts[input.name] ?? ''))
    .filter((variation) => variation !== null);
  const size = sweepSize(variations, value.zip);
  return (
    <fieldset className="vary-choice">
      <legend>Parameter sweep (optional)</legend>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={value.open}
          onChange={(event) => onChange({ ...value, open: event.target.checked })}
        />
        Run many experiments, varying some inputs
      </label>
      {value.open && (
        <VaryFields id={id} inputs={inputs} value={value} onChange={onChange} size={size} count={variations.length} />
      )}
    </fieldset>
  );
}

/** The vary fields, once the user asked for a sweep. */
function VaryFields({
  id,
  inputs,
  value,
  onChange,
  size,
  count,
}: {
  id: string;
  inputs: ReturnType<typeof variableInputs>;
  value: VaryChoices;
  onChange(value: VaryChoices): void;
  size: number;
  count: number;
}) {
  return (
    <>
      <p className="hint" id={`${id}-hint`}>
        To run many experiments at once, give an input several values, separated by commas (<code>1, 2, 5</code>), or a
        range from:to:step (<code>0:1:0.25</code>). The value in the form above is then not used for it.
      </p>
      {inputs.map((input) => (
        <div className="field" key={input.name}>
          <label htmlFor={`setting-vary.${input.name}`}>Vary {input.title ?? input.name}</label>
          <input
            id={`setting-vary.${input.name}`}
            type="text"
            value={value.texts[input.name] ?? ''}
            aria-describedby={`${id}-hint`}
            placeholder={input.type === 'enum' ? (input.values ?? []).join(', ') : undefined}
            onChange={(event) => onChange({ ...value, texts: { ...value.texts, [input.name]: event.target.value } })}
          />
        </div>
      ))}
      <label className="checkbox">
        <input
          type="checkbox"
          checked={value.zip}
          onChange={(event) => onChange({ ...value, zip: event.target.checked })}
        />
        Vary them in step (the first values together, then the second…) instead of every combination
      </label>
      {count > 0 && (
        <p className="notice" role="status">
          {size > 0
            ? `This makes a sweep of ${size.toLocaleString('en')} experiment${size === 1 ? '' : 's'}.`
            : 'Varied in step, every input needs the same number of values.'}
        </p>
      )}
    </>
  );
}
