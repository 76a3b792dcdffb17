/**
 * Signing in through the gateway's identity provider in Chromium (playwright-core), against
 * a real OpenID Connect provider started here (oidc-provider, its own login and consent
 * pages) and a real Drover: the "Sign in with ..." button, the provider's login, landing
 * signed in on the experiment list with nothing secret in the page's storage, an
 * experiment made from the form, an API token made on its page and used from the CLI and
 * over HTTP, then revoked; sign-out; and the notice of an expired session. The sign-in
 * page with the provider's button goes to docs/screenshots/sign-in-identity-provider.png.
 *
 * Needs `npm run build` first (the browser tier does it) and /usr/bin/chromium
 * (scripts/install-chromium.sh); CHROMIUM_PATH overrides the browser's path.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, TestPages } from './browser.ts';
import {
  adminToken,
  closeEach,
  projectRoot,
  runCli,
  startTestDrover,
  waitForState,
  type TestDrover,
} from './harness.ts';
import { startTestIdentityProvider, type TestIdentityProvider } from './test-identity-provider.ts';

const screenshots = join(projectRoot, 'docs', 'screenshots');
const providerName = 'Test University';

let drover: TestDrover;
let provider: TestIdentityProvider;
let browser: Browser;
let workDir: string;
const pages = new TestPages(() => browser);

before(async () => {
  assert.ok(existsSync(join(projectRoot, 'web', 'dist', 'index.html')), 'the web UI is not built: run `npm run build`');
  workDir = await mkdtemp(join(tmpdir(), 'drover-sign-in-browser-'));
  [drover, browser] = await Promise.all([
    startTestDrover({
      gateway: { name: 'Heat Lab Gateway', theme: { primary: '#0b6e4f', accent: '#8a4500' } },
      signIn: { allowHttpIssuers: true, allowedNetworks: ['127.0.0.1'] },
    }),
    launchChromium(),
  ]);
  provider = await startTestIdentityProvider({
    clients: [
      {
        clientId: 'drover-ui',
        clientSecret: 'browser-test-secret',
        redirectUris: [`${drover.url}/auth/default/callback`],
      },
    ],
    accounts: [
      {
        login: 'carol',
        claims: { email: 'carol@uni.example', email_verified: true, preferred_username: 'carol' },
      },
    ],
  });
  const settings = await drover.call('PUT', '/api/v1/identity-provider', {
    displayName: providerName,
    issuer: provider.issuer,
    clientId: 'drover-ui',
    clientSecret: 'browser-test-secret',
    userClaim: 'preferred_username',
  });
  assert.equal(settings.status, 200, JSON.stringify(settings.body));
  mkdirSync(screenshots, { recursive: true });
});

after(() =>
  closeEach(
    () => pages.closeAll(),
    // The browser first: its open event streams would otherwise hold Drover's stop up.
    () => browser?.close(),
    () => drover?.stop(),
    () => provider?.close(),
    () => rm(workDir, { recursive: true, force: true }),
  ),
);

afterEach(() => pages.closeAll());

/** A fresh page, signed in as `token` unless it is null (see TestPages). */
function openPage(token: string | null = null): Promise<Page> {
  return pages.open(drover.url, token);
}

/** From Drover's sign-in page: the provider's button, its login form as `login`, its consent page. */
async function signInAtProvider(page: Page, login: string): Promise<void> {
  await page.getByRole('link', { name: `Sign in with ${providerName}` }).click();
  await page.waitForURL((url) => url.origin === provider.issuer);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password: the test provider takes any');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  // The provider asks once per browser whether Drover may have the claims.
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((url) => url.origin === drover.url);
}

describe('signing in through the identity provider', () => {
  it('signs in at the provider, lands on the list, makes an experiment and a token, and signs out', async () => {
    const page = await openPage();
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByRole('link', { name: `Sign in with ${providerName}` }).waitFor();
    await page.screenshot({ path: join(screenshots, 'sign-in-identity-provider.png'), fullPage: true });

    await signInAtProvider(page, 'carol');
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    assert.match(page.url(), /\/experiments$/);
    assert.match(await page.getByRole('banner').innerText(), /carol/);

    // Nothing secret where the page's scripts can read it: no token in storage, and the
    // session cookie is httpOnly (only the CSRF token is readable).
    const storage = await page.evaluate(() => Object.keys(localStorage));
    assert.deepEqual(
      storage.filter((key) => key !== 'drover.gateway'),
      [],
    );
    const visibleCookies = await page.evaluate(() => document.cookie);
    assert.doesNotMatch(visibleCookies, /drover_session/);
    assert.match(visibleCookies, /drover_csrf=/);
    const session = (await page.context().cookies()).find((cookie) => cookie.name === 'drover_session')!;
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');

    // An experiment from the form: a POST the session cookie signs in, with the CSRF token.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New experiment' }).click();
    await page.getByLabel('Application', { exact: true }).selectOption('pi-monte-carlo');
    await page.getByRole('group', { name: 'Inputs' }).waitFor();
    await page.getByLabel('Samples').fill('20000');
    await page.getByRole('button', { name: 'Submit experiment' }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f-]{36}$/);
    const experimentId = page.url().split('/').pop()!;
    await waitForState(drover, experimentId, ['completed']);

    // A token for the CLI, made on its page and shown once.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
    await page.getByLabel('Name').fill('browser test CLI');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByLabel('New API token').innerText()).trim();
    assert.match(token, /^drv_/);
    await page.getByRole('cell', { name: 'browser test CLI', exact: true }).waitFor();

    const listed = await runCli(['ls'], { url: drover.url, workDir, token });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(experimentId.slice(0, 8)));
    const overHttp = await drover.call('GET', `/api/v1/experiments/${experimentId}`, undefined, token);
    assert.equal(overHttp.status, 200);
    assert.equal(overHttp.body.owner, 'carol');

    await page.reload();
    await page.getByRole('cell', { name: 'browser test CLI', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Revoke browser test CLI' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked browser test CLI.' }).waitFor();
    assert.equal((await drover.call('GET', '/api/v1/me', undefined, token)).status, 401);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByText('You are signed out.').waitFor();
    // Revoked on the server: the old cookie, replayed, is refused.
    const replay = await fetch(`${drover.url}/api/v1/me`, { headers: { cookie: `drover_session=${session.value}` } });
    assert.equal(replay.status, 401);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });

  it('says so on the sign-in page when the session has expired', async () => {
    const page = await openPage();
    await page.goto(`${drover.url}/`);
    await signInAtProvider(page, 'carol');
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    const session = (await page.context().cookies()).find((cookie) => cookie.name === 'drover_session')!;
    await drover.drover.store.query("update sessions set expires_at = now() - interval '1 second' where id_hash = $1", [
      createHash('sha256').update(session.value).digest('hex'),
    ]);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByText('Your session has expired; sign in again.').waitFor();
    // An answer that does not belong to this browser's sign-in: back on the sign-in page, saying why.
    await page.goto(`${drover.url}/auth/default/callback?code=forged&state=forged`);
    await page.getByRole('alert').filter({ hasText: 'Signing in failed: no sign-in is under way' }).waitFor();
    assert.match(page.url(), /\/sign-in\?gateway=default$/);
    // Signing in again through the provider (it remembers the user) lands where the user was.
    await page.getByRole('link', { name: `Sign in with ${providerName}` }).click();
    await page.waitForURL(`${drover.url}/experiments`);
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
  });

  it('lets the gateway admin set the provider up on its page, naming a bad field', async () => {
    const page = await openPage(adminToken);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign-in settings' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign-in settings' }).waitFor();
    assert.equal(await page.getByLabel('Issuer URL').inputValue(), provider.issuer);
    assert.equal(await page.getByLabel('Client secret').inputValue(), '', 'the secret is never shown');
    await page.getByText('A secret is stored (never shown)').waitFor();
    await page.getByLabel('Redirect URI').getByText(`${drover.url}/auth/default/callback`).waitFor();

    await page.getByLabel('Issuer URL').fill('http://169.254.169.254/latest');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#idp-issuer-error').filter({ hasText: 'not a public address' }).waitFor();
    assert.equal(await page.getByLabel('Issuer URL').getAttribute('aria-invalid'), 'true');

    await page.getByLabel('Issuer URL').fill(provider.issuer);
    await page.getByLabel('Name on the button').fill('Campus Login');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const methods = await drover.call('GET', '/api/v1/sign-in-methods', undefined, null);
    assert.equal(methods.body.identityProvider.displayName, 'Campus Login');
    // The stored secret was kept: signing in still works, under the new name.
    const signedOut = await openPage();
    await signedOut.goto(`${drover.url}/`);
    await signedOut.getByRole('link', { name: 'Sign in with Campus Login' }).click();
    await signedOut.locator('input[name="login"]').fill('carol');
    await signedOut.locator('input[name="password"]').fill('any');
    await signedOut.getByRole('button', { name: 'Sign-in' }).click();
    await signedOut.getByRole('button', { name: 'Continue' }).click();
    await signedOut.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    // Put back for the other tests.
    await page.getByLabel('Name on the button').fill(providerName);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  });
});
