/**
 * The typed API client: openapi-fetch over the `paths` generated from Drover's OpenAPI
 * document (`npm run generate:api` writes ./schema.d.ts), plus the bearer token kept in
 * localStorage and problem+json errors as a typed exception.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';
import type { Problem } from './types';

const tokenKey = 'drover.token';

/** The stored API token, or null when signed out. */
export function storedToken(): string | null {
  try {
    return localStorage.getItem(tokenKey);
  } catch {
    return null; // storage can be disabled (private modes, sandboxed frames)
  }
}

/** Keeps (or, with null, forgets) the API token across reloads. */
export function storeToken(token: string | null): void {
  try {
    if (token === null) localStorage.removeItem(tokenKey);
    else localStorage.setItem(tokenKey, token);
  } catch {
    // the session still works until the page is closed
  }
}

let onUnauthorized: (() => void) | null = null;

/** Registers what to do when the server refuses the stored token (it was revoked or replaced). */
export function handleUnauthorized(callback: (() => void) | null): void {
  onUnauthorized = callback;
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = storedToken();
    // A caller that sets its own Authorization (signing in with a new token) keeps it.
    if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && request.headers.get('authorization') === `Bearer ${storedToken()}`)
      onUnauthorized?.();
    return response;
  },
};

/** The one client every page uses; all calls are same-origin under /api/v1. */
export const api = createClient<paths>({ baseUrl: '' });
api.use(auth);

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

/** A message fit to show a user for any error thrown by a call. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'Drover cannot be reached; check your connection and try again.';
  return error instanceof Error ? error.message : String(error);
}

/** An API URL with the token as `access_token`, for EventSource (which cannot send headers). */
export function urlWithToken(path: string): string {
  const token = storedToken() ?? '';
  return `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
}
