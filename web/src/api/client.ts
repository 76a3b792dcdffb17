/**
 * The web UI's session with the shared typed client (src/api-client/client.ts, generated
 * types and all). The session itself is an httpOnly cookie the page cannot read: the UI
 * keeps no secret in its storage. It reads only the CSRF token (the `drover_csrf` cookie)
 * to send back on requests that change something, and says what a refused session does.
 */
import { ApiError, createDroverClient } from '../../../src/api-client/client';

/** The CSRF token of the browser session, from its cookie, or null when signed out. */
export function csrfToken(): string | null {
  const match = /(?:^|;\s*)drover_csrf=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]) : null;
}

/** Why the server refused the session: it ran out (`expired`) or was ended elsewhere (`ended`). */
export type SessionEnd = 'expired' | 'ended';

let onUnauthorized: ((why: SessionEnd) => void) | null = null;

/** Registers what to do when the server refuses the session (it expired, or was signed out elsewhere). */
export function handleUnauthorized(callback: ((why: SessionEnd) => void) | null): void {
  onUnauthorized = callback;
}

/** The problem type of a 401, read from a copy of the answer: `expired` for a session that ran out. */
async function sessionEndOf(response: Response): Promise<SessionEnd> {
  try {
    const problem = (await response.json()) as { type?: string };
    return problem.type === 'urn:drover:problem:session-expired' ? 'expired' : 'ended';
  } catch {
    return 'ended';
  }
}

/** The one client every page uses; all calls are same-origin under /api/v1, signed in by the session cookie. */
export const api = createDroverClient({
  baseUrl: '',
  token: () => null,
  csrfToken,
  onUnauthorized: (response) => {
    void sessionEndOf(response).then((why) => onUnauthorized?.(why));
  },
});

/** A message fit to show a user for any error thrown by a call. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'Drover cannot be reached; check your connection and try again.';
  return error instanceof Error ? error.message : String(error);
}
