/**
 * Who a verified identity is in the gateway. The identity (issuer and `sub`) is linked to a
 * user for good at the first sign-in: to a new user (role `user`) named by the provider's
 * user claim, or to a user an admin made beforehand under that name (so an admin can make
 * someone an admin before they first sign in). The platform operator and a user already
 * linked to another identity are never taken over.
 */
import { userNamePattern } from '../catalogue/users.ts';
import type { Queryable } from '../store/port.ts';
import type { IdentityProviderSettings } from './identity-provider.ts';
import { SignInError, type VerifiedIdentity } from './openid-connect.ts';

/** The user an identity signs in as. */
export interface SignedInUser {
  userId: string;
  name: string;
  /** True at the identity's first sign-in, when the user was made for it. */
  created: boolean;
}

/**
 * Checks the provider's rules (allowed e-mail domains, required claim) on the identity.
 * @throws {SignInError} `not-allowed` saying which rule it fails.
 */
export function checkSignInRules(provider: IdentityProviderSettings, claims: Record<string, unknown>): void {
  if (provider.allowedDomains.length > 0) {
    const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : null;
    const domain = email?.slice(email.lastIndexOf('@') + 1);
    if (!email || claims.email_verified === false || !domain || !provider.allowedDomains.includes(domain)) {
      throw new SignInError(
        `this gateway admits only verified e-mail addresses at ${provider.allowedDomains.join(', ')}${email ? `, not ${email}` : ' (the identity provider sent no e-mail address)'}`,
        'not-allowed',
      );
    }
  }
  const rule = provider.requiredClaim;
  if (rule) {
    const value = claims[rule.name];
    const held = Array.isArray(value) ? value.map(String).includes(rule.value) : String(value) === rule.value;
    if (value === undefined || !held) {
      throw new SignInError(
        `this gateway admits only identities whose ${rule.name} claim holds ${JSON.stringify(rule.value)}`,
        'not-allowed',
      );
    }
  }
}

/**
 * The user `identity` signs in as in the provider's gateway, made on first sign-in. Run it
 * in a transaction.
 * @throws {SignInError} `not-allowed` when the provider's rules refuse it, `bad-user-claim`
 *   when the user claim is missing or cannot be a user name, `name-taken` when the name
 *   belongs to the platform operator or to another identity's user.
 */
export async function findOrCreateUser(
  db: Queryable,
  provider: IdentityProviderSettings,
  identity: VerifiedIdentity,
): Promise<SignedInUser> {
  checkSignInRules(provider, identity.claims);
  const gatewayId = provider.gatewayId;
  const linked = await db.query<{ id: string; name: string }>(
    `update user_identities set last_sign_in_at = now() from users
     where user_identities.gateway_id = $1 and issuer = $2 and subject = $3 and users.id = user_identities.user_id
     returning users.id, users.name`,
    [gatewayId, identity.issuer, identity.subject],
  );
  if (linked.length > 0) return { userId: linked[0].id, name: linked[0].name, created: false };

  const claimValue = identity.claims[provider.userClaim];
  const name = typeof claimValue === 'string' ? claimValue : typeof claimValue === 'number' ? String(claimValue) : '';
  if (!userNamePattern.test(name)) {
    throw new SignInError(
      name
        ? `the identity provider's ${provider.userClaim} claim (${JSON.stringify(name.slice(0, 80))}) cannot be a Drover user name (letters, digits, dot, dash, underscore or @, up to 64); the gateway admin can choose another user claim, such as email or preferred_username`
        : `the identity provider sent no ${provider.userClaim} claim, which this gateway names its users by; the gateway admin can add the scope that carries it or choose another user claim`,
      'bad-user-claim',
    );
  }
  // $1 gateway, $2 name: a new user, or nothing when the name is taken.
  const made = await db.query<{ id: string }>(
    `insert into users (gateway_id, name, role) values ($1, $2, 'user')
     on conflict (gateway_id, name) do nothing returning id`,
    [gatewayId, name],
  );
  let userId: string;
  if (made.length > 0) userId = made[0].id;
  else {
    // An existing user of that name: linked only when an admin made it and no identity has it yet.
    // Another identity's user is refused; this identity's own (a sign-in of the same person
    // that committed first, from another tab) is not.
    const existing = await db.query<{ id: string; operator: boolean; others: number }>(
      `select users.id, users.operator,
              (select count(*)::int from user_identities i
               where i.user_id = users.id and not (i.issuer = $3 and i.subject = $4)) as others
       from users where gateway_id = $1 and name = $2 for update`,
      [gatewayId, name, identity.issuer, identity.subject],
    );
    const user = existing[0];
    if (!user || user.operator || user.others > 0) {
      throw new SignInError(
        `the user name ${JSON.stringify(name)} in this gateway belongs to someone else; ask the gateway admin`,
        'name-taken',
      );
    }
    userId = user.id;
  }
  await db.query(
    `insert into user_identities (gateway_id, issuer, subject, user_id) values ($1, $2, $3, $4)
     on conflict (gateway_id, issuer, subject) do nothing`,
    [gatewayId, identity.issuer, identity.subject, userId],
  );
  return { userId, name, created: made.length > 0 };
}
