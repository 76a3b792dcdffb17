/**
 * All configuration in one schema, parsed once at start into a frozen object.
 * Precedence: command-line flags, then environment, then the YAML file, then defaults.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { defaultDataDir } from './data-dir.ts';
import { taskKinds } from './domain/task.ts';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

// Kept here too: the configuration's default, where its callers and tests look for it.
export { defaultDataDir };

const positiveInt = z.coerce.number().int().positive();

/** A comma-separated string as a list (the environment's form of a list); anything else as it is. */
function splitList(value: unknown): unknown {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : value;
}

/** A list of strings, from YAML as a list or from the environment as one comma-separated string. */
const stringList = z.preprocess(splitList, z.array(z.string()));

/** An address range, `address/prefix` or one address: 10.0.0.0/8, fd00::/8, 127.0.0.1. */
const addressRange = z.string().refine((range) => {
  const [address, prefix] = range.split('/');
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32);
}, 'must be an address range such as 10.0.0.0/8, fd00::/8 or 127.0.0.1');

export const configSchema = z
  .object({
    /** Address the API listens on (default 127.0.0.1: loopback only). */
    host: z.string().default('127.0.0.1'),
    /** API port (default 8080; 0 picks a free one). */
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Folder for the embedded store, uploads, outputs and the local scratch (default ~/.local/share/drover). */
    dataDir: z.string().default(defaultDataDir()),
    /** PostgreSQL connection string; when unset, the embedded store (a PostgreSQL server in the data folder) is used. */
    databaseUrl: z.string().url().optional(),
    /** Embedded store on a throwaway server in a temporary folder, removed at stop: nothing survives a restart. */
    memory: z.coerce.boolean().default(false),
    /** YAML catalogues of applications and resources loaded at start, comma-separated, in order ("" for none). */
    catalogue: z.string().default(join(projectRoot, 'catalogue', 'demo.yaml')),
    /** Folder of the bundled demo programs, substituted for {{apps}} in commands. */
    appsDir: z.string().default(join(projectRoot, 'apps')),
    /** The built web UI (`npm run build`), served at `/`. */
    webDir: z.string().default(join(projectRoot, 'web', 'dist')),
    gateway: z
      .object({
        id: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
          .default('default'),
        name: z.string().default('Drover'),
        theme: z.record(z.string(), z.string()).default({ primary: '#1f6feb', accent: '#8250df' }),
      })
      .default({}),
    /**
     * Token of the platform operator (user `admin` of the bootstrap gateway); when unset,
     * generated once, kept in the data folder and printed at start (a configured one never is).
     */
    adminToken: z.string().min(16).optional(),
    /**
     * Key that encrypts stored SSH credentials: 32 bytes in base64 (`openssl rand -base64 32`).
     * When unset, made once and kept in the data folder (`platform-key`, mode 0600).
     */
    platformKey: z.string().optional(),
    worker: z
      .object({
        /**
         * Tasks one worker runs at once. Tasks mostly wait (for the store, a cluster's login
         * node), and a worker claims as many as it has free slots in one exchange: 64 rather
         * than 16 took a 1,000-element sweep into Slurm with about a third less CPU, in the
         * store and in Drover (bench/README.md, Job arrays).
         */
        concurrency: positiveInt.default(64),
        /** Task lease; a task whose worker stops renewing is retried after this long. */
        leaseMs: positiveInt.default(30_000),
        /** Fallback claim interval when no notification arrives. */
        pollMs: positiveInt.default(1000),
        /**
         * Exchanges with the queue under way at once: while one commits, outcomes that came in
         * meanwhile go in the next (bench/README.md, Dispatch). 1 waits for each exchange.
         */
        exchangesInFlight: positiveInt.default(2),
        /**
         * Tasks that may wait for a command their resource batches (the next mkdir of
         * env-setup folders, the next sbatch/qsub batch of submits) without holding one of
         * the `concurrency` slots: 1000 lets a sweep of 1,000 (the most one request creates)
         * reach the batcher whole and go as one job array (at 200, five arrays and 8.8 s
         * instead of one and 3.1 s: bench/README.md, Job arrays). 0 makes them hold it.
         */
        maxWaiting: z.coerce.number().int().min(0).default(1000),
        /**
         * The task kinds this worker runs (default all): the claim hands it no other. A list,
         * or comma-separated in the environment.
         */
        kinds: z
          .preprocess(splitList, z.array(z.enum(taskKinds)).min(1, 'name at least one task kind'))
          .default([...taskKinds]),
        /**
         * The resources this worker can reach (default all): a resource name (in any gateway)
         * or `<gateway>/<name>`. The claim hands it tasks of experiments on these alone.
         */
        resources: z
          .preprocess(
            splitList,
            z
              .array(
                z
                  .string()
                  .regex(
                    /^([a-z0-9][a-z0-9-]{0,62}\/)?[a-z0-9][a-z0-9._-]{0,62}$/,
                    'a resource name, or <gateway>/<name>',
                  ),
              )
              .min(1, 'name at least one resource, or leave it unset for all'),
          )
          .nullable()
          .default(null),
        /** How often a worker heartbeats (default 5 s); the controller calls it lost after three missed. */
        heartbeatMs: positiveInt.default(5000),
        /**
         * On SIGTERM, how long a worker lets its running tasks finish before it hands the rest
         * back to the queue (default 10 s).
         */
        drainGraceMs: z.coerce.number().int().min(0).default(10_000),
      })
      .default({}),
    controller: z
      .object({
        /** Time between controller passes (lease recovery, job polling, cancellation). */
        pollMs: positiveInt.default(1000),
        /** How long a dead leader blocks its standby before the standby takes over. */
        leadershipMs: positiveInt.default(15_000),
        /**
         * Fair share: a user's past usage (core-hours) counts half after this many hours,
         * a quarter after twice as many (default 168, a week, as Slurm's PriorityDecayHalfLife).
         */
        fairShareHalfLifeHours: z.coerce.number().positive().default(168),
      })
      .default({}),
    /**
     * How ready tasks reach workers. Every process of a deployment must use the same adapter:
     * one started with `postgres` turns the RabbitMQ outbox off for all.
     */
    dispatch: z
      .object({
        /**
         * `postgres` (default): the Postgres queue (SKIP LOCKED claims, NOTIFY wake-ups).
         * `rabbitmq`: the RabbitMQ queue (durable priority queues, publisher confirms, a
         * transactional outbox; PostgreSQL stays the record of every task's state).
         */
        adapter: z.enum(['postgres', 'rabbitmq']).default('postgres'),
        /** The broker for `rabbitmq`, an amqp:// or amqps:// URL (a vhost as its path). */
        rabbitmqUrl: z
          .string()
          .url()
          .refine((url) => /^amqps?:\/\//.test(url), 'must be an amqp:// or amqps:// URL')
          .default('amqp://guest:guest@127.0.0.1:5672'),
        /** Prefix of the queue names: `<prefix>.<task kind>` and `<prefix>.dead` (default `drover`). */
        rabbitmqQueuePrefix: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, dot, dash and underscore, up to 100')
          .default('drover'),
        /**
         * Messages a worker is sent ahead of its claims, beyond the tasks it runs (default:
         * `worker.concurrency`).
         */
        prefetch: positiveInt.optional(),
      })
      .default({}),
    /** Largest JSON request body in bytes (default 1 MiB). */
    bodyLimitBytes: positiveInt.default(1024 * 1024),
    /** Largest upload in bytes (default 64 MiB). */
    uploadLimitBytes: positiveInt.default(64 * 1024 * 1024),
    /**
     * Per-user limits of the API. Each user has their own budget; limits count on each API
     * process (run more API processes, get proportionally more).
     */
    limits: z
      .object({
        /** Writes (POST, PUT, PATCH, DELETE under /api/v1) one user may make per window (default 1200); the next gets 429 with Retry-After. */
        writesPerWindow: positiveInt.default(1200),
        /** The rate-limit window in milliseconds (default 60 000: a minute). */
        writeWindowMs: positiveInt.default(60_000),
        /** Event streams (SSE) one user may hold open at once (default 32; the web UI holds one or two per tab). */
        eventStreamsPerUser: positiveInt.default(32),
        /** Bytes one user may upload in total, over all their uploads (default 10 GiB); an upload past it is a 413. */
        uploadQuotaBytes: positiveInt.default(10 * 1024 ** 3),
      })
      .default({}),
    /**
     * Prometheus `/metrics`. On the API address it needs `Authorization: Bearer <token>`:
     * this token, or the bootstrap admin token when unset. `listen` ("host:port") also
     * serves it, without a token, on its own address (keep that address private).
     */
    metrics: z
      .object({
        token: z.string().min(16).optional(),
        listen: z
          .string()
          .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464')
          .optional(),
      })
      .default({}),
    /**
     * Notifications of experiments' starts and ends by email and webhook (README,
     * Notifications): sent from an outbox by every controller process, retried with
     * exponential backoff.
     */
    notifications: z
      .object({
        /** How often a deliverer looks for due deliveries (default 1000 ms). */
        pollMs: positiveInt.default(1000),
        /** The longest one send may take, SMTP or HTTP (default 10 s); then it counts as failed and is retried. */
        sendTimeoutMs: positiveInt.default(10_000),
        /** Attempts in all before a delivery is `failed` (default 10). */
        maxAttempts: positiveInt.default(10),
        /** Delay after the first failed attempt, doubled after each (default 10 s). */
        retryBaseMs: positiveInt.default(10_000),
        /** The longest delay between two attempts (default 1 hour). */
        retryCapMs: positiveInt.default(3_600_000),
        /** The address users open Drover at, for the links in notifications and the sign-in redirect (default http://<host>:<port>). */
        publicUrl: z.string().url().optional(),
        email: z
          .object({
            /**
             * The SMTP server: smtp://user:password@host:587 (STARTTLS when the server offers
             * it) or smtps://...:465 (TLS). Unset: no email notifications (users cannot set an address).
             */
            smtpUrl: z
              .string()
              .url()
              .refine((url) => /^smtps?:\/\//.test(url), 'must be an smtp:// or smtps:// URL')
              .optional(),
            /** The From of notification emails (default `Drover <drover@localhost>`). */
            from: z.string().min(3).default('Drover <drover@localhost>'),
          })
          .default({}),
        webhook: z
          .object({
            /**
             * Address ranges webhooks may reach although they are not public (loopback, private
             * networks ...): none by default. A test or a gateway on a private network adds its range.
             */
            allowedNetworks: stringList.pipe(z.array(addressRange)).default([]),
            /** Address ranges webhooks never reach, public ones included; they win over allowedNetworks. */
            deniedNetworks: stringList.pipe(z.array(addressRange)).default([]),
          })
          .default({}),
      })
      .default({}),
    /**
     * Signing in through a gateway's OpenID Connect provider (README, Signing in with your
     * identity provider) and the browser sessions it makes. The address the provider sends
     * users back to is `notifications.publicUrl` (DROVER_PUBLIC_URL) + `/auth/<gateway>/callback`;
     * session cookies are Secure when that address is https.
     */
    signIn: z
      .object({
        /** A browser session ends this long after sign-in, however active (default 12 hours). */
        sessionMaxAgeMs: positiveInt.default(12 * 3_600_000),
        /** A browser session ends after this long without a request (default 2 hours). */
        sessionIdleMs: positiveInt.default(2 * 3_600_000),
        /**
         * Address ranges a provider's issuer may be at although they are not public (loopback,
         * private networks): none by default, so a gateway admin cannot point Drover at the
         * platform's internal services. A provider on a private network adds its range.
         */
        allowedNetworks: stringList.pipe(z.array(addressRange)).default([]),
        /** Address ranges no issuer may be at, public ones included; they win over allowedNetworks. */
        deniedNetworks: stringList.pipe(z.array(addressRange)).default([]),
        /** Allow http:// issuers (default false: https only). For tests and a provider on loopback. */
        allowHttpIssuers: z
          .preprocess((value) => (value === 'true' ? true : value === 'false' ? false : value), z.boolean())
          .default(false),
      })
      .default({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export type Config = Readonly<z.infer<typeof configSchema>>;
export type ConfigInput = z.input<typeof configSchema>;

/** Environment variables and the config keys they set. */
const environmentKeys: Record<string, string> = {
  DROVER_HOST: 'host',
  DROVER_PORT: 'port',
  DROVER_DATA_DIR: 'dataDir',
  DATABASE_URL: 'databaseUrl',
  DROVER_DISPATCH: 'dispatch.adapter',
  DROVER_RABBITMQ_URL: 'dispatch.rabbitmqUrl',
  DROVER_RABBITMQ_QUEUE_PREFIX: 'dispatch.rabbitmqQueuePrefix',
  DROVER_DISPATCH_PREFETCH: 'dispatch.prefetch',
  DROVER_CATALOGUE: 'catalogue',
  DROVER_ADMIN_TOKEN: 'adminToken',
  DROVER_PLATFORM_KEY: 'platformKey',
  DROVER_WORKER_CONCURRENCY: 'worker.concurrency',
  DROVER_LEASE_MS: 'worker.leaseMs',
  DROVER_WORKER_POLL_MS: 'worker.pollMs',
  DROVER_WORKER_EXCHANGES_IN_FLIGHT: 'worker.exchangesInFlight',
  DROVER_WORKER_MAX_WAITING: 'worker.maxWaiting',
  DROVER_WORKER_KINDS: 'worker.kinds',
  DROVER_WORKER_RESOURCES: 'worker.resources',
  DROVER_WORKER_HEARTBEAT_MS: 'worker.heartbeatMs',
  DROVER_WORKER_DRAIN_GRACE_MS: 'worker.drainGraceMs',
  DROVER_CONTROLLER_POLL_MS: 'controller.pollMs',
  DROVER_CONTROLLER_LEADERSHIP_MS: 'controller.leadershipMs',
  DROVER_FAIR_SHARE_HALF_LIFE_HOURS: 'controller.fairShareHalfLifeHours',
  DROVER_GATEWAY_NAME: 'gateway.name',
  DROVER_LOG_LEVEL: 'logLevel',
  DROVER_WRITES_PER_WINDOW: 'limits.writesPerWindow',
  DROVER_WRITE_WINDOW_MS: 'limits.writeWindowMs',
  DROVER_EVENT_STREAMS_PER_USER: 'limits.eventStreamsPerUser',
  DROVER_UPLOAD_QUOTA_BYTES: 'limits.uploadQuotaBytes',
  DROVER_METRICS_TOKEN: 'metrics.token',
  DROVER_METRICS_LISTEN: 'metrics.listen',
  DROVER_PUBLIC_URL: 'notifications.publicUrl',
  DROVER_SMTP_URL: 'notifications.email.smtpUrl',
  DROVER_SMTP_FROM: 'notifications.email.from',
  DROVER_WEBHOOK_ALLOWED_NETWORKS: 'notifications.webhook.allowedNetworks',
  DROVER_WEBHOOK_DENIED_NETWORKS: 'notifications.webhook.deniedNetworks',
  DROVER_NOTIFICATIONS_POLL_MS: 'notifications.pollMs',
  DROVER_NOTIFICATIONS_RETRY_BASE_MS: 'notifications.retryBaseMs',
  DROVER_NOTIFICATIONS_RETRY_CAP_MS: 'notifications.retryCapMs',
  DROVER_NOTIFICATIONS_MAX_ATTEMPTS: 'notifications.maxAttempts',
  DROVER_NOTIFICATIONS_SEND_TIMEOUT_MS: 'notifications.sendTimeoutMs',
  DROVER_SESSION_MAX_AGE_MS: 'signIn.sessionMaxAgeMs',
  DROVER_SESSION_IDLE_MS: 'signIn.sessionIdleMs',
  DROVER_SIGN_IN_ALLOWED_NETWORKS: 'signIn.allowedNetworks',
  DROVER_SIGN_IN_DENIED_NETWORKS: 'signIn.deniedNetworks',
  DROVER_SIGN_IN_ALLOW_HTTP_ISSUERS: 'signIn.allowHttpIssuers',
};

/**
 * Thrown when configuration is invalid; the message names each bad key. A start-up error
 * (family: errors that stop a process with a message, see domain/errors.ts), never a
 * request error or a task failure.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Builds the configuration: defaults, then the YAML file (`file` or $DROVER_CONFIG), then
 * environment variables, then `overrides` (command-line flags).
 */
export function loadConfig(
  overrides: ConfigInput = {},
  environment: NodeJS.ProcessEnv = process.env,
  file = environment.DROVER_CONFIG,
): Config {
  let merged: Record<string, unknown> = {};
  if (file) {
    try {
      merged = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
    }
  }
  for (const [variable, path] of Object.entries(environmentKeys)) {
    const value = environment[variable];
    if (value !== undefined && value !== '') setPath(merged, path, value);
  }
  merged = deepMerge(merged, overrides as Record<string, unknown>);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return deepFreeze(result.data);
}

/** Freezes `value` and every object in it: nothing downstream may change the configuration. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * The configuration with every default and `overrides`, ignoring the environment and any
 * config file: what benchmarks and tests start from when they build a role themselves, so
 * the defaults stay here alone.
 * @throws {ConfigError} when `overrides` are invalid.
 */
export function defaultConfig(overrides: ConfigInput = {}): Config {
  return loadConfig(overrides, {}, undefined);
}

function setPath(target: Record<string, any>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  node[keys.at(-1)!] = value;
}

function deepMerge(base: Record<string, any>, extra: Record<string, any>): Record<string, any> {
  const result = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) continue;
    result[key] =
      value && typeof value === 'object' && !Array.isArray(value) ? deepMerge(result[key] ?? {}, value) : value;
  }
  return result;
}
