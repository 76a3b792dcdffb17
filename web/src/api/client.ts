/**
 * The web UI's session with the shared typed client (src/api-client/client.ts, generated
 * types and all): the bearer token kept in localStorage, what a refused token does, and
 * messages for the errors a call throws.
 */
import { ApiError, createDroverClient } from '../../../src/api-client/client';

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

/** The one client every page uses; all calls are same-origin under /api/v1. */
export const api = createDroverClient({ baseUrl: '', token: storedToken, onUnauthorized: () => onUnauthorized?.() });

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
