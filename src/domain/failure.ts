/**
 * The failure vocabulary: why a task attempt or an experiment failed, as data that crosses
 * processes (stored with the attempt, shown by the API, the CLI and the web UI). Thrown
 * errors stay local (errors.ts); the worker turns them into failures in one place
 * (`failureFromError`). The idea is Temporal's `ApplicationFailure`: a code, a message,
 * and whether a retry may help, decided where the failure is raised.
 */
import { ResourceUnreachableError } from './errors.ts';

/**
 * Every failure code, with whether a task that fails with it is retried (after a backoff,
 * up to its attempts) or fails at once. The last four are not task failures: they are the
 * `failure` of an experiment whose job ended badly or that was canceled, and never retried.
 */
export const failureCodes = {
  /** An unexpected error in Drover itself (a bug, a store hiccup): a retry may get through. */
  internal: { retryable: true },
  /** No handler for the task's kind in this worker: another attempt would find the same worker code. */
  'no-handler': { retryable: false },
  /** The experiment may not run where it asked to (a `local` resource, an application the operator did not register). */
  'not-permitted': { retryable: false },
  /** The worker running the attempt stopped renewing its lease (it died or lost the store). */
  'lease-expired': { retryable: true },
  /**
   * The worker running the attempt stopped heartbeating (the controller called it lost). The
   * attempt does not count; the code is final only when the task's workers died under it
   * `maxWorkerLosses` times in one run (domain/worker.ts): then the task is what kills them.
   */
  'worker-lost': { retryable: true },
  /** The worker handed the attempt back unfinished when it stopped (SIGTERM): it does not count. */
  'handed-back': { retryable: true },
  /**
   * Drover's own store did not answer (PostgreSQL restarting, a failover). Retried however
   * many attempts it used, like a resource that does not answer, but the experiment is not
   * shown `blocked`: its resource is fine, and every experiment waits alike.
   */
  'store-unreachable': { retryable: true },
  /** The submit did not get an answer it could use (the job directory, an unreadable reply). */
  'submit-failed': { retryable: true },
  /** The scheduler refused the job (an unknown queue, limits over the partition's): it will refuse it again. */
  'submit-rejected': { retryable: false },
  /** The job spec cannot be rendered safely (a value a script cannot hold): it can never be submitted. */
  'invalid-job-spec': { retryable: false },
  /** The resource's settings cannot work (no ssh settings for a cluster): an admin must fix them. */
  'resource-misconfigured': { retryable: false },
  /**
   * The resource did not answer. Retried however many attempts it used, while the
   * experiment shows `blocked`: an outage must not fail experiments.
   */
  'resource-unreachable': { retryable: true },
  /**
   * The scheduler refused the job for a limit on how many jobs its user or account may have
   * (Slurm's QOSMaxSubmitJobPerUserLimit): the job is fine and the cluster full for its
   * owner. Retried however many attempts it used, while the experiment shows `blocked`.
   */
  'submit-limit': { retryable: true },
  /** The job ended with a non-zero exit code. */
  'job-failed': { retryable: false },
  /** The job ran past its walltime and the scheduler stopped it. */
  'job-timed-out': { retryable: false },
  /** The job vanished from its resource without an exit code. */
  'job-lost': { retryable: false },
  /** The experiment was canceled. */
  canceled: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

/** One failure code of the vocabulary (see `failureCodes`). */
export type FailureCode = keyof typeof failureCodes;

/** The codes a retry may help: `retryableFailure` takes only these. */
export type RetryableFailureCode = {
  [Code in FailureCode]: (typeof failureCodes)[Code]['retryable'] extends true ? Code : never;
}[FailureCode];

/** The codes that end a task at once: `finalFailure` takes only these. */
export type FinalFailureCode = Exclude<FailureCode, RetryableFailureCode>;

/** Why a task attempt failed: data that crosses processes, stored with the attempt. */
export interface TaskFailure {
  code: FailureCode;
  message: string;
  /** Whether the task may run again (after a backoff, while it has attempts left). */
  retryable: boolean;
}

/**
 * Thrown by a task handler (or the adapters it calls) to fail the attempt with a chosen
 * code; the worker stores it as given. Prefer `retryableFailure` and `finalFailure`, which
 * check the code against the table.
 */
export class TaskError extends Error {
  override name = 'TaskError';
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** A failure that a later attempt may get past: the task runs again after a backoff. */
export function retryableFailure(code: RetryableFailureCode, message: string): TaskError {
  return new TaskError(code, message, true);
}

/** A failure that no retry can fix: the task fails at once, and its experiment with it. */
export function finalFailure(code: FinalFailureCode, message: string): TaskError {
  return new TaskError(code, message, false);
}

/**
 * What a task attempt failed with, from whatever its handler threw: a `TaskError` as
 * given; a `ResourceUnreachableError` as `resource-unreachable` (retryable); anything else
 * as `internal` and retryable, since an unexpected error may be a passing one.
 */
export function failureFromError(error: unknown): TaskFailure {
  if (error instanceof TaskError) return { code: error.code, message: error.message, retryable: error.retryable };
  if (error instanceof ResourceUnreachableError)
    return { code: 'resource-unreachable', message: error.message, retryable: true };
  return { code: 'internal', message: (error as Error)?.message ?? String(error), retryable: true };
}
