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

/**
 * Automatic resubmit (the rules are in resubmit.ts): what an application (or one of its deployments, which then wins) allows: how many times
 * a run's job may be resubmitted, and by how much each resubmit multiplies the walltime
 * (after a timeout) or the memory (after running out of it).
 */
export interface ResubmitPolicy {
  /** Automatic resubmits in one run of an experiment (a resume starts a new count), 1 to 10. */
  attempts: number;
  /** Factor on the memory after the job ran out of it, above 1 and at most 16 (default 2). */
  memoryFactor?: number;
  /** Factor on the walltime after the job ran past it, above 1 and at most 16 (default 2). */
  walltimeFactor?: number;
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
  /** Automatic resubmits on this resource, over the application's `resubmit` (domain/resubmit.ts). */
  resubmit?: ResubmitPolicy;
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
  /**
   * Values read from a JSON output after stage-out and shown with the experiment (its page,
   * list columns, `drover show` and `drover ls`); see headline-values.ts.
   */
  headlineValues?: HeadlineValueDefinition[];
  /**
   * Resubmit a job that ran past its walltime or out of memory, with more, this many times
   * in a run (domain/resubmit.ts); a deployment's own `resubmit` wins. None when absent.
   */
  resubmit?: ResubmitPolicy;
}

/**
 * One headline value an application declares: `path` (dot-separated keys, array indexes as
 * numbers: `final.mean`, `series.0`) into the JSON output `file` (a path relative to the
 * job's working directory that one of `outputs` brings back).
 */
export interface HeadlineValueDefinition {
  /** An identifier, unique in the application. */
  name: string;
  /** What users read beside the value. */
  label: string;
  /** Shown after the value (`s`, `K`); none when absent. */
  unit?: string;
  file: string;
  path: string;
}

/** A value a user gave for an input; file inputs hold an upload id. */
export type InputValue = string | number | boolean;
