/**
 * A gateway's OpenID Connect provider, as its admin sets it: issuer, client id and secret
 * (kept encrypted under the platform key like SSH credentials, never returned), scopes,
 * the claim that names the user, and who may sign in (e-mail domains, a required claim).
 */
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { decryptSecret, encryptSecret } from '../credentials/credentials.ts';
import type { Queryable } from '../store/port.ts';

/** A provider as the API shows it: never the client secret. */
export interface IdentityProviderInfo {
  displayName: string;
  issuer: string;
  clientId: string;
  /** True when a client secret is stored (a confidential client); false for a public client. */
  clientSecretSet: boolean;
  scopes: string[];
  userClaim: string;
  allowedDomains: string[];
  requiredClaim: { name: string; value: string } | null;
  /** The address to register at the provider as the client's redirect URI. */
  redirectUri: string;
  updatedAt: string;
}

/** A provider with its decrypted secret, for the sign-in flow only. */
export interface IdentityProviderSettings extends Omit<IdentityProviderInfo, 'clientSecretSet' | 'redirectUri'> {
  gatewayId: string;
  clientSecret: string | null;
}

const claimName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'a claim name: letters, digits, underscore, dot, colon or dash, up to 64');
const scope = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/, 'a scope: printable characters without spaces');
const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'a domain name such as example.edu');

/**
 * The request schema of PUT /identity-provider. `issuer` is checked further by
 * {@link checkIssuerUrl}; `clientSecret` left out keeps the stored one, null removes it.
 */
export const identityProviderSchema = z
  .object({
    displayName: z.string().trim().min(1).max(60).optional(),
    issuer: z.string().url('an https:// URL such as https://keycloak.example.org/realms/science'),
    clientId: z.string().min(1).max(255),
    clientSecret: z.string().min(1).max(1024).nullable().optional(),
    scopes: z
      .array(scope)
      .min(1)
      .max(20)
      .refine((scopes) => scopes.includes('openid'), 'must include openid')
      .default(['openid', 'profile', 'email']),
    userClaim: claimName.default('sub'),
    allowedDomains: z.array(domain).max(50).default([]),
    requiredClaim: z
      .object({ name: claimName, value: z.string().min(1).max(256) })
      .strict()
      .nullable()
      .default(null),
  })
  .strict();

export type IdentityProviderRequest = z.infer<typeof identityProviderSchema>;

/**
 * The issuer as a URL, or a ValidationError naming `issuer` with the fix: https (http only
 * when the platform allows it), no user name or password, no query or fragment.
 */
export function checkIssuerUrl(issuer: string, allowHttp: boolean): URL {
  const url = new URL(issuer);
  const problem =
    url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')
      ? 'must be an https:// URL'
      : url.username || url.password
        ? 'must not hold a user name or password'
        : url.search || url.hash
          ? 'must not have a query or fragment: the issuer is the URL before /.well-known/openid-configuration'
          : null;
  if (problem) throw new ValidationError('invalid identity provider', [{ field: 'issuer', message: problem }]);
  return url;
}

/** Parses a PUT body. @throws {ValidationError} naming each bad field. */
export function parseIdentityProvider(raw: unknown, allowHttpIssuers: boolean): IdentityProviderRequest {
  const parsed = identityProviderSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ValidationError(
      'invalid identity provider',
      parsed.error.issues.map((issue) => ({
        field: issue.path.join('.') || 'identityProvider',
        message: issue.message,
      })),
    );
  }
  checkIssuerUrl(parsed.data.issuer, allowHttpIssuers);
  return { ...parsed.data, issuer: parsed.data.issuer.replace(/\/$/, '') };
}

const secretContext = (gatewayId: string) => `drover-oidc-client-secret:${gatewayId}`;

/**
 * Stores the gateway's provider (replacing one). `clientSecret` undefined keeps the stored
 * secret, null makes the client public.
 */
export async function saveIdentityProvider(
  db: Queryable,
  platformKey: Buffer,
  gatewayId: string,
  request: IdentityProviderRequest,
): Promise<void> {
  const secret =
    typeof request.clientSecret === 'string'
      ? encryptSecret(platformKey, Buffer.from(request.clientSecret), secretContext(gatewayId))
      : null;
  // $1 gateway, $2 name, $3 issuer, $4 client, $5 secret, $6 keep the stored secret?, $7 scopes,
  // $8 claim, $9 domains, $10 required claim.
  await db.query(
    `insert into identity_providers as p (gateway_id, display_name, issuer, client_id, client_secret, scopes,
       user_claim, allowed_domains, required_claim)
     values ($1, $2, $3, $4, $5, $7, $8, $9, $10::jsonb)
     on conflict (gateway_id) do update set display_name = $2, issuer = $3, client_id = $4,
       client_secret = case when $6 then p.client_secret else $5 end, scopes = $7, user_claim = $8,
       allowed_domains = $9, required_claim = $10::jsonb, updated_at = now()`,
    [
      gatewayId,
      request.displayName ?? new URL(request.issuer).hostname,
      request.issuer,
      request.clientId,
      secret,
      request.clientSecret === undefined,
      request.scopes,
      request.userClaim,
      request.allowedDomains,
      request.requiredClaim ? JSON.stringify(request.requiredClaim) : null,
    ],
  );
}

/** The callback address of a gateway's sign-in, to register at the provider. */
export function redirectUriOf(publicUrl: string, gatewayId: string): string {
  return `${publicUrl.replace(/\/$/, '')}/auth/${gatewayId}/callback`;
}

const columns =
  'gateway_id, display_name, issuer, client_id, client_secret, scopes, user_claim, allowed_domains, required_claim, updated_at';

/** The gateway's provider as the API shows it. @throws {NotFoundError} when none is set. */
export async function getIdentityProvider(
  db: Queryable,
  gatewayId: string,
  publicUrl: string,
): Promise<IdentityProviderInfo> {
  const rows = await db.query<any>(`select ${columns} from identity_providers where gateway_id = $1`, [gatewayId]);
  if (rows.length === 0) throw new NotFoundError(`an identity provider of gateway ${JSON.stringify(gatewayId)}`);
  const row = rows[0];
  return {
    displayName: row.display_name,
    issuer: row.issuer,
    clientId: row.client_id,
    clientSecretSet: row.client_secret !== null,
    scopes: row.scopes,
    userClaim: row.user_claim,
    allowedDomains: row.allowed_domains,
    requiredClaim: row.required_claim,
    redirectUri: redirectUriOf(publicUrl, gatewayId),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/**
 * The gateway's provider with its decrypted secret, or null when it has none (or its
 * gateway is disabled). For the sign-in flow only: never answer it.
 * @throws {Error} when the secret does not decrypt (the platform key changed).
 */
export async function loadIdentityProvider(
  db: Queryable,
  platformKey: Buffer,
  gatewayId: string,
): Promise<IdentityProviderSettings | null> {
  const rows = await db.query<any>(
    `select ${columns.replace(/(\w+)/g, 'p.$1')} from identity_providers p
     join gateways on gateways.id = p.gateway_id where p.gateway_id = $1 and gateways.disabled_at is null`,
    [gatewayId],
  );
  if (rows.length === 0) return null;
  const row = rows[0];
  let clientSecret: string | null = null;
  if (row.client_secret) {
    try {
      clientSecret = decryptSecret(platformKey, row.client_secret, secretContext(gatewayId)).toString();
    } catch {
      throw new Error(
        `the client secret of gateway ${gatewayId}'s identity provider cannot be decrypted with this Drover's platform key (was the platform key changed?)`,
      );
    }
  }
  return {
    gatewayId,
    displayName: row.display_name,
    issuer: row.issuer,
    clientId: row.client_id,
    clientSecret,
    scopes: row.scopes,
    userClaim: row.user_claim,
    allowedDomains: row.allowed_domains,
    requiredClaim: row.required_claim,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** Removes the gateway's provider; sessions already made stay. @throws {NotFoundError} when none is set. */
export async function deleteIdentityProvider(db: Queryable, gatewayId: string): Promise<void> {
  const rows = await db.query('delete from identity_providers where gateway_id = $1 returning 1', [gatewayId]);
  if (rows.length === 0) throw new NotFoundError(`an identity provider of gateway ${JSON.stringify(gatewayId)}`);
}
