/**
 * The little of `oidc-provider` (a dev dependency without types of its own) that
 * test/test-identity-provider.ts uses.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** An account as the provider asks `findAccount` for it. */
  interface Account {
    accountId: string;
    claims(): Promise<Record<string, unknown>>;
  }

  /** The configuration keys the tests set. */
  interface Configuration {
    clients: Array<Record<string, unknown>>;
    findAccount(context: unknown, id: string): Promise<Account | undefined>;
    claims: Record<string, string[]>;
    features: Record<string, { enabled: boolean }>;
    cookies: { keys: string[] };
    pkce: { required: () => boolean };
  }

  export default class Provider {
    constructor(issuer: string, configuration: Configuration);
    callback(): (request: IncomingMessage, response: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
