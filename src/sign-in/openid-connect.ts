/**
 * The OpenID Connect authorization code flow with PKCE (S256), `state` and `nonce`, through
 * openid-client: discovery of the issuer's `.well-known/openid-configuration` (cached a
 * few minutes per gateway), the address that sends the user to the provider, and the
 * check of what the provider sends back (state, code exchange, ID token signature,
 * issuer, audience, nonce). Every request to the provider goes through the guarded fetch.
 */
import * as oidc from 'openid-client';
import type { AddressPolicy } from '../notifications/address-policy.ts';
import { createGuardedFetch, RefusedAddressError } from './guarded-fetch.ts';
import type { IdentityProviderSettings } from './identity-provider.ts';
import { redirectUriOf } from './identity-provider.ts';

/** What the flow needs from the platform. */
export interface OpenIdConnectOptions {
  /** Which addresses an issuer may be at (the platform's SSRF policy). */
  addresses: AddressPolicy;
  /** Allow http:// issuers (tests, a provider on loopback). */
  allowHttpIssuers: boolean;
  /** The address users open Drover at; the redirect URI is under it. */
  publicUrl: string;
  /** The longest one request to the provider may take. */
  timeoutMs: number;
}

/** Why a sign-in could not go on, in words for the user (and the admin who set the provider up). */
export class SignInError extends Error {
  override name = 'SignInError';
  constructor(
    message: string,
    /** A short, stable code: `provider-unreachable`, `state-mismatch`, `provider-refused`, `not-allowed` ... */
    readonly code: string,
  ) {
    super(message);
  }
}

/** The secrets of one sign-in under way, kept in the browser's signed sign-in cookie until the callback. */
export interface PendingSignIn {
  gatewayId: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where in the UI to land after sign-in (a path on this Drover). */
  returnTo: string;
}

const cacheMs = 5 * 60_000;
const discovered = new Map<string, { at: number; configuration: oidc.Configuration }>();

/**
 * The provider's configuration from its discovery document.
 * @throws {SignInError} `provider-unreachable` when the document cannot be read or is not valid.
 */
export async function discover(
  provider: IdentityProviderSettings,
  options: OpenIdConnectOptions,
): Promise<oidc.Configuration> {
  const key = `${provider.gatewayId}\n${provider.updatedAt}\n${provider.issuer}`;
  const cached = discovered.get(key);
  if (cached && Date.now() - cached.at < cacheMs) return cached.configuration;
  const fetch = createGuardedFetch(options.addresses, options.timeoutMs);
  let configuration: oidc.Configuration;
  try {
    configuration = await oidc.discovery(
      new URL(provider.issuer),
      provider.clientId,
      undefined,
      provider.clientSecret ? oidc.ClientSecretBasic(provider.clientSecret) : oidc.None(),
      {
        [oidc.customFetch]: fetch as any,
        timeout: Math.ceil(options.timeoutMs / 1000),
        ...(options.allowHttpIssuers ? { execute: [oidc.allowInsecureRequests] } : {}),
      },
    );
  } catch (error) {
    throw new SignInError(
      `Drover could not read ${provider.issuer}/.well-known/openid-configuration: ${reasonOf(error)}`,
      'provider-unreachable',
    );
  }
  const metadata = configuration.serverMetadata();
  const methods = metadata.code_challenge_methods_supported;
  if (methods && !methods.includes('S256')) {
    throw new SignInError(
      `${provider.issuer} does not offer PKCE with S256 (code_challenge_methods_supported: ${methods.join(', ')}); Drover requires it`,
      'provider-unsupported',
    );
  }
  for (const [stale] of discovered) if (stale.startsWith(`${provider.gatewayId}\n`)) discovered.delete(stale);
  discovered.set(key, { at: Date.now(), configuration });
  return configuration;
}

/** The address that sends the user to the provider, and the secrets the callback will check. */
export async function beginSignIn(
  provider: IdentityProviderSettings,
  returnTo: string,
  options: OpenIdConnectOptions,
): Promise<{ url: URL; pending: PendingSignIn }> {
  const configuration = await discover(provider, options);
  const pending: PendingSignIn = {
    gatewayId: provider.gatewayId,
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
    codeVerifier: oidc.randomPKCECodeVerifier(),
    returnTo,
  };
  const url = oidc.buildAuthorizationUrl(configuration, {
    redirect_uri: redirectUriOf(options.publicUrl, provider.gatewayId),
    scope: provider.scopes.join(' '),
    response_type: 'code',
    code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
    code_challenge_method: 'S256',
    state: pending.state,
    nonce: pending.nonce,
  });
  return { url, pending };
}

/** Who the provider says signed in: the issuer, the subject and every claim it gave. */
export interface VerifiedIdentity {
  issuer: string;
  subject: string;
  claims: Record<string, unknown>;
}

/**
 * Checks the provider's answer at the callback (`callbackUrl`: the full address it was
 * sent to) against the pending sign-in, exchanges the code, verifies the ID token, and
 * adds the user-info claims when the ID token lacks `wantedClaims`.
 * @throws {SignInError} with the reason: the state does not match, the provider refused
 *   (the user declined, an error), the code exchange or the ID token failed.
 */
export async function completeSignIn(
  provider: IdentityProviderSettings,
  callbackUrl: URL,
  pending: PendingSignIn,
  wantedClaims: string[],
  options: OpenIdConnectOptions,
): Promise<VerifiedIdentity> {
  const configuration = await discover(provider, options);
  const sentState = callbackUrl.searchParams.get('state');
  if (sentState !== pending.state) {
    throw new SignInError(
      'the answer from the identity provider does not belong to the sign-in this browser started (its state does not match); start again',
      'state-mismatch',
    );
  }
  let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  try {
    tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
  } catch (error) {
    if (error instanceof oidc.AuthorizationResponseError) {
      throw new SignInError(
        `the identity provider did not sign you in: ${error.error}${error.error_description ? ` (${error.error_description})` : ''}`,
        'provider-refused',
      );
    }
    throw new SignInError(`the sign-in could not be completed: ${reasonOf(error)}`, 'sign-in-failed');
  }
  const idClaims = tokens.claims();
  if (!idClaims) throw new SignInError('the identity provider sent no ID token', 'sign-in-failed');
  let claims: Record<string, unknown> = { ...idClaims };
  const missing = wantedClaims.some((claim) => claims[claim] === undefined);
  if (missing && configuration.serverMetadata().userinfo_endpoint) {
    try {
      const info = await oidc.fetchUserInfo(configuration, tokens.access_token, idClaims.sub);
      // The ID token's claims win: they are signed.
      claims = { ...info, ...claims };
    } catch (error) {
      throw new SignInError(
        `the identity provider's user info could not be read: ${reasonOf(error)}`,
        'sign-in-failed',
      );
    }
  }
  return { issuer: String(idClaims.iss), subject: idClaims.sub, claims };
}

/** A reason fit to show: the provider's own words for its errors, the policy's for a refused address. */
function reasonOf(error: unknown): string {
  let cause: unknown = error;
  while (cause instanceof Error) {
    if (cause instanceof RefusedAddressError) return cause.message;
    if (!(cause as Error & { cause?: unknown }).cause) break;
    cause = (cause as Error & { cause?: unknown }).cause;
  }
  const message = error instanceof Error ? error.message : String(error);
  const causeMessage = cause instanceof Error && cause !== error ? `: ${cause.message}` : '';
  return `${message}${causeMessage}`.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 300);
}
