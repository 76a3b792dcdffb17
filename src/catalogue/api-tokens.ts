/**
 * A user's named API tokens, for scripts and the CLI: a user creates one (shown once, only
 * its hash is kept), lists theirs with when each was created and last used, and revokes
 * one. Everyone manages only their own; the token named `default` is the one an admin
 * issued (users.ts), listed and revocable like the others.
 */
import { z } from 'zod';
import { ConflictError, LimitReachedError, NotFoundError } from '../domain/errors.ts';
import type { Queryable } from '../store/port.ts';
import { parseOrThrow } from './catalogue.ts';
import { hashToken, newToken } from './users.ts';

/** An API token as the API lists it: never the token itself. */
export interface ApiTokenInfo {
  id: string;
  name: string;
  createdAt: string;
  /** When a request last came with it (to the minute), or null. */
  lastUsedAt: string | null;
}

/** The most tokens one user may hold: enough for every script, few enough to review. */
export const maxTokensPerUser = 50;

const newTokenSchema = z
  .object({
    name: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, 'letters, digits, space, dot, dash or underscore, up to 64'),
  })
  .strict();

const toInfo = (row: any): ApiTokenInfo => ({
  id: row.id,
  name: row.name,
  createdAt: new Date(row.created_at).toISOString(),
  lastUsedAt: row.last_used_at ? new Date(row.last_used_at).toISOString() : null,
});

/** The user's tokens, newest first. */
export async function listApiTokens(db: Queryable, userId: string): Promise<ApiTokenInfo[]> {
  return (
    await db.query(
      'select id, name, created_at, last_used_at from api_tokens where user_id = $1 order by created_at desc, name',
      [userId],
    )
  ).map(toInfo);
}

/**
 * Makes a token for the user; the answer holds it, once.
 * @throws {ValidationError} naming `name` when it is missing or not a plain name.
 * @throws {ConflictError} when the user has a token of that name.
 * @throws {LimitReachedError} when the user already holds {@link maxTokensPerUser}.
 */
export async function createApiToken(
  db: Queryable,
  userId: string,
  raw: unknown,
): Promise<ApiTokenInfo & { token: string }> {
  const { name } = parseOrThrow(newTokenSchema, raw ?? {}, 'token');
  const token = newToken();
  // $1 user, $2 name, $3 hash, $4 the cap: inserts only under the cap and when the name is free.
  const rows = await db.query<any>(
    `insert into api_tokens (user_id, name, token_hash)
     select $1, $2, $3 where (select count(*) from api_tokens where user_id = $1) < $4
     on conflict (user_id, name) do nothing
     returning id, name, created_at, last_used_at`,
    [userId, name, hashToken(token), maxTokensPerUser],
  );
  if (rows.length === 0) {
    const taken = await db.query('select 1 from api_tokens where user_id = $1 and name = $2', [userId, name]);
    if (taken.length > 0)
      throw new ConflictError(`you have a token named ${JSON.stringify(name)}`, [
        { field: 'name', message: 'already used by one of your tokens; pick another name or revoke that one' },
      ]);
    throw new LimitReachedError(`you hold ${maxTokensPerUser} tokens, the most one user may; revoke one first`, [
      { field: 'name', message: `at most ${maxTokensPerUser} tokens per user` },
    ]);
  }
  return { ...toInfo(rows[0]), token };
}

/**
 * Revokes one of the user's tokens: requests with it are refused from now on.
 * @throws {NotFoundError} when the user has no token with that id.
 */
export async function revokeApiToken(db: Queryable, userId: string, tokenId: string): Promise<void> {
  const rows = await db.query(
    // The id is compared as text: a malformed id is a 404 like any other, not a store error.
    'delete from api_tokens where user_id = $1 and id::text = $2 returning id',
    [userId, tokenId],
  );
  if (rows.length === 0) throw new NotFoundError(`token ${JSON.stringify(tokenId)}`);
}
