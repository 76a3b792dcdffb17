/**
 * Applications: named, versioned programs with typed inputs, output globs and one
 * deployment per resource. Pure types and checks; no I/O.
 */
import type { ProgressPattern } from './progress.ts';

/**
 * The input types a gateway user can fill in. `string` is one line of text (no control
 * characters); `text` is multi-line text (line breaks and tabs allowed), for the
 * applications that really need it, such as a free-form parameter block.
 */
export const inputTypes = ['string', 'text', 'integer', 'number', 'boolean', 'enum', 'file'] as const;

/** One of `inputTypes`. */
export type InputType = (typeof inputTypes)[number];

/**
 * Characters a one-line value (a `string` input, an experiment name, a file name) must not
 * hold: the C0 and C1 controls and DEL (line feed and carriage return among them) and the
 * Unicode line and paragraph separators.
 */
export const controlCharacterPattern = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/**
 * Finds an unpaired UTF-16 surrogate: text that has no UTF-8 bytes, so no program could
 * receive it exactly. (With the `u` flag a surrogate pair is one code point and does not match.)
 */
export const loneSurrogatePattern = /[\uD800-\uDFFF]/u;

/** One typed input of an application, as declared in the catalogue. */
export interface InputDefinition {
  name: string;
  type: InputType;
  title?: string;
  description?: string;
  required?: boolean;
  default?: string | number | boolean;
  /** Bounds for integer and number inputs (inclusive). */
  minimum?: number;
  maximum?: number;
  /** Allowed values for enum inputs. */
  values?: string[];
  /** Longest accepted string or text (default 4096 for `string`, 65536 for `text`). */
  maxLength?: number;
}

/** How an application runs on one resource. */
export interface Deployment {
  /** Trusted shell lines written by an admin, run before the command (e.g. `module load gcc`). */
  environmentSetup?: string[];
  /**
   * The command as an argv array. Each element may contain `{{input}}` placeholders and
   * `{{apps}}` (the folder of bundled demo programs); every element is shell-quoted whole,
   * so user input can never become shell syntax.
   */
  command: string[];
  queue?: string;
  nodes?: number;
  coresPerNode?: number;
  memoryMb?: number;
  walltimeMinutes?: number;
  account?: string;
}

/** An application as stored and served by the catalogue. */
export interface ApplicationSpec {
  name: string;
  version: string;
  title: string;
  description?: string;
  inputs: InputDefinition[];
  /** Glob patterns, relative to the job's working directory, of files to bring back. */
  outputs: string[];
  /** How the program prints its progress, when it does not use Drover's own `::drover` lines (domain/progress.ts). */
  progress?: ProgressPattern;
  /** Deployment per resource name; `*` applies to every resource without its own. */
  deployments: Record<string, Deployment>;
}

/** A value a user gave for an input; file inputs hold an upload id. */
export type InputValue = string | number | boolean;
