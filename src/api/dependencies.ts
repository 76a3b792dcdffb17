/**
 * What the API's routes are given: the server builds one `ApiDependencies` and hands it to
 * each `register*Routes`. It lives apart from `server.ts` so that the routes import this
 * file, not the server that imports them (no server <-> routes cycle).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Store } from '../store/port.ts';
import type { Storage } from '../files/storage.ts';
import type { ResourceRegistry } from '../resources/resource-registry.ts';
import type { Principal } from '../catalogue/users.ts';
import type { ApiLimits } from './hardening.ts';
import type { SettingsPolicy } from '../notifications/settings.ts';
import type { AddressPolicy } from '../notifications/address-policy.ts';
import type { SessionLifetimes } from '../sign-in/sessions.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request: set by the bearer-token hook before any /api/v1 route runs. */
    principal: Principal;
    /** The browser session's id when the session cookie authenticated the request, else null. */
    sessionId: string | null;
  }
}

/** Everything the API server and its routes need, built by the composition root (`main.ts`). */
export interface ApiDependencies {
  store: Store;
  storage: Storage;
  resources: ResourceRegistry;
  logger: Logger;
  metrics: Registry;
  appsDir: string;
  /** The built web UI, served at `/` (index.html for every page the UI routes itself). */
  webDir: string;
  /** The bootstrap gateway (the platform operator's), whose name and colours the sign-in page shows by default. */
  gatewayId: string;
  /** Encrypts stored credentials (AES-256-GCM). */
  platformKey: Buffer;
  bodyLimitBytes: number;
  uploadLimitBytes: number;
  /** Per-user limits: write rate, open event streams, upload quota. */
  limits: ApiLimits;
  /** The bearer token `/metrics` asks for (null: the platform operator's token). */
  metricsToken: string | null;
  /** The platform key, whether email can be sent, and the webhook address policy, for notification settings. */
  notificationPolicy: SettingsPolicy;
  /**
   * The address users open Drover at (config `notifications.publicUrl`, else where the API
   * listens), read per request: the sign-in redirect URI is under it; null until known.
   */
  publicUrl: () => string | null;
  /** Sign-in through identity providers and browser sessions (config `signIn`). */
  signIn: {
    lifetimes: SessionLifetimes;
    /** Which addresses an issuer may be at. */
    addresses: AddressPolicy;
    allowHttpIssuers: boolean;
    /** The longest one request to a provider may take. */
    timeoutMs: number;
  };
}
