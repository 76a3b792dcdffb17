/**
 * Who sent an /api/v1 request: an API token (`Authorization: Bearer`, or `?access_token=`
 * on an event stream), else the browser session cookie. A request authenticated by the
 * cookie that changes something must also prove it comes from Drover's own pages (CSRF):
 * the session's CSRF token in the `X-CSRF-Token` header (the UI reads it from the
 * `drover_csrf` cookie, which other sites cannot read), and an `Origin`, when sent, of this
 * host. Bearer requests need neither: a browser never adds a token by itself.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { authenticate } from '../catalogue/users.ts';
import { csrfTokenMatches, findSession, type NewSession, type SessionLifetimes } from '../sign-in/sessions.ts';
import type { Store } from '../store/port.ts';
import { sendProblem } from './problem.ts';

/** The httpOnly cookie that holds the browser session's id. */
export const sessionCookie = 'drover_session';
/** The cookie the web UI reads its CSRF token from (readable by the page, not httpOnly). */
export const csrfCookie = 'drover_csrf';
/** The header that carries the CSRF token on state-changing requests. */
export const csrfHeader = 'x-csrf-token';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The address users open Drover at (config `notifications.publicUrl`), else the request's own origin. */
export function publicOrigin(request: FastifyRequest, configured: string | null): string {
  return (configured ?? `${request.protocol}://${request.host}`).replace(/\/$/, '');
}

/** Cookie attributes: httpOnly unless for the page to read, SameSite=Lax, Secure over https. */
export function cookieOptions(secure: boolean, options: { httpOnly?: boolean; path?: string; maxAgeMs?: number }) {
  return {
    httpOnly: options.httpOnly ?? true,
    sameSite: 'lax' as const,
    secure,
    path: options.path ?? '/',
    ...(options.maxAgeMs !== undefined ? { maxAge: Math.floor(options.maxAgeMs / 1000) } : {}),
  };
}

/** Sets the session and CSRF cookies of a new session. */
export function setSessionCookies(reply: FastifyReply, session: NewSession, secure: boolean): void {
  const maxAgeMs = session.expiresAt.getTime() - Date.now();
  reply.setCookie(sessionCookie, session.id, cookieOptions(secure, { maxAgeMs }));
  reply.setCookie(csrfCookie, session.csrfToken, cookieOptions(secure, { maxAgeMs, httpOnly: false }));
}

/** Clears the session and CSRF cookies. */
export function clearSessionCookies(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(sessionCookie, cookieOptions(secure, {}));
  reply.clearCookie(csrfCookie, cookieOptions(secure, { httpOnly: false }));
}

/** What the authentication hook needs. */
export interface AuthenticationOptions {
  store: Store;
  lifetimes: SessionLifetimes;
  publicUrl: () => string | null;
}

/**
 * The onRequest hook of the /api/v1 scope: sets `request.principal` (and `request.sessionId`
 * for a cookie session) or answers 401, or 403 for a cookie request without CSRF proof.
 */
export function createAuthenticationHook({ store, lifetimes, publicUrl }: AuthenticationOptions) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization;
    let token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    // EventSource cannot send headers: the event stream also takes ?access_token=.
    if (!token && request.method === 'GET') token = (request.query as Record<string, string> | undefined)?.access_token;
    const sessionId = request.cookies?.[sessionCookie];
    const secure = publicOrigin(request, publicUrl()).startsWith('https:');
    if (token || !sessionId) {
      const principal = token ? await authenticate(store, token) : null;
      if (!principal) {
        return sendProblem(reply.header('www-authenticate', 'Bearer'), {
          type: 'urn:drover:problem:unauthorized',
          title: 'Unauthorized',
          status: 401,
          detail: token
            ? 'the bearer token is not valid'
            : 'sign in, or send an API token as "Authorization: Bearer <token>"',
        });
      }
      request.principal = principal;
      return;
    }
    const found = await findSession(store, sessionId, lifetimes);
    if (found.status !== 'valid') {
      // An expired session's cookie stays, so that a reload still says why (it ends at its
      // Max-Age, or when a sign-in replaces it); an unknown one is cleared.
      if (found.status === 'unknown') clearSessionCookies(reply, secure);
      return sendProblem(reply, {
        type: `urn:drover:problem:${found.status === 'expired' ? 'session-expired' : 'unauthorized'}`,
        title: 'Unauthorized',
        status: 401,
        detail:
          found.status === 'expired'
            ? 'your session has expired; sign in again'
            : 'your session has ended; sign in again',
      });
    }
    if (!safeMethods.has(request.method)) {
      const origin = request.headers.origin;
      const expected = publicOrigin(request, publicUrl());
      const sameOrigin = !origin || origin === expected || origin === `${request.protocol}://${request.host}`;
      const csrfToken = request.headers[csrfHeader];
      if (!sameOrigin || !csrfTokenMatches(typeof csrfToken === 'string' ? csrfToken : undefined, found.csrfHash)) {
        return sendProblem(reply, {
          type: 'urn:drover:problem:csrf',
          title: 'Forbidden',
          status: 403,
          detail: !sameOrigin
            ? `a request signed in by the session cookie must come from Drover's own pages (Origin ${origin} is not ${expected})`
            : `a request signed in by the session cookie that changes something must send the ${csrfCookie} cookie's value in the X-CSRF-Token header (or use an API token)`,
        });
      }
    }
    request.principal = found.principal;
    request.sessionId = sessionId;
  };
}
