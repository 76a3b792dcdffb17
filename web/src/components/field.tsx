import type { ReactNode } from 'react';
import type { InputDefinition } from '../../../src/api-client/types';
import { describeBounds } from '../form-model';
import { formatNumber, formatValue } from '../format';

/** Ids that tie a control to its hint and error, so screen readers read all three. */
export function fieldIds(id: string, hint: boolean, error: string | undefined) {
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { 'aria-describedby': describedBy || undefined, 'aria-invalid': error ? true : undefined } as const;
}

/** Props of {@link Field}. */
export interface FieldProps {
  id: string;
  label: string;
  required?: boolean;
  hint?: ReactNode;
  error?: string;
  /** The control; it must use `id` and spread {@link fieldIds}. */
  children: ReactNode;
  /** Checkboxes put their label after the box. */
  inline?: boolean;
}

/** A labelled form field with its help text and the server's message when it refused the value. */
export function Field({ id, label, required, hint, error, children, inline }: FieldProps) {
  const labelElement = (
    <label htmlFor={id}>
      {label}
      {required && <span className="required"> (required)</span>}
    </label>
  );
  return (
    <div className={`field${error ? ' has-error' : ''}${inline ? ' inline' : ''}`}>
      {inline ? (
        <div className="inline-control">
          {children}
          {labelElement}
        </div>
      ) : (
        <>
          {labelElement}
          {children}
        </>
      )}
      {hint && (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="field-error">
          <span aria-hidden="true">⚠ </span>
          {error}
        </p>
      )}
    </div>
  );
}

/** Props of {@link InputField}. */
export interface InputFieldProps {
  input: InputDefinition;
  value: string | boolean | File;
  error?: string;
  onChange(value: string | boolean | File): void;
}

/** The control an application input's type calls for, with its bounds, default and description. */
export function InputField({ input, value, error, onChange }: InputFieldProps) {
  const id = `input-${input.name}`;
  const bounds = describeBounds(input, formatNumber);
  const defaultText =
    input.default !== undefined && input.type !== 'boolean'
      ? `Default: ${typeof input.default === 'number' ? formatNumber(input.default) : formatValue(input.default)}.`
      : null;
  const hintParts = [input.description, bounds, defaultText].filter(Boolean);
  const hint = hintParts.length > 0 ? hintParts.join(' ') : undefined;
  const described = fieldIds(id, Boolean(hint), error);
  const label = input.title ?? input.name;
  const required = input.required && input.default === undefined;

  let control: ReactNode;
  switch (input.type) {
    case 'integer':
    case 'number':
      control = (
        <input
          id={id}
          name={input.name}
          type="number"
          inputMode={input.type === 'integer' ? 'numeric' : 'decimal'}
          step={input.type === 'integer' ? 1 : 'any'}
          min={input.minimum}
          max={input.maximum}
          required={required}
          value={typeof value === 'string' ? value : ''}
          onChange={(event) => onChange(event.target.value)}
          {...described}
        />
      );
      break;
    case 'boolean':
      control = (
        <input
          id={id}
          name={input.name}
          type="checkbox"
          checked={value === true}
          onChange={(event) => onChange(event.target.checked)}
          {...described}
        />
      );
      break;
    case 'enum':
      control = (
        <select
          id={id}
          name={input.name}
          required={required}
          value={typeof value === 'string' ? value : ''}
          onChange={(event) => onChange(event.target.value)}
          {...described}
        >
          {!required && input.default === undefined && <option value="">(none)</option>}
          {(input.values ?? []).map((option) => (
            <option key={option} value={option}>
              {option}
            </option>
          ))}
        </select>
      );
      break;
    case 'file':
      control = (
        <>
          <input
            id={id}
            name={input.name}
            type="file"
            required={required && !value}
            onChange={(event) => onChange(event.target.files?.[0] ?? '')}
            {...described}
          />
          {typeof value === 'string' && value !== '' && (
            <p className="hint">
              Keeps the file of the earlier experiment (upload <code>{value.slice(0, 8)}</code>) unless you choose
              another.
            </p>
          )}
        </>
      );
      break;
    case 'text':
      // Multi-line values: the server accepts line breaks only for `text` inputs.
      control = (
        <textarea
          id={id}
          name={input.name}
          rows={6}
          maxLength={input.maxLength}
          required={required}
          value={typeof value === 'string' ? value : ''}
          onChange={(event) => onChange(event.target.value)}
          {...described}
        />
      );
      break;
    default:
      control = (
        <input
          id={id}
          name={input.name}
          type="text"
          maxLength={input.maxLength}
          required={required}
          value={typeof value === 'string' ? value : ''}
          onChange={(event) => onChange(event.target.value)}
          {...described}
        />
      );
  }
  return (
    <Field id={id} label={label} required={required} hint={hint} error={error} inline={input.type === 'boolean'}>
      {control}
    </Field>
  );
}
