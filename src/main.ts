/**
 * Composition root: configuration -> adapters -> roles. The only module that picks
 * concrete adapters.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';
import type { Store } from './store/port.ts';
import { openEmbeddedStore } from './store/embedded-store.ts';
import { openPostgresStore } from './store/postgres-store.ts';
import { migrate } from './store/migrate.ts';
import { createPostgresQueue } from './dispatch/postgres-queue.ts';
import { openRabbitmqQueue } from './dispatch/rabbitmq-queue.ts';
import type { Dispatch } from './dispatch/port.ts';
import { setDispatchOutbox } from './state/dispatch-outbox.ts';
import type { TaskKind } from './domain/task.ts';
import { createStorage } from './files/storage.ts';
import { createResourceRegistry } from './resources/resource-registry.ts';
import { bootstrap } from './bootstrap.ts';
import { loadPrivateKey } from './credentials/credentials.ts';
import { loadPlatformKey } from './credentials/platform-key.ts';
import { Worker } from './worker/worker.ts';
import { createHandlers, type HandlerDependencies } from './worker/handlers.ts';
import { createStoreMembership } from './worker/membership.ts';
import { releaseLeasesOfDeadProcess } from './state/task-state.ts';
import { markSilentWorkersLost } from './state/worker-state.ts';
import { Controller } from './controller/controller.ts';
import { Deliverer } from './notifications/deliverer.ts';
import { createAddressPolicy } from './notifications/address-policy.ts';
import { createEmailSender } from './notifications/email-sender.ts';
import { createWebhookSender } from './notifications/webhook-sender.ts';
import { buildApi } from './api/server.ts';
import {
  countResourceCommands,
  countWorkerExchanges,
  createMetricsRegistry,
  listenForMetrics,
  measureAdmissionPasses,
  measureSchedulerPolls,
} from './api/metrics.ts';

export type Role = 'api' | 'worker' | 'controller';

/** A running Drover: where its API listens, the admin token, and how to stop it. */
export interface RunningDrover {
  url: string | null;
  /** Where `/metrics` is served without a token (`metrics.listen`), or null. */
  metricsUrl: string | null;
  /** The platform operator's token (user `admin` of the bootstrap gateway), when this process knows it. */
  adminToken: string | null;
  /** True when Drover made the token (then, and only then, it is printed at start). */
  adminTokenGenerated: boolean;
  store: Store;
  logger: Logger;
  stop(): Promise<void>;
}

/** Opens the store the configuration names and brings its schema up to date. */
export async function openStore(config: Config): Promise<Store> {
  const store = config.databaseUrl
    ? await openPostgresStore({ connectionString: config.databaseUrl })
    : await openEmbeddedStore({ dataDir: config.dataDir, throwaway: config.memory });
  try {
    await migrate(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/**
 * Starts the given roles in this process. With the embedded store, all roles must run
 * here (this process holds the data folder); with PostgreSQL, any mix of processes works.
 */
export async function startDrover(config: Config, roles: Role[]): Promise<RunningDrover> {
  const logger = pino({ level: config.logLevel, base: { service: 'drover' } });
  keepDataPrivate(config.dataDir);
  const store = await openStore(config);
  const storage = createStorage(join(config.dataDir, 'storage'));
  const metrics = createMetricsRegistry();
  const platformKey = loadPlatformKey(config);
  const resources = createResourceRegistry({
    logger,
    loadCredential: (gatewayId, name) => loadPrivateKey(store, platformKey, gatewayId, name),
    onCommand: countResourceCommands(metrics),
  });
  const stops: Array<() => Promise<void>> = [];
  const notifications = config.notifications;
  const webhookAddresses = createAddressPolicy(notifications.webhook);

  const { adminToken, adminTokenGenerated } = await bootstrap(store, config);

  if (store.exclusive) {
    // The embedded store belongs to this process alone (it holds the folder's lock), so any
    // lease still held was held by a process that died: let the controller recover it now.
    // Its workers are lost, and their tasks back in the queue at once.
    await store.transaction((tx) => markSilentWorkersLost(tx, { all: true }));
    await releaseLeasesOfDeadProcess(store);
  }

  // The RabbitMQ queue's outbox triggers exist only while the deployment uses it.
  const rabbitmq = config.dispatch.adapter === 'rabbitmq';
  await setDispatchOutbox(store, rabbitmq);
  /** Opens the RabbitMQ queue: a worker consumes every kind and relays; a controller alone relays. */
  const openRabbitmq = (kinds: readonly TaskKind[]) =>
    openRabbitmqQueue(store, {
      url: config.dispatch.rabbitmqUrl,
      queuePrefix: config.dispatch.rabbitmqQueuePrefix,
      kinds,
      prefetch: config.dispatch.prefetch ?? config.worker.concurrency,
      pollMs: config.worker.pollMs,
      logger: logger.child({ role: 'dispatch' }),
    });

  if (roles.includes('worker')) {
    const handlers = delayStageIn(
      createHandlers({ store, storage, resources, appsDir: config.appsDir, afterSubmit: faultAfterSubmit() }),
    );
    // The kinds it is configured for and has a handler of: it is handed no other.
    const kinds = config.worker.kinds.filter((kind) => kind in handlers);
    const queue = rabbitmq ? await openRabbitmq(kinds) : null;
    const dispatch: Dispatch = queue ?? createPostgresQueue(store);
    const worker = new Worker({
      dispatch,
      handlers,
      membership: {
        port: createStoreMembership(store),
        capabilities: { kinds, resources: config.worker.resources },
        heartbeatMs: config.worker.heartbeatMs,
        version: droverVersion(),
        host: hostname(),
        pid: process.pid,
      },
      logger: logger.child({ role: 'worker' }),
      concurrency: config.worker.concurrency,
      leaseMs: config.worker.leaseMs,
      pollMs: config.worker.pollMs,
      exchangesInFlight: config.worker.exchangesInFlight,
      maxWaiting: config.worker.maxWaiting,
      onExchange: countWorkerExchanges(metrics),
    });
    await worker.start();
    stops.push(async () => {
      await worker.stop(config.worker.drainGraceMs);
    });
    // After the worker drained (its outcomes acked): what it still holds goes back to the broker.
    if (queue) stops.push(() => queue.close());
  } else if (rabbitmq && roles.includes('controller')) {
    // No worker here: relay the outbox all the same, so messages wait in the broker, not in PostgreSQL.
    const relay = await openRabbitmq([]);
    stops.push(() => relay.close());
  }
  if (roles.includes('controller')) {
    const controller = new Controller({
      store,
      resources,
      logger: logger.child({ role: 'controller' }),
      pollMs: config.controller.pollMs,
      leadershipMs: config.controller.leadershipMs,
      fairShareHalfLifeHours: config.controller.fairShareHalfLifeHours,
      exclusive: store.exclusive,
      onSchedulerPoll: measureSchedulerPolls(metrics),
      onAdmissionPass: measureAdmissionPasses(metrics),
    });
    controller.start();
    stops.push(() => controller.stop());
  }
  let url: string | null = null;
  if (roles.includes('api')) {
    const api = await buildApi({
      store,
      storage,
      resources,
      logger,
      metrics,
      appsDir: config.appsDir,
      webDir: config.webDir,
      gatewayId: config.gateway.id,
      platformKey,
      bodyLimitBytes: config.bodyLimitBytes,
      uploadLimitBytes: config.uploadLimitBytes,
      limits: config.limits,
      metricsToken: config.metrics.token ?? null,
      notificationPolicy: {
        platformKey,
        emailAvailable: notifications.email.smtpUrl !== undefined,
        webhookAddresses,
      },
      publicUrl: () => notifications.publicUrl ?? url,
      signIn: {
        lifetimes: { maxAgeMs: config.signIn.sessionMaxAgeMs, idleMs: config.signIn.sessionIdleMs },
        addresses: createAddressPolicy(config.signIn),
        allowHttpIssuers: config.signIn.allowHttpIssuers,
        timeoutMs: 10_000,
      },
    });
    const address = await api.listen({ host: config.host, port: config.port });
    url = address.replace('://[::1]', '://localhost');
    stops.unshift(() => api.close());
  }
  if (roles.includes('controller')) {
    // In every controller, not only the leader: claims with SKIP LOCKED share the work.
    const deliverer = new Deliverer({
      store,
      logger: logger.child({ role: 'notifications' }),
      platformKey,
      senders: {
        webhook: createWebhookSender({ policy: webhookAddresses, timeoutMs: notifications.sendTimeoutMs }),
        ...(notifications.email.smtpUrl
          ? {
              email: createEmailSender({
                smtpUrl: notifications.email.smtpUrl,
                from: notifications.email.from,
                timeoutMs: notifications.sendTimeoutMs,
              }),
            }
          : {}),
      },
      publicUrl: notifications.publicUrl ?? url ?? `http://${config.host}:${config.port}`,
      pollMs: notifications.pollMs,
      sendTimeoutMs: notifications.sendTimeoutMs,
      maxAttempts: notifications.maxAttempts,
      retryBaseMs: notifications.retryBaseMs,
      retryCapMs: notifications.retryCapMs,
    });
    deliverer.start();
    // Stopped before the API and the store: sends under way are recorded.
    stops.push(() => deliverer.stop());
  }
  let metricsUrl: string | null = null;
  if (config.metrics.listen) {
    const metricsServer = await listenForMetrics(metrics, config.metrics.listen);
    metricsUrl = metricsServer.url;
    stops.unshift(() => metricsServer.close());
  }

  return {
    url,
    metricsUrl,
    adminToken,
    adminTokenGenerated,
    store,
    logger,
    async stop() {
      for (const stop of stops) await stop();
      await resources.close();
      await store.close();
    },
  };
}

/**
 * Test-only fault injection: with `DROVER_FAULT_STAGE_IN_DELAY_MS=<ms>` a worker's stage-in
 * waits that long before it copies, as a copy from a slow store would: a window in which
 * the worker holds a task, for the tests of a lost and of a draining worker
 * (test/workers.pg.test.ts). Read here, in the composition root, as faultAfterSubmit is.
 */
function delayStageIn(handlers: ReturnType<typeof createHandlers>): ReturnType<typeof createHandlers> {
  const delayMs = Number(process.env.DROVER_FAULT_STAGE_IN_DELAY_MS ?? 0);
  if (!(delayMs > 0)) return handlers;
  const stageIn = handlers['stage-in'];
  return {
    ...handlers,
    'stage-in': async (task, context) => {
      // Unref'd: a stopped Drover in a test process must not be kept alive by it.
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      return stageIn(task, context);
    },
  };
}

/** The Drover version (package.json), as a worker registers it. */
function droverVersion(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Test-only fault injection: with `DROVER_FAULT_KILL_AFTER_SUBMIT=1` a worker SIGKILLs
 * itself between the scheduler accepting a job and Drover recording it, the window
 * exactly-once adoption exists for (test/cluster-adoption.slurm.test.ts). Read here, in the
 * composition root, so that no handler reads the environment.
 */
function faultAfterSubmit(): HandlerDependencies['afterSubmit'] {
  if (process.env.DROVER_FAULT_KILL_AFTER_SUBMIT !== '1') return undefined;
  return () => process.kill(process.pid, 'SIGKILL');
}

/**
 * Makes the data folder 0700 (also one made by an earlier version) and sets the process
 * umask to 077, so every file Drover writes there is 0600 and every folder 0700: the
 * server's password, uploads, outputs, the admin token and the local scratch (PostgreSQL
 * keeps its cluster 0700 itself). The umask is the root fix because no writer (fs.copyFile,
 * tinyglobby, SFTP) can forget it. Jobs on `local` resources inherit it too, on purpose:
 * their files hold users' inputs and results and must be readable by Drover (the same
 * account) only. Jobs on clusters run under the login shell's own umask.
 */
function keepDataPrivate(dataDir: string): void {
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
}
