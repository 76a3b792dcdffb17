/**
 * Applications: named, versioned programs with typed inputs, output globs and one
 * deployment per resource. Pure types and checks; no I/O.
 */

/** The input types a gateway user can fill in. */
export type InputType = 'string' | 'integer' | 'number' | 'boolean' | 'enum' | 'file';

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
  /** Longest accepted string (default 4096). */
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
  /** Deployment per resource name; `*` applies to every resource without its own. */
  deployments: Record<string, Deployment>;
}

/** A value a user gave for an input; file inputs hold an upload id. */
export type InputValue = string | number | boolean;
