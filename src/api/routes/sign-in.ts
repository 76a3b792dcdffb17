/**
 * Sign-in through a gateway's OpenID Connect provider and the browser session it makes:
 *
 * - `GET /auth/{gateway}/login` sends the browser to the provider (code flow, PKCE S256,
 *   state, nonce), keeping those secrets in a short-lived signed httpOnly cookie;
 * - `GET /auth/{gateway}/callback` checks the answer against that cookie, makes the user on
 *   first sign-in, starts a session (httpOnly cookie) and returns to the UI;
 * - `GET /api/v1/sign-in-methods` tells the sign-in page what to offer (no token needed);
 * - `POST /api/v1/me/session` turns an API token into a browser session (the sign-in page's
 *   token form), `DELETE /api/v1/me/session` signs out;
 * - `GET|PUT|DELETE /api/v1/identity-provider`: the gateway admin's provider settings.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { getGateway } from '../../catalogue/users.ts';
import { ValidationError } from '../../domain/errors.ts';
import {
  deleteIdentityProvider,
  getIdentityProvider,
  loadIdentityProvider,
  parseIdentityProvider,
  saveIdentityProvider,
} from '../../sign-in/identity-provider.ts';
import {
  beginSignIn,
  completeSignIn,
  discover,
  SignInError,
  type OpenIdConnectOptions,
  type PendingSignIn,
} from '../../sign-in/openid-connect.ts';
import { createSession, deleteSession } from '../../sign-in/sessions.ts';
import { findOrCreateUser } from '../../sign-in/sign-in-user.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { clearSessionCookies, cookieOptions, publicOrigin, setSessionCookies } from '../authentication.ts';
import { sendProblem } from '../problem.ts';
import { problemResponses, ref } from '../schemas.ts';
import { requireAdmin } from './catalogue.ts';

/** The signed cookie that carries a sign-in under way from the login to the callback. */
const signInCookie = 'drover_sign_in';
/** How long a user has at the provider before the sign-in must start again. */
const signInWindowMs = 10 * 60_000;

const gatewayParams = {
  type: 'object',
  properties: { gateway: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
  required: ['gateway'],
} as const;

/**
 * The answers of the browser sign-in routes besides the problems: a redirect (a failure
 * too, for a browser: back to the sign-in page, which says why).
 */
const redirectResponse = {
  302: {
    type: 'null',
    description: 'A redirect (Location); a browser whose sign-in failed goes back to the sign-in page',
  },
  default: {
    description: 'Another failure',
    content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
  },
} as const;

/**
 * `returnTo` when it is a path on this Drover, else `/experiments`: the address the browser
 * lands on after sign-in is never another site (no open redirect).
 */
export function safeReturnPath(returnTo: unknown): string {
  if (typeof returnTo !== 'string' || !returnTo.startsWith('/') || /[\\\u0000-\u001f]/.test(returnTo))
    return '/experiments';
  const base = 'http://drover.invalid';
  try {
    const url = new URL(returnTo, base);
    if (url.origin !== base || url.pathname.startsWith('/auth/') || url.pathname.startsWith('/api/'))
      return '/experiments';
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return '/experiments';
  }
}

/** The cookie that carries why a browser's sign-in failed to the sign-in page, which shows it once. */
const signInFailureCookie = 'drover_sign_in_failure';

/**
 * A failed sign-in. A browser (`Accept: text/html`) goes back to its gateway's sign-in page,
 * which shows why (read once from a short-lived cookie the page can read: the reason is
 * never put in the address, where anyone could write one); anything else gets problem+json.
 */
function sendSignInFailure(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  error: SignInError,
  secure: boolean,
) {
  const gateway = (request.params as { gateway?: string }).gateway;
  if (String(request.headers.accept ?? '').includes('text/html')) {
    reply.setCookie(signInFailureCookie, error.message, cookieOptions(secure, { httpOnly: false, maxAgeMs: 60_000 }));
    return reply.redirect(`/sign-in${gateway ? `?gateway=${encodeURIComponent(gateway)}` : ''}`, 302);
  }
  return sendProblem(reply, {
    type: `urn:drover:problem:${error.code}`,
    title: status === 400 ? 'Bad Request' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Bad Gateway',
    status,
    detail: error.message,
  });
}

const failureStatus: Record<string, number> = {
  'no-provider': 404,
  'not-allowed': 403,
  'name-taken': 403,
  'provider-unreachable': 502,
  'provider-unsupported': 502,
  'sign-in-failed': 502,
};

/** Registers the routes outside /api/v1's token check: the login, the callback and the sign-in methods. */
export function registerSignInRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const { store, platformKey, signIn } = deps;
  const flowOptions = (request: FastifyRequest): OpenIdConnectOptions => ({
    addresses: signIn.addresses,
    allowHttpIssuers: signIn.allowHttpIssuers,
    publicUrl: publicOrigin(request, deps.publicUrl()),
    timeoutMs: signIn.timeoutMs,
  });
  const secure = (request: FastifyRequest) => publicOrigin(request, deps.publicUrl()).startsWith('https:');

  app.get<{ Querystring: { gateway?: string } }>(
    '/api/v1/sign-in-methods',
    {
      schema: {
        operationId: 'getSignInMethods',
        summary: 'How to sign in to a gateway',
        description:
          "For the gateway's sign-in page, so no token is needed: `?gateway=<id>`, else the bootstrap gateway. `identityProvider` is null when the gateway has none; API tokens always work.",
        tags: ['sign-in'],
        security: [],
        querystring: {
          type: 'object',
          properties: { gateway: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
        },
        response: { 200: ref('SignInMethods'), ...problemResponses },
      },
    },
    async (request) => {
      const gateway = await getGateway(store, request.query.gateway || deps.gatewayId);
      const rows = await store.query<{ display_name: string }>(
        'select display_name from identity_providers where gateway_id = $1',
        [gateway.id],
      );
      return {
        gateway: gateway.id,
        identityProvider: rows[0] ? { displayName: rows[0].display_name, loginUrl: `/auth/${gateway.id}/login` } : null,
        token: true,
      };
    },
  );

  app.get<{ Params: { gateway: string }; Querystring: { returnTo?: string } }>(
    '/auth/:gateway/login',
    {
      schema: {
        operationId: 'beginSignIn',
        summary: "Sign in through the gateway's identity provider",
        description:
          "Sends the browser to the gateway's OpenID Connect provider (authorization code flow with PKCE S256, state and nonce). `returnTo` is a path of the UI to land on afterwards (default /experiments). 404 when the gateway has no provider.",
        tags: ['sign-in'],
        security: [],
        params: gatewayParams,
        querystring: {
          type: 'object',
          properties: { returnTo: { type: 'string', maxLength: 2000, description: 'A path on this Drover' } },
        },
        response: {
          ...redirectResponse,
          ...problemResponses,
          502: { $ref: 'Problem#', description: 'The provider could not be reached' },
        },
      },
    },
    async (request, reply) => {
      const provider = await loadIdentityProvider(store, platformKey, request.params.gateway);
      if (!provider) {
        return sendSignInFailure(
          request,
          reply,
          404,
          new SignInError(
            `gateway ${request.params.gateway} has no identity provider; sign in with an API token`,
            'no-provider',
          ),
          secure(request),
        );
      }
      try {
        const { url, pending } = await beginSignIn(
          provider,
          safeReturnPath(request.query.returnTo),
          flowOptions(request),
        );
        reply.setCookie(signInCookie, Buffer.from(JSON.stringify(pending)).toString('base64url'), {
          ...cookieOptions(secure(request), { path: '/auth/', maxAgeMs: signInWindowMs }),
          signed: true,
        });
        return reply.redirect(url.href, 302);
      } catch (error) {
        if (error instanceof SignInError)
          return sendSignInFailure(request, reply, failureStatus[error.code] ?? 502, error, secure(request));
        throw error;
      }
    },
  );

  app.get<{ Params: { gateway: string } }>(
    '/auth/:gateway/callback',
    {
      schema: {
        operationId: 'completeSignIn',
        summary: 'Where the identity provider sends the browser back',
        description:
          "Checks the provider's answer against the sign-in this browser started (state, PKCE verifier, nonce, ID token), makes the user in the gateway on first sign-in (role user), starts a browser session (httpOnly cookie) and redirects to the UI. 400 when no sign-in is under way or the state does not match; 403 when the gateway's rules refuse the identity.",
        tags: ['sign-in'],
        security: [],
        params: gatewayParams,
        querystring: {
          type: 'object',
          properties: {
            code: { type: 'string' },
            state: { type: 'string' },
            error: { type: 'string' },
            error_description: { type: 'string' },
            iss: { type: 'string' },
          },
        },
        response: {
          ...redirectResponse,
          ...problemResponses,
          502: { $ref: 'Problem#', description: 'The provider could not be reached' },
        },
      },
    },
    async (request, reply) => {
      const { gateway } = request.params;
      const raw = request.cookies[signInCookie];
      const unsigned = raw ? request.unsignCookie(raw) : null;
      // The cookie is used once, whatever comes of it.
      reply.clearCookie(signInCookie, cookieOptions(secure(request), { path: '/auth/' }));
      const provider = await loadIdentityProvider(store, platformKey, gateway);
      if (!provider) {
        const error = new SignInError(
          `gateway ${gateway} has no identity provider; sign in with an API token`,
          'no-provider',
        );
        return sendSignInFailure(request, reply, 404, error, secure(request));
      }
      let pending: PendingSignIn | null = null;
      if (unsigned?.valid && unsigned.value) {
        try {
          pending = JSON.parse(Buffer.from(unsigned.value, 'base64url').toString('utf8'));
        } catch {
          pending = null;
        }
      }
      if (!pending || pending.gatewayId !== gateway) {
        return sendSignInFailure(
          request,
          reply,
          400,
          new SignInError(
            pending
              ? 'the answer from the identity provider does not belong to the sign-in this browser started (another gateway); start again'
              : 'no sign-in is under way in this browser (it took more than 10 minutes, cookies are blocked, or this page was opened twice); start again',
            'state-mismatch',
          ),
          secure(request),
        );
      }
      try {
        const options = flowOptions(request);
        const callbackUrl = new URL(`${options.publicUrl}/auth/${gateway}/callback`);
        callbackUrl.search = new URL(request.url, 'http://drover.invalid').search;
        const identity = await completeSignIn(
          provider,
          callbackUrl,
          pending,
          [provider.userClaim, 'email', ...(provider.requiredClaim ? [provider.requiredClaim.name] : [])],
          options,
        );
        const session = await store.transaction(async (tx) => {
          const user = await findOrCreateUser(tx, provider, identity);
          return createSession(tx, user.userId, signIn.lifetimes);
        });
        setSessionCookies(reply, session, secure(request));
        return reply.redirect(pending.returnTo, 302);
      } catch (error) {
        if (error instanceof SignInError) {
          const status = failureStatus[error.code] ?? 400;
          return sendSignInFailure(request, reply, status, error, secure(request));
        }
        throw error;
      }
    },
  );
}

/** Registers the authenticated routes: the session (create from a token, sign out) and the admin's provider settings. */
export function registerSessionRoutes(api: FastifyInstance, deps: ApiDependencies): void {
  const { store, platformKey, signIn } = deps;
  const secure = (request: FastifyRequest) => publicOrigin(request, deps.publicUrl()).startsWith('https:');

  api.post(
    '/me/session',
    {
      schema: {
        operationId: 'createSession',
        summary: 'Start a browser session with an API token',
        description:
          "Sets the httpOnly session cookie (and the CSRF cookie the UI reads) for the token's user, so that the web UI keeps no secret in its storage. Call it with `Authorization: Bearer <token>`.",
        tags: ['sign-in'],
        response: { 201: ref('Session'), ...problemResponses },
      },
    },
    async (request, reply) => {
      if (request.sessionId)
        throw new ValidationError('you are signed in already (by the session cookie); sign out first');
      const session = await createSession(store, request.principal.userId, signIn.lifetimes);
      setSessionCookies(reply, session, secure(request));
      return reply.code(201).send({ expiresAt: session.expiresAt.toISOString() });
    },
  );

  api.delete(
    '/me/session',
    {
      schema: {
        operationId: 'deleteSession',
        summary: 'Sign out',
        description:
          'Ends the browser session of the cookie this request carries (the session is revoked on the server, not just forgotten) and clears the cookies. 400 for a request authenticated by an API token: revoke a token with DELETE /me/tokens/{id}.',
        tags: ['sign-in'],
        response: { 204: { type: 'null', description: 'Signed out' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      if (!request.sessionId) {
        throw new ValidationError('this request is signed in by an API token, not a session', [
          { field: 'authorization', message: 'to stop a token working, revoke it: DELETE /api/v1/me/tokens/{id}' },
        ]);
      }
      await deleteSession(store, request.sessionId);
      clearSessionCookies(reply, secure(request));
      return reply.code(204).send();
    },
  );

  const providerBody = {
    type: 'object',
    required: ['issuer', 'clientId'],
    properties: {
      displayName: {
        type: 'string',
        description: 'The sign-in button says "Sign in with <displayName>" (default: the issuer\'s host)',
      },
      issuer: {
        type: 'string',
        description:
          'The issuer URL; Drover reads <issuer>/.well-known/openid-configuration. Keycloak: https://<host>/realms/<realm>; CILogon: https://cilogon.org',
      },
      clientId: { type: 'string' },
      clientSecret: {
        type: ['string', 'null'],
        description:
          'Stored encrypted, never returned. Left out: the stored secret stays; null: a public client (PKCE only)',
      },
      scopes: {
        type: 'array',
        items: { type: 'string' },
        description: 'Default openid, profile, email; must include openid',
      },
      userClaim: {
        type: 'string',
        description:
          "The claim whose value is the user's name in the gateway (default sub; often email or preferred_username)",
      },
      allowedDomains: {
        type: 'array',
        items: { type: 'string' },
        description: 'Only verified e-mail addresses at these domains may sign in (default: any)',
      },
      requiredClaim: {
        type: ['object', 'null'],
        required: ['name', 'value'],
        properties: { name: { type: 'string' }, value: { type: 'string' } },
        description: 'A claim the identity must hold with this value (a string, or an array holding it), e.g. a group',
      },
    },
  } as const;

  api.get(
    '/identity-provider',
    {
      schema: {
        operationId: 'getIdentityProvider',
        summary: "The gateway's identity provider (admin)",
        description: 'The OpenID Connect settings of your gateway, without the client secret; 404 when none is set.',
        tags: ['sign-in'],
        response: { 200: ref('IdentityProvider'), ...problemResponses },
      },
    },
    async (request) => {
      requireAdmin(request);
      return getIdentityProvider(store, request.principal.gatewayId, publicOrigin(request, deps.publicUrl()));
    },
  );

  api.put(
    '/identity-provider',
    {
      schema: {
        operationId: 'setIdentityProvider',
        summary: "Set the gateway's identity provider (admin)",
        description:
          'Validates the settings, reads the issuer\'s discovery document (it must be reachable from Drover, at an address the platform allows, and offer PKCE S256), and stores them; the sign-in page then offers "Sign in with <displayName>". Register `redirectUri` of the answer at the provider. 400 names each bad field.',
        tags: ['sign-in'],
        body: providerBody,
        response: { 200: ref('IdentityProvider'), ...problemResponses },
      },
    },
    async (request) => {
      requireAdmin(request);
      const gatewayId = request.principal.gatewayId;
      const settings = parseIdentityProvider(request.body, signIn.allowHttpIssuers);
      const stored = await loadIdentityProvider(store, platformKey, gatewayId);
      const clientSecret = settings.clientSecret === undefined ? (stored?.clientSecret ?? null) : settings.clientSecret;
      try {
        await discover(
          {
            ...settings,
            gatewayId,
            clientSecret,
            displayName: settings.displayName ?? '',
            updatedAt: `check ${Date.now()}`,
          },
          {
            addresses: signIn.addresses,
            allowHttpIssuers: signIn.allowHttpIssuers,
            publicUrl: publicOrigin(request, deps.publicUrl()),
            timeoutMs: signIn.timeoutMs,
          },
        );
      } catch (error) {
        if (!(error instanceof SignInError)) throw error;
        throw new ValidationError('the identity provider cannot be used', [
          {
            field: 'issuer',
            message: `${error.message}; check the issuer URL (Keycloak: https://<host>/realms/<realm>, CILogon: https://cilogon.org)`,
          },
        ]);
      }
      await saveIdentityProvider(store, platformKey, gatewayId, settings);
      return getIdentityProvider(store, gatewayId, publicOrigin(request, deps.publicUrl()));
    },
  );

  api.delete(
    '/identity-provider',
    {
      schema: {
        operationId: 'deleteIdentityProvider',
        summary: "Remove the gateway's identity provider (admin)",
        description:
          'The sign-in page stops offering it; users who signed in keep their accounts, sessions and tokens.',
        tags: ['sign-in'],
        response: { 204: { type: 'null', description: 'Removed' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      await deleteIdentityProvider(store, request.principal.gatewayId);
      return reply.code(204).send();
    },
  );
}
