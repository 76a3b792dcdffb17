/**
 * Drover's one typed API client, shared by the web UI and the CLI: openapi-fetch over the
 * `paths` generated from the server's OpenAPI document (`npm run generate:api` writes
 * ./schema.d.ts), the bearer-token middleware, and problem+json answers as a typed
 * exception. It imports nothing from the server: both callers reach Drover over HTTP only.
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './schema.d.ts';
import type { Problem } from './types.ts';
import { retryKeyedRequests, type RetryOptions } from './retry.ts';

/** A client for every operation of the OpenAPI document, typed by its `paths`. */
export type DroverClient = Client<paths>;

/** What `createDroverClient` needs to know about where and who. */
export interface DroverClientOptions {
  /** The server's origin, without `/api/v1` (the paths carry it); '' for same-origin calls. */
  baseUrl: string;
  /**
   * The bearer token to send, read on every request (a browser session can sign in or out
   * between calls); null or '' sends none.
   */
  token: () => string | null | undefined;
  /**
   * Called when the server answers 401 to the token `token()` still returns (it was revoked
   * or replaced), or, with no token, to the browser's session cookie (the session ended:
   * the answer's problem type says `session-expired` when it ran out). Not called when the
   * caller set its own Authorization header (signing in).
   */
  onUnauthorized?: (response: Response) => void;
  /**
   * The CSRF token of a browser session (the web UI reads the `drover_csrf` cookie), sent as
   * `X-CSRF-Token` on every request that may change something. Callers with a token need none.
   */
  csrfToken?: () => string | null | undefined;
  /** The fetch to use (default: the global one); tests pass one that answers in memory. */
  fetch?: (request: Request) => Promise<Response>;
  /**
   * Send a request that carries an Idempotency-Key again while the server cannot be reached
   * or answers 503 (retryKeyedRequests); without it, every request is sent once.
   */
  retry?: RetryOptions;
}

/** A client that sends the bearer token (or, in a browser session, the CSRF token) on every call. */
export function createDroverClient(options: DroverClientOptions): DroverClient {
  const send = options.retry
    ? retryKeyedRequests(options.fetch ?? ((request) => globalThis.fetch(request)), options.retry)
    : options.fetch;
  const client = createClient<paths>({ baseUrl: options.baseUrl, ...(send ? { fetch: send } : {}) });
  const bearer: Middleware = {
    onRequest({ request }) {
      const token = options.token();
      // A caller that sets its own Authorization (signing in with a new token) keeps it.
      if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
      const csrfToken = options.csrfToken?.();
      if (csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes(request.method))
        request.headers.set('x-csrf-token', csrfToken);
      return request;
    },
    onResponse({ request, response }) {
      const token = options.token();
      const sent = request.headers.get('authorization');
      if (response.status === 401 && (token ? sent === `Bearer ${token}` : sent === null))
        options.onUnauthorized?.(response.clone());
      return response;
    },
  };
  client.use(bearer);
  return client;
}

/**
 * The `pathSerializer` of `GET /experiments/{id}/outputs/{path}`: encodes one segment at a
 * time so that outputs in sub-folders keep their slashes in the URL (the default would send
 * them as %2F, which the server takes too).
 */
export function serializeOutputPath(pathname: string, parameters: Record<string, unknown>): string {
  return pathname
    .replace('{id}', encodeURIComponent(String(parameters.id)))
    .replace('{path}', String(parameters.path).split('/').map(encodeURIComponent).join('/'));
}

/** An API call that failed: its status and the server's problem details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
  }

  /** Messages by field, with the `body.` prefix of schema errors removed (`inputs.samples`, `walltimeMinutes`). */
  fieldErrors(): Record<string, string> {
    const byField: Record<string, string> = {};
    for (const { field, message } of this.problem.errors ?? []) {
      const name = field.replace(/^body\./, '');
      byField[name] = byField[name] ? `${byField[name]}; ${message}` : message;
    }
    return byField;
  }
}

/**
 * The data of an openapi-fetch result, or an ApiError for a non-2xx answer. Accepts any
 * result shape so that each call keeps the response type the schema gives it.
 */
export async function ok<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok) throw toApiError(response, error);
  return data as T;
}

/** A non-2xx answer as an ApiError: its problem+json body, or a problem made from the status. */
function toApiError(response: Response, body: unknown): ApiError {
  if (body && typeof body === 'object' && 'title' in body) return new ApiError(response.status, body as Problem);
  const text = typeof body === 'string' && body.length < 300 ? body : '';
  return new ApiError(response.status, {
    type: 'about:blank',
    title: response.statusText || 'Error',
    status: response.status,
    detail: text || `HTTP ${response.status}`,
  });
}
