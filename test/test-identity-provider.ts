/**
 * A real OpenID Connect provider for tests: `oidc-provider` on 127.0.0.1 (a free port),
 * with its development login and consent pages, test clients and test accounts. Also a
 * small cookie-keeping HTTP client that signs in through it the way a browser would
 * (following redirects, submitting the provider's forms), for the API tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/** A test account: its login at the provider is its id; any password is accepted. */
export interface TestAccount {
  login: string;
  claims: Record<string, unknown>;
}

/** A client registered at the test provider. */
export interface TestClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

/** A running test provider. */
export interface TestIdentityProvider {
  issuer: string;
  /** Adds or replaces an account (from the next sign-in on). */
  addAccount(account: TestAccount): void;
  close(): Promise<void>;
}

/** Starts a provider with `clients` and `accounts` on 127.0.0.1; close it in `after`. */
export async function startTestIdentityProvider(options: {
  clients: TestClient[];
  accounts: TestAccount[];
}): Promise<TestIdentityProvider> {
  const accounts = new Map(options.accounts.map((account) => [account.login, account]));
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
    })),
    async findAccount(_context, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['drover-test-identity-provider-cookie-key'] },
    pkce: { required: () => true },
  });
  // Quiet: the provider logs every error an expected refusal causes.
  provider.on('server_error', () => {});
  server.on('request', provider.callback());
  return {
    issuer,
    addAccount: (account) => accounts.set(account.login, account),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** A fetch that keeps cookies per origin, as a browser does (enough for these tests: no paths, no expiry). */
export class CookieBrowser {
  readonly cookies = new Map<string, Map<string, string>>();

  /** The cookie `name` this browser holds for `origin`. */
  cookie(origin: string, name: string): string | undefined {
    return this.cookies.get(origin)?.get(name);
  }

  /** One request, without following redirects; keeps the cookies it sets. */
  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const { origin } = new URL(url);
    const jar = this.cookies.get(origin) ?? new Map<string, string>();
    this.cookies.set(origin, jar);
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const separator = pair.indexOf('=');
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      const expired = attributes.some(
        (attribute) => /^\s*max-age=0$/i.test(attribute) || /^\s*expires=Thu, 01 Jan 1970/i.test(attribute.trim()),
      );
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }

  /** Follows redirects from `url` until an answer that is not one; returns it and the last URL. */
  async follow(url: string, init: RequestInit = {}): Promise<{ response: Response; url: string }> {
    let current = url;
    let response = await this.request(current, init);
    for (let hops = 0; response.status >= 300 && response.status < 400 && hops < 20; hops += 1) {
      current = new URL(response.headers.get('location')!, current).href;
      await response.body?.cancel();
      response = await this.request(current);
    }
    return { response, url: current };
  }

  /**
   * Signs in at Drover through the provider: opens Drover's login address, fills the
   * provider's login form as `login`, accepts its consent page, and follows the way back.
   * Returns the last answer and its address (Drover's UI on success).
   */
  async signIn(loginUrl: string, login: string): Promise<{ response: Response; url: string }> {
    let { response, url } = await this.follow(loginUrl);
    for (let step = 0; step < 4 && response.status === 200; step += 1) {
      const page = await response.text();
      const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/.exec(page)?.[1];
      if (!action || !new URL(url).pathname.startsWith('/interaction/')) return { response: new Response(page), url };
      const prompt = /name="prompt" value="([^"]+)"/.exec(page)?.[1];
      const form = new URLSearchParams(
        prompt === 'login' ? { prompt, login, password: 'any' } : { prompt: prompt ?? '' },
      );
      ({ response, url } = await this.follow(new URL(action.replaceAll('&amp;', '&'), url).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      }));
    }
    return { response, url };
  }
}
