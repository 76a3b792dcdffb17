/**
 * Signing in through a gateway's identity provider, against a real OpenID Connect provider
 * (oidc-provider, started here) and a real Drover: the admin's provider settings (validated,
 * secret never returned), the code flow with PKCE through the provider's own login and
 * consent pages, users made on first sign-in in the right gateway, cookie sessions with
 * CSRF proof, sign-out and expiry, and named API tokens (API and CLI).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken, closeEach, runCli, startTestDrover, type TestDrover } from './harness.ts';
import { CookieBrowser, startTestIdentityProvider, type TestIdentityProvider } from './test-identity-provider.ts';

const clientSecret = 'test-client-secret-that-must-never-come-back';
const betaSecret = 'beta-client-secret-that-must-never-come-back';

let drover: TestDrover;
let provider: TestIdentityProvider;
let betaAdminToken: string;
let workDir: string;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'drover-sign-in-'));
  drover = await startTestDrover({ signIn: { allowHttpIssuers: true, allowedNetworks: ['127.0.0.1'] } }, ['api']);
  const beta = await drover.call('POST', '/api/v1/gateways', { id: 'beta', name: 'Beta Gateway' });
  assert.equal(beta.status, 201, JSON.stringify(beta.body));
  betaAdminToken = beta.body.admin.token;
  provider = await startTestIdentityProvider({
    clients: [
      { clientId: 'drover', clientSecret, redirectUris: [`${drover.url}/auth/default/callback`] },
      { clientId: 'drover-beta', clientSecret: betaSecret, redirectUris: [`${drover.url}/auth/beta/callback`] },
    ],
    accounts: [
      { login: 'alice', claims: { email: 'alice@uni.example', email_verified: true, preferred_username: 'alice' } },
      { login: 'bob', claims: { email: 'bob@elsewhere.example', email_verified: true, preferred_username: 'bob' } },
      // Chose the name of the gateway's operator at the provider: must not become them.
      { login: 'mallory', claims: { email: 'm@uni.example', email_verified: true, preferred_username: 'admin' } },
    ],
  });
  const settings = await drover.call('PUT', '/api/v1/identity-provider', {
    displayName: 'Test IdP',
    issuer: provider.issuer,
    clientId: 'drover',
    clientSecret,
    userClaim: 'preferred_username',
  });
  assert.equal(settings.status, 200, JSON.stringify(settings.body));
  const betaSettings = await drover.call(
    'PUT',
    '/api/v1/identity-provider',
    {
      issuer: provider.issuer,
      clientId: 'drover-beta',
      clientSecret: betaSecret,
      userClaim: 'email',
      allowedDomains: ['uni.example'],
    },
    betaAdminToken,
  );
  assert.equal(betaSettings.status, 200, JSON.stringify(betaSettings.body));
});

after(() =>
  closeEach(
    () => drover?.stop(),
    () => provider?.close(),
    () => rm(workDir, { recursive: true, force: true }),
  ),
);

/** Signs `login` in to `gateway` in a new browser; returns the browser, now holding the session cookie. */
async function signedIn(login: string, gateway = 'default'): Promise<CookieBrowser> {
  const browser = new CookieBrowser();
  const { url } = await browser.signIn(`${drover.url}/auth/${gateway}/login?returnTo=/experiments`, login);
  assert.equal(url, `${drover.url}/experiments`, `${login} should land on the experiment list`);
  assert.ok(browser.cookie(drover.url, 'drover_session'), 'a session cookie');
  return browser;
}

/** A JSON call to Drover from `browser` (its cookies), with the CSRF header unless `csrf` is false. */
async function browserCall(browser: CookieBrowser, method: string, path: string, body?: unknown, csrf = true) {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const csrfToken = browser.cookie(drover.url, 'drover_csrf');
  if (csrf && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await browser.request(`${drover.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text && text.startsWith('{') ? JSON.parse(text) : text };
}

describe('identity provider settings', () => {
  it('are shown to the admin without the client secret, and offered on the sign-in page', async () => {
    const shown = await drover.call('GET', '/api/v1/identity-provider');
    assert.equal(shown.status, 200);
    assert.equal(shown.body.clientSecretSet, true);
    assert.equal(shown.body.clientSecret, undefined);
    assert.equal(shown.body.redirectUri, `${drover.url}/auth/default/callback`);
    assert.deepEqual(shown.body.scopes, ['openid', 'profile', 'email']);
    assert.ok(!JSON.stringify(shown.body).includes(clientSecret));
    const stored = await drover.drover.store.query<{ client_secret: string }>(
      'select client_secret from identity_providers',
    );
    assert.ok(
      stored.every((row) => !row.client_secret.includes(clientSecret) && !row.client_secret.includes(betaSecret)),
    );

    const methods = await drover.call('GET', '/api/v1/sign-in-methods', undefined, null);
    assert.deepEqual(methods.body.identityProvider, { displayName: 'Test IdP', loginUrl: '/auth/default/login' });
    const beta = await drover.call('GET', '/api/v1/sign-in-methods?gateway=beta', undefined, null);
    assert.equal(beta.body.identityProvider.displayName, '127.0.0.1');
  });

  it('keep the stored secret when an update leaves it out', async () => {
    const updated = await drover.call('PUT', '/api/v1/identity-provider', {
      displayName: 'Test IdP',
      issuer: provider.issuer,
      clientId: 'drover',
      userClaim: 'preferred_username',
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(updated.body.clientSecretSet, true);
    await signedIn('alice');
  });

  it('refuse bad fields, naming each with the fix', async () => {
    const bad = await drover.call('PUT', '/api/v1/identity-provider', {
      issuer: 'ftp://idp.example',
      clientId: '',
      scopes: ['profile'],
      userClaim: 'has space',
      allowedDomains: ['not a domain'],
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const fields = bad.body.errors.map((error: { field: string }) => error.field).sort();
    assert.deepEqual(fields, ['allowedDomains.0', 'clientId', 'scopes', 'userClaim']);

    const scheme = await drover.call('PUT', '/api/v1/identity-provider', {
      issuer: 'ftp://idp.example',
      clientId: 'x',
    });
    assert.equal(scheme.status, 400);
    assert.deepEqual(scheme.body.errors, [{ field: 'issuer', message: 'must be an https:// URL' }]);
  });

  it('never reach addresses the platform does not allow (SSRF)', async () => {
    for (const issuer of ['http://169.254.169.254/latest', 'http://10.1.2.3', 'http://[::1]:9']) {
      const refused = await drover.call('PUT', '/api/v1/identity-provider', { issuer, clientId: 'x' });
      assert.equal(refused.status, 400, issuer);
      assert.equal(refused.body.errors[0].field, 'issuer');
      assert.match(refused.body.errors[0].message, /not a public address/, issuer);
    }
    // A provider that does not answer discovery is named too.
    const missing = await drover.call('PUT', '/api/v1/identity-provider', {
      issuer: `${provider.issuer}/no-such-realm`,
      clientId: 'x',
    });
    assert.equal(missing.status, 400);
    assert.match(missing.body.errors[0].message, /could not read .*no-such-realm\/\.well-known\/openid-configuration/);
    // Nothing was changed by the refusals.
    assert.equal((await drover.call('GET', '/api/v1/identity-provider')).body.clientId, 'drover');
  });

  it('are for admins only', async () => {
    const user = await drover.call('POST', '/api/v1/users', { name: 'plain-user' });
    const refused = await drover.call('GET', '/api/v1/identity-provider', undefined, user.body.token);
    assert.equal(refused.status, 403);
    const put = await drover.call(
      'PUT',
      '/api/v1/identity-provider',
      { issuer: provider.issuer, clientId: 'x' },
      user.body.token,
    );
    assert.equal(put.status, 403);
  });
});

describe('sign-in through the provider', () => {
  it('makes the user in the gateway at the first sign-in, and reuses them at the second', async () => {
    const first = await signedIn('alice');
    const me = await browserCall(first, 'GET', '/api/v1/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.user.name, 'alice');
    assert.equal(me.body.user.role, 'user');
    assert.equal(me.body.user.operator, false);
    assert.equal(me.body.gateway.id, 'default');

    const second = await signedIn('alice');
    const again = await browserCall(second, 'GET', '/api/v1/me');
    assert.equal(again.body.user.id, me.body.user.id);
    const users = await drover.drover.store.query("select id from users where name = 'alice'");
    assert.equal(users.length, 1);
  });

  it('makes one user when the same person signs in for the first time from two tabs at once', async () => {
    provider.addAccount({ login: 'dana', claims: { email: 'dana@uni.example', preferred_username: 'dana' } });
    const [first, second] = await Promise.all([signedIn('dana'), signedIn('dana')]);
    const [a, b] = await Promise.all([
      browserCall(first, 'GET', '/api/v1/me'),
      browserCall(second, 'GET', '/api/v1/me'),
    ]);
    assert.equal(a.body.user.id, b.body.user.id);
    assert.equal((await drover.drover.store.query("select 1 from users where name = 'dana'")).length, 1);
  });

  it('names users by the claim each gateway chose, and keeps gateways apart', async () => {
    const atDefault = await signedIn('alice');
    const atBeta = await signedIn('alice', 'beta');
    const betaMe = await browserCall(atBeta, 'GET', '/api/v1/me');
    assert.equal(betaMe.body.gateway.id, 'beta');
    assert.equal(betaMe.body.user.name, 'alice@uni.example');

    const created = await browserCall(atDefault, 'POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      inputs: { samples: 1000, seed: 1 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await browserCall(atBeta, 'GET', `/api/v1/experiments/${created.body.id}`)).status, 404);
    assert.equal((await browserCall(atBeta, 'GET', '/api/v1/experiments')).body.items.length, 0);
    assert.equal((await browserCall(atDefault, 'GET', `/api/v1/experiments/${created.body.id}`)).status, 200);
  });

  it("applies the gateway's rules: an e-mail domain it does not admit is refused", async () => {
    const browser = new CookieBrowser();
    const { response, url } = await browser.signIn(`${drover.url}/auth/beta/login`, 'bob');
    assert.match(url, /\/auth\/beta\/callback\?/);
    assert.equal(response.status, 403);
    assert.match(
      await response.text(),
      /admits only verified e-mail addresses at uni\.example, not bob@elsewhere\.example/,
    );
    assert.equal(browser.cookie(drover.url, 'drover_session'), undefined);
  });

  it("never signs anyone in as the platform operator by a claim's value", async () => {
    const browser = new CookieBrowser();
    const { response } = await browser.signIn(`${drover.url}/auth/default/login`, 'mallory');
    assert.equal(response.status, 403);
    assert.match(await response.text(), /belongs to someone else/);
    assert.equal(browser.cookie(drover.url, 'drover_session'), undefined);
  });

  it('refuses an answer whose state does not match, or with no sign-in under way', async () => {
    const browser = new CookieBrowser();
    const login = await browser.request(`${drover.url}/auth/default/login`);
    assert.equal(login.status, 302);
    const toProvider = new URL(login.headers.get('location')!);
    assert.equal(toProvider.origin, provider.issuer);
    assert.equal(toProvider.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(toProvider.searchParams.get('nonce'));
    assert.ok(browser.cookie(drover.url, 'drover_sign_in'));

    const wrong = await browser.request(`${drover.url}/auth/default/callback?code=abc&state=not-the-state`, {
      headers: { accept: 'text/html' },
    });
    // A browser goes back to the sign-in page, which shows why (once, from a short-lived cookie).
    assert.equal(wrong.status, 302);
    assert.equal(wrong.headers.get('location'), '/sign-in?gateway=default');
    assert.match(decodeURIComponent(browser.cookie(drover.url, 'drover_sign_in_failure')!), /state does not match/);
    assert.equal(browser.cookie(drover.url, 'drover_session'), undefined);

    // The sign-in cookie is used once: the same answer again finds no sign-in under way.
    const replay = await browser.request(
      `${drover.url}/auth/default/callback?code=abc&state=${toProvider.searchParams.get('state')}`,
    );
    assert.equal(replay.status, 400);
    assert.match((await replay.json()).detail, /no sign-in is under way/);

    // A sign-in begun at one gateway is not finished at another.
    const other = new CookieBrowser();
    const begun = await other.request(`${drover.url}/auth/default/login`);
    const state = new URL(begun.headers.get('location')!).searchParams.get('state');
    const crossed = await other.request(`${drover.url}/auth/beta/callback?code=abc&state=${state}`);
    assert.equal(crossed.status, 400);
    assert.match((await crossed.json()).detail, /another gateway/);
  });

  it('lands only on a path of this Drover (no open redirect)', async () => {
    for (const returnTo of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', '/api/v1/me']) {
      const browser = new CookieBrowser();
      const { url } = await browser.signIn(
        `${drover.url}/auth/default/login?returnTo=${encodeURIComponent(returnTo)}`,
        'alice',
      );
      assert.equal(url, `${drover.url}/experiments`, returnTo);
    }
    const browser = new CookieBrowser();
    const { url } = await browser.signIn(
      `${drover.url}/auth/default/login?returnTo=${encodeURIComponent('/experiments/new?x=1')}`,
      'alice',
    );
    assert.equal(url, `${drover.url}/experiments/new?x=1`);
  });

  it('answers 404 for a gateway without a provider', async () => {
    await drover.call('POST', '/api/v1/gateways', { id: 'gamma', name: 'Gamma' });
    const response = await fetch(`${drover.url}/auth/gamma/login`, { redirect: 'manual' });
    assert.equal(response.status, 404);
    assert.match((await response.json()).detail, /has no identity provider/);
  });
});

describe('the browser session', () => {
  it('is an httpOnly, SameSite=Lax cookie; the CSRF cookie is readable by the page', async () => {
    const browser = new CookieBrowser();
    const login = await browser.request(`${drover.url}/auth/default/login`);
    const signInCookie = login.headers.getSetCookie().find((line) => line.startsWith('drover_sign_in='))!;
    assert.match(signInCookie, /HttpOnly/);
    assert.match(signInCookie, /SameSite=Lax/);
    assert.match(signInCookie, /Path=\/auth\//);
    const signedInBrowser = await signedIn('alice');
    const token = await browserCall(signedInBrowser, 'POST', '/api/v1/me/tokens', { name: 'cookie check' });
    assert.equal(token.status, 201);
    // The attributes as the server set them, on a fresh session made from that token.
    const made = await fetch(`${drover.url}/api/v1/me/session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.body.token}` },
    });
    assert.equal(made.status, 201);
    const cookies = made.headers.getSetCookie();
    const session = cookies.find((line) => line.startsWith('drover_session='))!;
    const csrf = cookies.find((line) => line.startsWith('drover_csrf='))!;
    assert.match(session, /HttpOnly/);
    assert.match(session, /SameSite=Lax/);
    assert.doesNotMatch(session, /Secure/); // the test serves plain http on 127.0.0.1
    assert.doesNotMatch(csrf, /HttpOnly/);
  });

  it('works for GET, and for POST only with CSRF proof', async () => {
    const browser = await signedIn('alice');
    assert.equal((await browserCall(browser, 'GET', '/api/v1/experiments')).status, 200);
    const body = { application: 'pi-monte-carlo', resource: 'local', inputs: { samples: 1000 } };

    const without = await browserCall(browser, 'POST', '/api/v1/experiments', body, false);
    assert.equal(without.status, 403);
    assert.equal(without.body.type, 'urn:drover:problem:csrf');

    const forged = await browser.request(`${drover.url}/api/v1/experiments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': 'guessed' },
      body: JSON.stringify(body),
    });
    assert.equal(forged.status, 403);

    const crossSite = await browser.request(`${drover.url}/api/v1/experiments`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-csrf-token': browser.cookie(drover.url, 'drover_csrf')!,
        origin: 'https://evil.example',
      },
      body: JSON.stringify(body),
    });
    assert.equal(crossSite.status, 403);
    assert.match((await crossSite.json()).detail, /Origin https:\/\/evil\.example/);

    const proper = await browserCall(browser, 'POST', '/api/v1/experiments', body);
    assert.equal(proper.status, 201, JSON.stringify(proper.body));
  });

  it('feeds the event stream without a token in the URL', async () => {
    const browser = await signedIn('alice');
    const abort = new AbortController();
    const response = await browser.request(`${drover.url}/api/v1/experiments/changes`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
    abort.abort();
    await response.body?.cancel().catch(() => {});
  });

  it('ends at sign-out: the session is revoked on the server', async () => {
    const browser = await signedIn('alice');
    const stolen = browser.cookie(drover.url, 'drover_session')!;
    const out = await browserCall(browser, 'DELETE', '/api/v1/me/session');
    assert.equal(out.status, 204);
    assert.equal(browser.cookie(drover.url, 'drover_session'), undefined);
    // A copy of the cookie kept elsewhere no longer works either.
    const replay = await fetch(`${drover.url}/api/v1/me`, { headers: { cookie: `drover_session=${stolen}` } });
    assert.equal(replay.status, 401);

    const byToken = await drover.call('DELETE', '/api/v1/me/session');
    assert.equal(byToken.status, 400);
    assert.match(byToken.body.errors[0].message, /revoke it/);
  });

  it('is refused once expired or idle too long, saying so', async () => {
    for (const change of ["expires_at = now() - interval '1 second'", "last_seen_at = now() - interval '3 hours'"]) {
      const browser = await signedIn('alice');
      const cookie = browser.cookie(drover.url, 'drover_session')!;
      const { createHash } = await import('node:crypto');
      const idHash = createHash('sha256').update(cookie).digest('hex');
      await drover.drover.store.query(`update sessions set ${change} where id_hash = $1`, [idHash]);
      const refused = await browserCall(browser, 'GET', '/api/v1/me');
      assert.equal(refused.status, 401, change);
      assert.equal(refused.body.type, 'urn:drover:problem:session-expired');
      assert.match(refused.body.detail, /expired; sign in again/);
      // Said again on every request (a reload of the page too), not just the first.
      const again = await browserCall(browser, 'GET', '/api/v1/experiments');
      assert.equal(again.body.type, 'urn:drover:problem:session-expired');
    }
  });

  it('is never made by a garbage or guessed cookie', async () => {
    const response = await fetch(`${drover.url}/api/v1/me`, { headers: { cookie: 'drover_session=guessed' } });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).detail, 'your session has ended; sign in again');
    assert.match(response.headers.getSetCookie().join('\n'), /^drover_session=;/m, 'an unknown cookie is cleared');
  });
});

describe('API tokens', () => {
  it('are created (shown once), listed with last use, and revoked', async () => {
    const browser = await signedIn('alice');
    const made = await browserCall(browser, 'POST', '/api/v1/me/tokens', { name: 'laptop CLI' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.match(made.body.token, /^drv_/);
    assert.equal(made.body.lastUsedAt, null);

    const listed = await browserCall(browser, 'GET', '/api/v1/me/tokens');
    const entry = listed.body.items.find((item: { name: string }) => item.name === 'laptop CLI');
    assert.deepEqual(Object.keys(entry).sort(), ['createdAt', 'id', 'lastUsedAt', 'name']);
    assert.ok(!JSON.stringify(listed.body).includes(made.body.token));

    const me = await drover.call('GET', '/api/v1/me', undefined, made.body.token);
    assert.equal(me.body.user.name, 'alice');
    // last_used_at is written without holding up the request.
    let used: string | null = null;
    for (let tries = 0; tries < 50 && !used; tries += 1) {
      const again = await browserCall(browser, 'GET', '/api/v1/me/tokens');
      used = again.body.items.find((item: { id: string }) => item.id === made.body.id).lastUsedAt;
      if (!used) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(used, 'lastUsedAt is set once the token is used');

    const duplicate = await browserCall(browser, 'POST', '/api/v1/me/tokens', { name: 'laptop CLI' });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.errors[0].field, 'name');
    const badName = await browserCall(browser, 'POST', '/api/v1/me/tokens', { name: '' });
    assert.equal(badName.status, 400);
    assert.equal(badName.body.errors[0].field, 'name');

    const revoked = await browserCall(browser, 'DELETE', `/api/v1/me/tokens/${made.body.id}`);
    assert.equal(revoked.status, 204);
    const refused = await drover.call('GET', '/api/v1/me', undefined, made.body.token);
    assert.equal(refused.status, 401);
    assert.equal((await browserCall(browser, 'DELETE', `/api/v1/me/tokens/${made.body.id}`)).status, 404);
    assert.equal((await browserCall(browser, 'DELETE', '/api/v1/me/tokens/not-a-uuid')).status, 404);
  });

  it("are each user's own: another user's token id is a 404", async () => {
    const made = await drover.call('POST', '/api/v1/me/tokens', { name: 'operator script' });
    assert.equal(made.status, 201);
    const browser = await signedIn('alice');
    assert.equal((await browserCall(browser, 'DELETE', `/api/v1/me/tokens/${made.body.id}`)).status, 404);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, made.body.token)).status, 200);
  });

  it('keep the bootstrap token and issued tokens working as `default`', async () => {
    const listed = await drover.call('GET', '/api/v1/me/tokens');
    assert.ok(listed.body.items.some((item: { name: string }) => item.name === 'default'));
    const user = await drover.call('POST', '/api/v1/users', { name: 'token-user' });
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, user.body.token)).status, 200);
    const own = await drover.call('POST', '/api/v1/me/tokens', { name: 'mine' }, user.body.token);
    const rotated = await drover.call('POST', '/api/v1/users/token-user/token');
    assert.equal(rotated.status, 201);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, user.body.token)).status, 401);
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, rotated.body.token)).status, 200);
    // Rotating the issued token leaves the user's own tokens alone.
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, own.body.token)).status, 200);
  });

  it('are managed from the CLI: create, ls, revoke', async () => {
    const cli = (args: string[], token = adminToken) => runCli(args, { url: drover.url, workDir, token });
    const created = await cli(['tokens', 'create', 'nightly job']);
    assert.equal(created.code, 0, created.stderr);
    const token = /token \(shown once; store it now\): (\S+)/.exec(created.stdout)?.[1];
    assert.ok(token, created.stdout);
    const me = await cli(['--json', 'tokens', 'ls'], token);
    assert.equal(me.code, 0, me.stderr);
    const listed = JSON.parse(me.stdout).items.find((item: { name: string }) => item.name === 'nightly job');
    assert.ok(listed);
    const table = await cli(['tokens', 'ls']);
    assert.match(table.stdout, /NAME\s+CREATED\s+LAST USED\s+ID/);
    assert.match(table.stdout, /nightly job/);
    const revoked = await cli(['tokens', 'revoke', 'nightly job']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked token nightly job/);
    const refused = await cli(['tokens', 'ls'], token);
    assert.notEqual(refused.code, 0);
  });

  it('and the identity provider from the CLI: set, show, rm', async () => {
    const cli = (args: string[], environment: Record<string, string> = {}) =>
      runCli(args, { url: drover.url, workDir, token: betaAdminToken, environment });
    const set = await cli(
      [
        'identity-provider',
        'set',
        '--issuer',
        provider.issuer,
        '--client-id',
        'drover-beta',
        '--user-claim',
        'email',
        '--allowed-domain',
        'uni.example',
        '--display-name',
        'Beta IdP',
      ],
      { DROVER_OIDC_CLIENT_SECRET: betaSecret },
    );
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /redirect URI to register at the provider: .*\/auth\/beta\/callback/);
    const shown = await cli(['identity-provider', 'show']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /Beta IdP/);
    assert.match(shown.stdout, /client secret:\s+set/);
    assert.ok(!shown.stdout.includes(betaSecret));
    await signedIn('alice', 'beta');
    const bad = await cli(['identity-provider', 'set', '--issuer', 'ftp://x', '--client-id', 'x']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /issuer: must be an https:\/\/ URL/);
  });
});
