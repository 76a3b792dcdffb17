/**
 * Retries for requests that are safe to send again: those that carry an Idempotency-Key
 * (the server answers a repeat with the first answer, README "Retrying a create"). A
 * request without one is sent once, as before: repeating a create without a key could
 * make a second experiment.
 */

/** How long to keep trying, and who hears about each wait. */
export interface RetryOptions {
  /** Give up this long after the first attempt (default 60 s): the last answer or error stands. */
  deadlineMs?: number;
  /** Called before each wait with why and how long (for a CLI's "trying again" line). */
  onRetry?: (reason: string, waitMs: number) => void;
}

/** The longest wait between attempts, whatever Retry-After asks. */
const maxWaitMs = 10_000;

/**
 * A fetch that sends a request with an `Idempotency-Key` header again when the server
 * could not be reached (fetch rejected with a TypeError: refused, reset) or answered 503
 * (its store restarting), after the answer's Retry-After or a backoff of 0.5, 1, 2, 4 s.
 * Other answers, and every request without a key, go back to the caller as they came.
 */
export function retryKeyedRequests(
  fetch: (request: Request) => Promise<Response>,
  options: RetryOptions = {},
): (request: Request) => Promise<Response> {
  const deadlineMs = options.deadlineMs ?? 60_000;
  return async (request) => {
    if (!request.headers.has('idempotency-key')) return fetch(request);
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      // Each attempt sends a copy: a sent request's body cannot be read again.
      const copy = request.clone();
      let reason: string;
      let waitMs = Math.min(500 * 2 ** (attempt - 1), 4000);
      try {
        const response = await fetch(copy);
        if (response.status !== 503) return response;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) waitMs = Math.min(retryAfter * 1000, maxWaitMs);
        if (Date.now() - started + waitMs > deadlineMs) return response;
        await response.body?.cancel();
        reason = 'the server answered 503 (unavailable)';
      } catch (error) {
        if (!(error instanceof TypeError) || request.signal.aborted) throw error;
        if (Date.now() - started + waitMs > deadlineMs) throw error;
        const cause = (error as TypeError & { cause?: Error }).cause;
        reason = `the server could not be reached (${cause?.message ?? error.message})`;
      }
      options.onRetry?.(reason, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  };
}
