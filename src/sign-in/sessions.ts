/**
 * Browser sessions: made at sign-in, held by the browser in an httpOnly cookie as a random
 * id, stored as that id's sha256 (so the table alone signs no one in), ended by sign-out,
 * by the absolute lifetime or by idleness. Each session has a CSRF token that every
 * state-changing request authenticated by the cookie must send back in a header.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { checkGatewayEnabled, hashToken, toPrincipal, type Principal } from '../catalogue/users.ts';
import type { Queryable } from '../store/port.ts';

/** How long sessions last. */
export interface SessionLifetimes {
  /** The absolute lifetime from sign-in. */
  maxAgeMs: number;
  /** How long a session may go without a request. */
  idleMs: number;
}

/** A session just made: the cookie values (shown to the browser only) and when it ends at the latest. */
export interface NewSession {
  id: string;
  csrfToken: string;
  expiresAt: Date;
}

/** What a session cookie resolves to. */
export type SessionLookup =
  { status: 'valid'; principal: Principal; csrfHash: string } | { status: 'expired' } | { status: 'unknown' };

const randomId = () => randomBytes(32).toString('base64url');

/** Makes a session for the user; also drops sessions (anyone's) that ended a day ago or more. */
export async function createSession(db: Queryable, userId: string, lifetimes: SessionLifetimes): Promise<NewSession> {
  const id = randomId();
  const csrfToken = randomId();
  const expiresAt = new Date(Date.now() + lifetimes.maxAgeMs);
  await db.query('insert into sessions (id_hash, user_id, csrf_hash, expires_at) values ($1, $2, $3, $4)', [
    hashToken(id),
    userId,
    hashToken(csrfToken),
    expiresAt,
  ]);
  // Housekeeping at sign-in, which is rare: ended sessions serve only the "expired" notice for a while.
  await db.query(
    `delete from sessions where expires_at < now() - interval '1 day'
        or last_seen_at < now() - make_interval(secs => $1::double precision / 1000) - interval '1 day'`,
    [lifetimes.idleMs],
  );
  return { id, csrfToken, expiresAt };
}

/**
 * The user a session cookie belongs to. An ended session (past its lifetime or idle too
 * long) is `expired`; a valid one has its last request time moved on (at most
 * once a minute, or a tenth of the idle time when that is shorter).
 * @throws {ForbiddenError} `gateway-disabled` when the user's gateway is disabled.
 */
export async function findSession(db: Queryable, id: string, lifetimes: SessionLifetimes): Promise<SessionLookup> {
  const idHash = hashToken(id);
  // $1 id hash, $2 idle ms: the user, and whether the session has ended.
  const rows = await db.query<any>(
    `select users.id, users.name, users.gateway_id, users.role, users.operator, gateways.disabled_at,
            sessions.csrf_hash,
            sessions.expires_at <= now()
              or sessions.last_seen_at <= now() - make_interval(secs => $2::double precision / 1000) as ended,
            sessions.last_seen_at < now() - make_interval(secs => least(60, $2::double precision / 10000)) as stale
     from sessions join users on users.id = sessions.user_id join gateways on gateways.id = users.gateway_id
     where sessions.id_hash = $1`,
    [idHash, lifetimes.idleMs],
    { prepared: true },
  );
  if (rows.length === 0) return { status: 'unknown' };
  const row = rows[0];
  // Kept (sign-in's housekeeping drops it a day later): until then every request with it,
  // a reload included, is told the session expired, not that it is unknown.
  if (row.ended) return { status: 'expired' };
  checkGatewayEnabled(row);
  if (row.stale) await db.query('update sessions set last_seen_at = now() where id_hash = $1', [idHash]);
  return { status: 'valid', principal: toPrincipal(row), csrfHash: row.csrf_hash };
}

/** True when `token` is the session's CSRF token (compared by hash, in constant time). */
export function csrfTokenMatches(token: string | undefined, csrfHash: string): boolean {
  if (!token) return false;
  return timingSafeEqual(Buffer.from(hashToken(token)), Buffer.from(csrfHash));
}

/** Ends a session (sign-out); true when there was one. */
export async function deleteSession(db: Queryable, id: string): Promise<boolean> {
  return (await db.query('delete from sessions where id_hash = $1 returning 1', [hashToken(id)])).length > 0;
}
