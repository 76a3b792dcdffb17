/**
 * Errors thrown inside one process. Failures that cross processes are data (failure.ts).
 */

/** A request the caller can fix: becomes a problem+json 4xx. */
export class InputError extends Error {
  override name = 'InputError';
  constructor(
    message: string,
    /** HTTP status to answer with (400 by default). */
    readonly status = 400,
    /** Per-field problems: `{ field, message }`. */
    readonly errors: Array<{ field: string; message: string }> = [],
    /** A short, stable problem type such as `invalid-inputs`. */
    readonly type = 'invalid-request',
  ) {
    super(message);
  }
}

/** Something the caller asked for does not exist or is not theirs (404, never 403: no leaks). */
export class NotFoundError extends InputError {
  override name = 'NotFoundError';
  constructor(what: string) {
    super(`${what} not found`, 404, [], 'not-found');
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
