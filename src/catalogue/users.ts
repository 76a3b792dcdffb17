/**
 * Who may call the API: gateways (the tenants), their users and the users' bearer tokens.
 * The platform operator is the bootstrap gateway's `admin` user with `operator` set.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConflictError, ForbiddenError, NotFoundError } from '../domain/errors.ts';
import type { Queryable } from '../store/port.ts';
import { parseOrThrow } from './catalogue.ts';

/** A signed-in user. */
export interface Principal {
  userId: string;
  name: string;
  gatewayId: string;
  role: 'user' | 'admin';
  /**
   * The platform operator (the bootstrap token): an admin of the bootstrap gateway who also
   * creates and disables gateways and alone owns the Drover host (`local` resources, host paths).
   */
  operator: boolean;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new random bearer token (`drv_` + 32 random bytes, base64url). */
export function newToken(): string {
  return `drv_${randomBytes(32).toString('base64url')}`;
}

/** How often a token's `last_used_at` is written: at most once a minute per token. */
const lastUsedIntervalMs = 60_000;

/**
 * The user a bearer token belongs to, or null. Tokens are only ever compared by hash. Records
 * when the token was last used (at most once a minute, without holding up the request).
 * @throws {ForbiddenError} `gateway-disabled` when the user's gateway is disabled.
 */
export async function authenticate(db: Queryable, token: string): Promise<Principal | null> {
  const rows = await db.query<any>(
    `select users.id, users.name, users.gateway_id, users.role, users.operator, gateways.disabled_at,
            api_tokens.id as token_id, api_tokens.last_used_at
     from api_tokens join users on users.id = api_tokens.user_id join gateways on gateways.id = users.gateway_id
     where api_tokens.token_hash = $1`,
    [hashToken(token)],
    // Every API request runs it: parsed and planned once per connection.
    { prepared: true },
  );
  if (rows.length === 0) return null;
  const row = rows[0];
  checkGatewayEnabled(row);
  if (!row.last_used_at || Date.now() - new Date(row.last_used_at).getTime() > lastUsedIntervalMs) {
    // A note for the token list, not worth failing or delaying a request over.
    db.query('update api_tokens set last_used_at = now() where id = $1', [row.token_id]).catch(() => {});
  }
  return toPrincipal(row);
}

/**
 * A Principal from a row of users joined with gateways.
 * @internal shared with the session look-up (sign-in/sessions.ts).
 */
export function toPrincipal(row: {
  id: string;
  name: string;
  gateway_id: string;
  role: 'user' | 'admin';
  operator: boolean;
}): Principal {
  return { userId: row.id, name: row.name, gatewayId: row.gateway_id, role: row.role, operator: row.operator };
}

/** @throws {ForbiddenError} `gateway-disabled` when the row's gateway (`disabled_at`) is disabled. */
export function checkGatewayEnabled(row: { gateway_id: string; disabled_at: Date | null }): void {
  if (row.disabled_at) {
    throw new ForbiddenError(
      `gateway ${row.gateway_id} is disabled: its tokens are refused until the platform operator enables it again`,
      [],
      'gateway-disabled',
    );
  }
}

/** Creates the gateway if missing (theme and name are updated). */
export async function ensureGateway(
  db: Queryable,
  gateway: { id: string; name: string; theme?: Record<string, string> },
): Promise<void> {
  await db.query(
    `insert into gateways (id, name, theme) values ($1, $2, $3::jsonb)
     on conflict (id) do update set name = excluded.name, theme = excluded.theme`,
    [gateway.id, gateway.name, JSON.stringify(gateway.theme ?? {})],
  );
}

/** What a user name may be: letters, digits, dot, dash, underscore or @, up to 64 (it appears in URLs). */
export const userNamePattern = /^[A-Za-z0-9._@-]{1,64}$/;

/** The name of the token an admin issues to a user (and of the bootstrap token). */
export const issuedTokenName = 'default';

/**
 * Creates a user with a new token. Returns the token (shown once; only its hash is kept).
 * @throws {ConflictError} when the gateway already has a user of that name (rotating a
 *   token is its own call: rotateUserToken).
 */
export async function createUser(
  db: Queryable,
  user: { gatewayId: string; name: string; role: 'user' | 'admin' },
): Promise<{ id: string; token: string }> {
  const token = newToken();
  // $1 gateway, $2 name, $3 role, $4 token hash, $5 token name: the user and their issued token.
  const rows = await db.query<{ id: string }>(
    `with made as (
       insert into users (gateway_id, name, role) values ($1, $2, $3)
       on conflict (gateway_id, name) do nothing returning id
     ), issued as (
       insert into api_tokens (user_id, name, token_hash) select id, $5, $4 from made
     )
     select id from made`,
    [user.gatewayId, user.name, user.role, hashToken(token), issuedTokenName],
  );
  if (rows.length === 0) {
    throw new ConflictError(`user ${JSON.stringify(user.name)} exists`, [
      {
        field: 'name',
        message: 'already used in this gateway; to issue a new token use POST /api/v1/users/{name}/token',
      },
    ]);
  }
  return { id: rows[0].id, token };
}

/**
 * Gives a user a new issued token (the one named `default`); the old one stops working at
 * once. Tokens the user made themselves (api-tokens.ts) are not touched. The platform operator's
 * token is rotated only by the operator (`byOperator`), never by another admin.
 * @throws {NotFoundError} when the gateway has no user of that name.
 * @throws {ForbiddenError} when the user is the operator and `byOperator` is false.
 */
export async function rotateUserToken(
  db: Queryable,
  gatewayId: string,
  name: string,
  byOperator: boolean,
): Promise<{ id: string; name: string; role: 'user' | 'admin'; token: string }> {
  const token = newToken();
  // $1 gateway, $2 name, $3 token hash, $4 by the operator, $5 token name.
  const rows = await db.query<any>(
    `with target as (
       select id, name, role from users where gateway_id = $1 and name = $2 and (not operator or $4)
     ), issued as (
       insert into api_tokens (user_id, name, token_hash) select id, $5, $3 from target
       on conflict (user_id, name) do update
         set token_hash = excluded.token_hash, created_at = now(), last_used_at = null
     )
     select id, name, role from target`,
    [gatewayId, name, hashToken(token), byOperator, issuedTokenName],
  );
  if (rows.length === 0) {
    const exists = await db.query('select 1 from users where gateway_id = $1 and name = $2', [gatewayId, name]);
    if (exists.length > 0)
      throw new ForbiddenError("only the platform operator may rotate the platform operator's token", [
        { field: 'name', message: 'is the platform operator' },
      ]);
    throw new NotFoundError(`user ${JSON.stringify(name)}`);
  }
  return { id: rows[0].id, name: rows[0].name, role: rows[0].role, token };
}

/** Makes (or updates) the platform operator: user `admin` of the bootstrap gateway with `token`. */
export async function ensureOperator(db: Queryable, gatewayId: string, token: string): Promise<void> {
  // $1 gateway, $2 token hash, $3 token name. The bootstrap token is the operator's issued token.
  await db.query(
    `with operator as (
       insert into users (gateway_id, name, role, operator) values ($1, 'admin', 'admin', true)
       on conflict (gateway_id, name) do update set role = 'admin', operator = true
       returning id
     )
     insert into api_tokens (user_id, name, token_hash) select id, $3, $2 from operator
     on conflict (user_id, name) do update set token_hash = excluded.token_hash`,
    [gatewayId, hashToken(token), issuedTokenName],
  );
}

/** Whether the gateway has a user called `name`. */
export async function userExists(db: Queryable, gatewayId: string, name: string): Promise<boolean> {
  return (await db.query('select 1 from users where gateway_id = $1 and name = $2', [gatewayId, name])).length > 0;
}

/**
 * Makes the gateway's user `admin` the platform operator, keeping its token: for a process
 * that does not know the token another one made, and for a store that predates operators.
 */
export async function markOperator(db: Queryable, gatewayId: string): Promise<void> {
  await db.query(`update users set operator = true where gateway_id = $1 and name = 'admin' and not operator`, [
    gatewayId,
  ]);
}

/** A gateway as the API shows it. */
export interface GatewayInfo {
  id: string;
  name: string;
  theme: Record<string, string>;
}

/** Name and colours of an enabled gateway. @throws {NotFoundError} when there is none (or it is disabled). */
export async function getGateway(db: Queryable, gatewayId: string): Promise<GatewayInfo> {
  const rows = await db.query<any>('select id, name, theme from gateways where id = $1 and disabled_at is null', [
    gatewayId,
  ]);
  if (rows.length === 0) throw new NotFoundError(`gateway ${JSON.stringify(gatewayId)}`);
  return rows[0];
}

const colour = z.string().regex(/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'a colour as #rgb or #rrggbb');

/** What the platform operator gives to create a gateway. */
export const gatewaySchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, up to 63'),
    name: z.string().trim().min(1).max(100),
    theme: z
      .object({ primary: colour, accent: colour, background: colour, text: colour })
      .partial()
      .strict()
      .default({}),
    /** Name of the gateway's first admin (default `admin`). */
    admin: z.string().regex(userNamePattern, 'letters, digits, dot, dash, underscore or @, up to 64').default('admin'),
  })
  .strict();

/**
 * Creates a gateway and its first admin, in one transaction. Returns the admin's token (shown once).
 * @throws {ValidationError} naming bad fields.
 * @throws {ConflictError} when the id is taken.
 */
export async function createGateway(
  db: Queryable,
  raw: unknown,
): Promise<{
  gateway: GatewayInfo & { disabled: boolean; createdAt: string };
  admin: { id: string; name: string; role: 'admin'; token: string };
}> {
  const request = parseOrThrow(gatewaySchema, raw, 'gateway');
  const rows = await db.query<any>(
    `insert into gateways (id, name, theme) values ($1, $2, $3::jsonb) on conflict (id) do nothing returning id, name, theme, created_at`,
    [request.id, request.name, JSON.stringify(request.theme)],
  );
  if (rows.length === 0)
    throw new ConflictError(`gateway ${JSON.stringify(request.id)} exists`, [{ field: 'id', message: 'already used' }]);
  const admin = await createUser(db, { gatewayId: request.id, name: request.admin, role: 'admin' });
  return {
    gateway: { ...toGatewayListing({ ...rows[0], disabled_at: null }) },
    admin: { id: admin.id, name: request.admin, role: 'admin', token: admin.token },
  };
}

function toGatewayListing(row: any): GatewayInfo & { disabled: boolean; createdAt: string } {
  return {
    id: row.id,
    name: row.name,
    theme: row.theme,
    disabled: row.disabled_at !== null,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Every gateway, enabled or not (for the platform operator). */
export async function listGateways(
  db: Queryable,
): Promise<Array<GatewayInfo & { disabled: boolean; createdAt: string }>> {
  return (
    await db.query<any>('select id, name, theme, disabled_at, created_at from gateways order by created_at, id')
  ).map(toGatewayListing);
}

/**
 * Disables (or enables again) a gateway: while disabled, its users' tokens are refused.
 * @throws {NotFoundError} when there is no such gateway.
 */
export async function setGatewayDisabled(
  db: Queryable,
  gatewayId: string,
  disabled: boolean,
): Promise<GatewayInfo & { disabled: boolean; createdAt: string }> {
  const rows = await db.query<any>(
    `update gateways set disabled_at = case when $2 then coalesce(disabled_at, now()) else null end where id = $1
     returning id, name, theme, disabled_at, created_at`,
    [gatewayId, disabled],
  );
  if (rows.length === 0) throw new NotFoundError(`gateway ${JSON.stringify(gatewayId)}`);
  return toGatewayListing(rows[0]);
}
