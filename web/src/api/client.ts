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

/** The routes that create, which take an Idempotency-Key (README, Retrying a create). */
const creatingRoute =
  /^\/api\/v1\/(experiments|experiments\/batch|experiments\/[^/]+\/clone|sweeps|sweeps\/[^/]+\/clone)$/;

/** The key of each create not yet answered with success, by its route and body. */
const pendingKeys = new Map<string, string>();
/** The route and body of each create request in flight, to forget its key once it succeeds. */
const identities = new WeakMap<Request, string>();

/** A random key: 128 bits in hex (crypto.randomUUID exists only on https or localhost pages). */
function newKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The one client every page uses; all calls are same-origin under /api/v1, signed in by the session cookie. */
export const api = createDroverClient({
  baseUrl: '',
  token: () => null,
  csrfToken,
  onUnauthorized: (response) => {
    void sessionEndOf(response).then((why) => onUnauthorized?.(why));
  },
  // A create is sent again while Drover cannot be reached or answers 503: its key makes that safe.
  retry: { deadlineMs: 20_000 },
});

// Each create carries an Idempotency-Key, the same for the same request until one succeeds:
// a user who submits again after "cannot be reached" (the answer was lost, not the request)
// gets the experiment made the first time, not a second one. After a success, the same form
// submitted again is a new request (a preview's draft, then another preview).
api.use({
  async onRequest({ request }) {
    const path = new URL(request.url).pathname;
    if (request.method !== 'POST' || !creatingRoute.test(path)) return request;
    const identity = `${path}\n${await request.clone().text()}`;
    const key = pendingKeys.get(identity) ?? newKey();
    pendingKeys.set(identity, key);
    identities.set(request, identity);
    request.headers.set('idempotency-key', key);
    return request;
  },
  onResponse({ request, response }) {
    const identity = identities.get(request);
    if (identity !== undefined && response.ok) pendingKeys.delete(identity);
    return response;
  },
});

/** A message fit to show a user for any error thrown by a call. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'Drover cannot be reached; check your connection and try again.';
  return error instanceof Error ? error.message : String(error);
}
