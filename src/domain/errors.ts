/**
 * Errors thrown inside one process, named by what went wrong; failures that cross processes
 * are data (failure.ts). Two families live here:
 *
 * - request errors (`RequestError` and its subclasses): the caller can fix the request. The
 *   API answers them as problem+json; which HTTP status each class means is decided only in
 *   api/problem.ts, so nothing below the API speaks HTTP.
 * - `ResourceUnreachableError`: a resource did not answer; the worker makes it the
 *   `resource-unreachable` failure.
 *
 * Elsewhere, by the same split: `TaskError` (failure.ts) fails a task attempt with a failure
 * code; `ConfigError` (config.ts), `StoreError` (store/port.ts) and `CliError`
 * (cli/client.ts) stop a process at start or end a CLI command with a message.
 */

/** One bad field of a request and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * A request the caller can fix. `type` is the short, stable problem type the API answers
 * with (`urn:drover:problem:<type>`); `fields` names each bad field.
 */
export abstract class RequestError extends Error {
  constructor(
    message: string,
    /** Per-field problems: `{ field, message }`. */
    readonly fields: FieldProblem[],
    /** A short, stable problem type such as `invalid-experiment`. */
    readonly type: string,
  ) {
    super(message);
  }
}

/** The request is malformed or names values that cannot be used (type `invalid-request` unless given). */
export class ValidationError extends RequestError {
  override name = 'ValidationError';
  constructor(message: string, fields: FieldProblem[] = [], type = 'invalid-request') {
    super(message, fields, type);
  }
}

/** Something the caller asked for does not exist or is not theirs (never "forbidden": no leaks). */
export class NotFoundError extends RequestError {
  override name = 'NotFoundError';
  constructor(what: string) {
    super(`${what} not found`, [], 'not-found');
  }
}

/**
 * The request contradicts what is stored: a name already taken (type `conflict` unless
 * given), or an experiment in a state that does not allow it (`invalid-state`).
 */
export class ConflictError extends RequestError {
  override name = 'ConflictError';
  constructor(message: string, fields: FieldProblem[] = [], type = 'conflict') {
    super(message, fields, type);
  }
}

/**
 * The caller is known but may not do this: it needs an admin or the platform operator
 * (type `forbidden` unless given), or their gateway is disabled (`gateway-disabled`).
 */
export class ForbiddenError extends RequestError {
  override name = 'ForbiddenError';
  constructor(message: string, fields: FieldProblem[] = [], type = 'forbidden') {
    super(message, fields, type);
  }
}

/**
 * The caller has reached a limit that frees up with time: too many writes in the window
 * (type `too-many-requests` unless given; the rate limiter adds Retry-After), or a queue's
 * active experiments per user (`queue-limit`).
 */
export class LimitReachedError extends RequestError {
  override name = 'LimitReachedError';
  constructor(message: string, fields: FieldProblem[] = [], type = 'too-many-requests') {
    super(message, fields, type);
  }
}

/**
 * An Idempotency-Key already answered a different request of the caller's (type
 * `idempotency-key-reused`): a key names one request, and its retries only.
 */
export class IdempotencyKeyReusedError extends RequestError {
  override name = 'IdempotencyKeyReusedError';
  constructor(message: string) {
    super(
      message,
      [{ field: 'Idempotency-Key', message: 'use a new key for a new request' }],
      'idempotency-key-reused',
    );
  }
}

/** What the caller uploads would take them over their upload quota (type `upload-quota-exceeded`). */
export class QuotaExceededError extends RequestError {
  override name = 'QuotaExceededError';
  constructor(message: string, fields: FieldProblem[] = []) {
    super(message, fields, 'upload-quota-exceeded');
  }
}

/** The request body is not in a form the endpoint takes (type `unsupported-media-type`). */
export class UnsupportedMediaError extends RequestError {
  override name = 'UnsupportedMediaError';
  constructor(message: string) {
    super(message, [], 'unsupported-media-type');
  }
}

/**
 * A resource's login node or scheduler did not answer (connection refused or lost,
 * timeout, scheduler controller down). Not the experiment's fault: the work waits, the
 * experiment shows `blocked` with this message, and it resumes when the resource is back.
 */
export class ResourceUnreachableError extends Error {
  override name = 'ResourceUnreachableError';
  constructor(
    readonly resource: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
