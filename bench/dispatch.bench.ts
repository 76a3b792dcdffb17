/**
 * Dispatch benchmark: the real dispatch path (createTasks -> Worker over the Postgres
 * queue -> applyOutcomes/claimTasks, every transition and event stored) with handlers
 * that do nothing, on PostgreSQL and on the embedded server; and the same over the
 * RabbitMQ queue (outbox trigger, relay with publisher confirms, the broker at
 * RABBITMQ_URL, claims of the tasks messages name, acks after the outcome commits), each
 * run on queues of its own.
 *
 * Workloads:
 * - `empty`: N single-task experiments submitted, then drained: tasks/s.
 * - `chain`: N experiments of five chained tasks (the standard DAG kinds, no-op handlers,
 *   the monitor does not detach): workflows/s and tasks/s.
 * - `latency`: one single-task experiment at a time at idle; milliseconds from the
 *   commit of createTasks to the handler being called (p50/p99).
 *
 * Submission (experiment rows inserted as `queued` plus createTasks, 100 per transaction)
 * is timed apart from the drain. Each run gets a fresh database; results are medians.
 *
 * The peer: on PostgreSQL the `chain` workload also runs graphile-worker 0.17 (its
 * defaults, the same concurrency) on the same server: each job adds its successor, five
 * steps a workflow, 1,000 workflows queued first. Its runs alternate with ours, so load
 * from elsewhere falls on both alike; the table prints both and the ratio.
 *
 *   npm run bench -- [--store pg|embedded|all] [--workload empty|chain|latency|all]
 *                    [--adapter postgres|rabbitmq|all] [--runs N] [--quick] [--concurrency 10,16]
 *                    [--in-flight 1,2] [--no-peer] [--profile] [--register all|none|<resource,...>]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { Logger as GraphileLogger, makeWorkerUtils, run as runGraphileWorker, type Task } from 'graphile-worker';
import type { Queryable, Store } from '../src/store/port.ts';
import { openEmbeddedStore } from '../src/store/embedded-store.ts';
import { openPostgresStore } from '../src/store/postgres-store.ts';
import { migrate } from '../src/store/migrate.ts';
import { createPostgresQueue } from '../src/dispatch/postgres-queue.ts';
import { openRabbitmqQueue, rabbitmqQueueNames } from '../src/dispatch/rabbitmq-queue.ts';
import type { Dispatch } from '../src/dispatch/port.ts';
import { setDispatchOutbox } from '../src/state/dispatch-outbox.ts';
import amqp from 'amqplib';
import { randomBytes } from 'node:crypto';
import { createTasks } from '../src/state/task-state.ts';
import { experimentDag, taskKinds, type TaskKind, type TaskPlan } from '../src/domain/task.ts';
import { createUser, ensureGateway } from '../src/catalogue/users.ts';
import { Worker, type TaskHandler, type WorkerOptions } from '../src/worker/worker.ts';
import { createStoreMembership } from '../src/worker/membership.ts';
import { allCapabilities } from '../src/domain/worker.ts';
import { defaultConfig } from '../src/config.ts';

// ---- options ------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    store: { type: 'string', default: 'all' },
    workload: { type: 'string', default: 'all' },
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    concurrency: { type: 'string' },
    experiments: { type: 'string' },
    workflows: { type: 'string' },
    samples: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-analyze': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    'in-flight': { type: 'string', default: '2' },
    'no-peer': { type: 'boolean', default: false },
    adapter: { type: 'string', default: 'all' },
    register: { type: 'string', default: 'all' },
  },
});

const storeKinds = ['pg', 'embedded'] as const;
type StoreKind = (typeof storeKinds)[number];
const storeChoices: Record<string, StoreKind[]> = {
  pg: ['pg'],
  embedded: ['embedded'],
  all: [...storeKinds],
};
const adapterKinds = ['postgres', 'rabbitmq'] as const;
type AdapterKind = (typeof adapterKinds)[number];
const adapterChoices: Record<string, AdapterKind[]> = {
  postgres: ['postgres'],
  rabbitmq: ['rabbitmq'],
  all: [...adapterKinds],
};
const workloadKinds = ['empty', 'chain', 'latency'] as const;
type WorkloadKind = (typeof workloadKinds)[number];

const defaultWorkerConcurrency = 16; // Worker's own default; the bench passes it explicitly
const options = {
  stores: pick(storeChoices, flags.store!, '--store'),
  adapters: pick(adapterChoices, flags.adapter!, '--adapter'),
  workloads: flags.workload === 'all' ? [...workloadKinds] : [flags.workload as WorkloadKind],
  runs: positive(flags.runs ?? (flags.quick ? '1' : '3'), '--runs'),
  concurrencies: (flags.concurrency ?? `10,${defaultWorkerConcurrency}`)
    .split(',')
    .map((value) => positive(value, '--concurrency')),
  experiments: positive(flags.experiments ?? (flags.quick ? '1000' : '10000'), '--experiments'),
  workflows: positive(flags.workflows ?? (flags.quick ? '200' : '1000'), '--workflows'),
  samples: positive(flags.samples ?? (flags.quick ? '100' : '500'), '--samples'),
  profile: flags.profile!,
  analyze: !flags['no-analyze'],
  workers: positive(flags.workers!, '--workers'),
  peer: !flags['no-peer'],
  // `2` pipelines two exchanges; `2-split` also splits each claim (WorkerOptions.splitClaims).
  inFlight: flags['in-flight']!.split(',').map((value) => ({
    exchanges: positive(value.replace(/-split$/, ''), '--in-flight'),
    split: value.endsWith('-split'),
  })),
};
for (const workload of options.workloads) {
  if (!workloadKinds.includes(workload)) fail(`--workload must be one of ${workloadKinds.join(', ')}, all`);
}

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const rabbitmqUrl = process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';
const logger = pino({ level: 'silent' });
const submitBatch = 100;
const singleTask: TaskPlan[] = [{ kind: 'noop', dependsOn: [] }];
const fiveSteps: TaskPlan[] = experimentDag.map((node) => ({ kind: node.kind, dependsOn: [...node.dependsOn] }));

// ---- stores -------------------------------------------------------------------------

interface BenchStore {
  store: Store;
  /** The database's name on the PostgreSQL server, to read its backends' CPU time. */
  database?: string;
  dispose(): Promise<void>;
}

let databaseCounter = 0;

/** Creates an empty database on the server at DATABASE_URL; returns its URL and how to drop it. */
async function createBenchDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `drover_bench_${process.pid}_${++databaseCounter}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const dropper = new pg.Client({ connectionString: databaseUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}

/**
 * CPU time so far (ms) of each PostgreSQL backend serving `database`, read from /proc (the
 * server runs on this machine). The machine is shared, so wall-clock rates vary with the
 * load; CPU time per workflow varies far less and shows what a change saves.
 */
async function backendCpuMs(database: string): Promise<Map<number, number>> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [
      database,
    ]);
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        // Fields 14 and 15 (after the parenthesised name): utime and stime in clock ticks.
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        cpu.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond);
      } catch {
        // The backend ended meanwhile, or the server is on another machine.
      }
    }
    return cpu;
  } finally {
    await admin.end();
  }
}

const clockTicksPerSecond = 100;

/** CPU (ms) the backends used between two readings of backendCpuMs. */
function cpuSpent(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** Opens a fresh, migrated store of `kind`; `dispose` closes and deletes it. */
async function openBenchStore(kind: StoreKind): Promise<BenchStore> {
  if (kind === 'pg') {
    const database = await createBenchDatabase();
    const store = await openPostgresStore({ connectionString: database.url });
    await migrate(store);
    return {
      store,
      database: database.name,
      async dispose() {
        await store.close();
        await database.drop();
      },
    };
  }
  // The embedded server as `drover up` runs it (fsync on), in a data folder of its own.
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-bench-'));
  const store = await openEmbeddedStore({ dataDir });
  await migrate(store);
  return {
    store,
    async dispose() {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Statement timings by phase and first words, for `--profile`. */
type Profile = Map<string, { count: number; ms: number }>;
let profilePhase = 'setup';

/** Wraps a store so that every statement's time (and each whole transaction's) is added to `totals`. */
function profiled(store: Store, totals: Profile): Store {
  const add = (key: string, started: number) => {
    const entry = totals.get(`${profilePhase}: ${key}`) ?? { count: 0, ms: 0 };
    entry.count += 1;
    entry.ms += performance.now() - started;
    totals.set(`${profilePhase}: ${key}`, entry);
  };
  const timed =
    (target: Queryable): Queryable['query'] =>
    async (sql, params) => {
      const started = performance.now();
      try {
        return await target.query(sql, params);
      } finally {
        add(sql.replace(/\s+/g, ' ').trim().slice(0, 70), started);
      }
    };
  return {
    ...store,
    query: timed(store),
    transaction: (work) => {
      const started = performance.now();
      return store
        .transaction((tx) => work({ query: timed(tx) }))
        .finally(() => add('(whole transaction, with begin and commit)', started));
    },
  };
}

// ---- submission ---------------------------------------------------------------------

interface Owner {
  gatewayId: string;
  userId: string;
}

async function seedOwner(store: Store): Promise<Owner> {
  const gatewayId = 'bench';
  await ensureGateway(store, { id: gatewayId, name: 'Benchmark gateway' });
  const user = await createUser(store, { gatewayId, name: 'bench', role: 'user' });
  return { gatewayId, userId: user.id };
}

/**
 * How the bench's workers register (`--register`): `all` (the default, as main.ts does
 * with the default configuration: every kind, every resource), `none` (unregistered: the
 * claim finds no row, as before issue 14), or a comma-separated resource list (the claim
 * then checks each task's experiment; the bench's experiments are on `local`).
 */
function membershipOf(store: Store): WorkerOptions['membership'] {
  if (flags.register === 'none') return undefined;
  const resources = flags.register === 'all' ? null : flags.register!.split(',');
  return {
    port: createStoreMembership(store),
    capabilities: { ...allCapabilities, resources },
    heartbeatMs: defaultConfig().worker.heartbeatMs,
    version: 'bench',
    host: 'bench',
    pid: process.pid,
  };
}

/** Inserts `count` queued experiments and their tasks in the caller's transaction; returns their ids. */
async function submitExperiments(
  tx: Queryable,
  owner: Owner,
  count: number,
  plan: readonly TaskPlan[],
): Promise<string[]> {
  // $1 gateway, $2 owner, $3 how many
  const rows = await tx.query<{ id: string }>(
    `insert into experiments (gateway_id, owner_id, name, application, application_version, resource,
       inputs, settings, state, launched_at)
     select $1, $2, 'bench ' || n, 'bench', '1', 'local', '{}', '{}', 'queued', now()
     from generate_series(1, $3::int) as n
     returning id`,
    [owner.gatewayId, owner.userId, count],
  );
  for (const row of rows) await createTasks(tx, row.id, plan);
  return rows.map((row) => row.id);
}

/** Submits `total` experiments in transactions of `submitBatch`, each made durable; returns the seconds it took. */
async function submitAll(store: Store, owner: Owner, total: number, plan: readonly TaskPlan[]): Promise<number> {
  const started = performance.now();
  for (let done = 0; done < total; done += submitBatch) {
    const count = Math.min(submitBatch, total - done);
    await store.transaction((tx) => submitExperiments(tx, owner, count, plan));
  }
  return (performance.now() - started) / 1000;
}

// ---- workloads ----------------------------------------------------------------------

interface Measurement {
  submitPerSecond?: number;
  tasksPerSecond?: number;
  workflowsPerSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  exchanges?: number;
  /** CPU time per experiment (workflow) during the drain: PostgreSQL's backends, and this process. */
  databaseCpuMs?: number;
  workerCpuMs?: number;
}

function noopHandlers(onCall?: () => void): Partial<Record<TaskKind, TaskHandler>> {
  const handler: TaskHandler = async () => {
    onCall?.();
    return {};
  };
  return Object.fromEntries(taskKinds.map((kind) => [kind, handler]));
}

/** Submits `experiments` experiments of `plan`, then drains them with one worker. */
async function throughput(
  store: Store,
  plan: readonly TaskPlan[],
  experiments: number,
  concurrency: number,
  pipeline: Pipeline,
  database: string | undefined,
  dispatchOf: DispatchFactory,
): Promise<Measurement> {
  const owner = await seedOwner(store);
  profilePhase = 'submit';
  const submitSeconds = await submitAll(store, owner, experiments, plan);
  // Statistics as autovacuum keeps them on a live database; on a never-analyzed table the
  // planner sorts every ready task to claim a few (see bench/README.md).
  if (options.analyze) await store.query('analyze');
  profilePhase = 'drain';
  const totalTasks = experiments * plan.length;
  let reported = 0;
  let exchanges = 0;
  let finished!: () => void;
  const drained = new Promise<void>((resolve) => (finished = resolve));
  const dispatches = await Promise.all(Array.from({ length: options.workers }, () => dispatchOf(concurrency)));
  const workers = dispatches.map(
    ({ dispatch }) =>
      new Worker({
        ...defaultConfig().worker,
        membership: membershipOf(store),
        dispatch,
        handlers: noopHandlers(),
        logger,
        concurrency,
        exchangesInFlight: pipeline.exchanges,
        splitClaims: pipeline.split,
        onExchange: (count) => {
          exchanges += 1;
          reported += count;
          if (reported >= totalTasks) finished();
        },
      }),
  );
  const cpuBefore = database ? await backendCpuMs(database) : undefined;
  const workerCpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(workers.map((worker) => worker.start()));
  await withTimeout(drained, 600_000, `drain of ${totalTasks} tasks`);
  const drainSeconds = (performance.now() - started) / 1000;
  const workerCpu = process.cpuUsage(workerCpuBefore);
  const databaseCpu = cpuBefore && database ? cpuSpent(cpuBefore, await backendCpuMs(database)) : undefined;
  profilePhase = 'after';
  await Promise.all(workers.map((worker) => worker.stop()));
  await Promise.all(dispatches.map(({ close }) => close()));
  await verify(store, experiments, plan.length);
  return {
    submitPerSecond: experiments / submitSeconds,
    tasksPerSecond: totalTasks / drainSeconds,
    workflowsPerSecond: experiments / drainSeconds,
    exchanges,
    databaseCpuMs: databaseCpu === undefined ? undefined : databaseCpu / experiments,
    workerCpuMs: (workerCpu.user + workerCpu.system) / 1000 / experiments,
  };
}

/** Submit-to-start latency at idle: one single-task experiment at a time. */
async function latency(
  store: Store,
  samples: number,
  concurrency: number,
  pipeline: Pipeline,
  dispatchOf: DispatchFactory,
): Promise<Measurement> {
  const owner = await seedOwner(store);
  const warmup = Math.min(20, samples);
  let onStart: (() => void) | undefined;
  let onReported: (() => void) | undefined;
  const { dispatch, close } = await dispatchOf(concurrency);
  const worker = new Worker({
    ...defaultConfig().worker,
    membership: membershipOf(store),
    dispatch,
    handlers: noopHandlers(() => onStart?.()),
    logger,
    concurrency,
    exchangesInFlight: pipeline.exchanges,
    splitClaims: pipeline.split,
    onExchange: (count) => {
      if (count > 0) onReported?.();
    },
  });
  await worker.start();
  profilePhase = 'latency';
  const timings: number[] = [];
  for (let sample = 0; sample < warmup + samples; sample++) {
    let startedAt = 0;
    const started = new Promise<void>((resolve) => {
      onStart = () => {
        startedAt = performance.now();
        resolve();
      };
    });
    const reported = new Promise<void>((resolve) => (onReported = resolve));
    await store.transaction((tx) => submitExperiments(tx, owner, 1, singleTask));
    const committedAt = performance.now();
    await withTimeout(started, 10_000, 'a task start');
    // The notification may overtake the commit acknowledgement; that counts as zero.
    if (sample >= warmup) timings.push(Math.max(0, startedAt - committedAt));
    // Idle means the completion is stored too before the next submission.
    await withTimeout(reported, 10_000, 'a task completion');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  profilePhase = 'after';
  await worker.stop();
  await close();
  await verify(store, warmup + samples, 1);
  timings.sort((a, b) => a - b);
  return { p50Ms: percentile(timings, 0.5), p99Ms: percentile(timings, 0.99) };
}

/**
 * The peer: graphile-worker 0.17 with its defaults on a fresh database of the same server.
 * `workflows` jobs of step 1 are queued (timed apart, like our submission); each step's
 * handler adds the next step until the fifth, so a workflow is a chain of five jobs, as
 * ours is. The drain ends when the last fifth step completes.
 */
async function graphileChain(workflows: number, concurrency: number): Promise<Measurement> {
  const database = await createBenchDatabase();
  const steps = fiveSteps.length;
  try {
    const utils = await makeWorkerUtils({ connectionString: database.url, logger: graphileLogger });
    try {
      await utils.migrate();
      const submitStarted = performance.now();
      for (let done = 0; done < workflows; done += submitBatch) {
        const count = Math.min(submitBatch, workflows - done);
        await utils.addJobs(Array.from({ length: count }, () => ({ identifier: 'step', payload: { step: 1 } })));
      }
      const submitSeconds = (performance.now() - submitStarted) / 1000;
      let finished!: () => void;
      const drained = new Promise<void>((resolve) => (finished = resolve));
      let lastStepsDone = 0;
      const step: Task = async (payload, helpers) => {
        const { step: number } = payload as { step: number };
        if (number < steps) await helpers.addJob('step', { step: number + 1 });
      };
      const cpuBefore = await backendCpuMs(database.name);
      const workerCpuBefore = process.cpuUsage();
      const started = performance.now();
      const runner = await runGraphileWorker({
        connectionString: database.url,
        concurrency,
        noHandleSignals: true,
        logger: graphileLogger,
        taskList: { step },
      });
      runner.events.on('job:success', ({ job }) => {
        if ((job.payload as { step: number }).step === steps && ++lastStepsDone === workflows) finished();
      });
      await withTimeout(drained, 600_000, `graphile-worker drain of ${workflows * steps} jobs`);
      const drainSeconds = (performance.now() - started) / 1000;
      const workerCpu = process.cpuUsage(workerCpuBefore);
      const databaseCpu = cpuSpent(cpuBefore, await backendCpuMs(database.name));
      await runner.stop();
      const left = await utils.withPgClient((client) =>
        client.query('select count(*)::int as n from graphile_worker.jobs'),
      );
      if (left.rows[0].n !== 0) throw new Error(`graphile-worker verification failed: ${left.rows[0].n} jobs left`);
      return {
        submitPerSecond: workflows / submitSeconds,
        tasksPerSecond: (workflows * steps) / drainSeconds,
        workflowsPerSecond: workflows / drainSeconds,
        databaseCpuMs: databaseCpu / workflows,
        workerCpuMs: (workerCpu.user + workerCpu.system) / 1000 / workflows,
      };
    } finally {
      await utils.release();
    }
  } finally {
    await database.drop();
  }
}

const graphileLogger = new GraphileLogger(() => () => {});

/** Checks the run stored what it should: every experiment completed, every event, no gaps. */
async function verify(store: Store, experiments: number, tasksEach: number): Promise<void> {
  const [row] = await store.query<{ completed: number; tasks: number; events: number; gapped: number }>(
    `select
       (select count(*) from experiments where state = 'completed')::int as completed,
       (select count(*) from tasks where state = 'completed')::int as tasks,
       (select count(*) from events)::int as events,
       (select count(*) from experiments e
         where e.last_event_seq <> (select count(*) from events v where v.experiment_id = e.id)
            or e.last_event_seq <> (select coalesce(max(seq), 0) from events v where v.experiment_id = e.id))::int as gapped`,
  );
  // Per experiment: each task ready, running, completed; the experiment executing, completed.
  const expectedEvents = experiments * (3 * tasksEach + 2);
  if (
    row.completed !== experiments ||
    row.tasks !== experiments * tasksEach ||
    row.events !== expectedEvents ||
    row.gapped !== 0
  ) {
    throw new Error(
      `verification failed: ${row.completed}/${experiments} experiments completed, ${row.tasks}/${experiments * tasksEach} tasks, ` +
        `${row.events}/${expectedEvents} events, ${row.gapped} experiments with gaps`,
    );
  }
}

// ---- driver -------------------------------------------------------------------------

interface Case {
  /** Ours, or the peer (PostgreSQL, chain workload only). */
  system: 'drover' | 'graphile-worker';
  store: StoreKind;
  /** The dispatch adapter (ours only). */
  adapter: AdapterKind;
  workload: WorkloadKind;
  concurrency: number;
  /** How the worker pipelines its exchanges; unused by the peer. */
  inFlight: Pipeline;
}

/** A worker's dispatch adapter, and how to close it. */
type DispatchFactory = (concurrency: number) => Promise<{ dispatch: Dispatch; close(): Promise<void> }>;

/**
 * The adapters over `store`. The RabbitMQ queue gets queues of its own (deleted by the
 * returned `dispose`) and the outbox switched on; each worker has a connection of its own
 * and relays, as `drover worker` does.
 */
async function dispatchFactory(
  store: Store,
  adapter: AdapterKind,
): Promise<{ dispatchOf: DispatchFactory; dispose(): Promise<void> }> {
  if (adapter === 'postgres') {
    return {
      dispatchOf: async () => ({ dispatch: createPostgresQueue(store), close: async () => {} }),
      dispose: async () => {},
    };
  }
  await setDispatchOutbox(store, true);
  const prefix = `drover-bench-${randomBytes(6).toString('hex')}`;
  return {
    dispatchOf: async (concurrency) => {
      const queue = await openRabbitmqQueue(store, {
        url: rabbitmqUrl,
        queuePrefix: prefix,
        kinds: taskKinds,
        prefetch: concurrency,
        logger,
      });
      return { dispatch: queue, close: () => queue.close() };
    },
    async dispose() {
      const connection = await amqp.connect(rabbitmqUrl);
      const channel = await connection.createChannel();
      const names = rabbitmqQueueNames(prefix);
      for (const name of [...taskKinds.map(names.task), names.dead]) await channel.deleteQueue(name);
      await connection.close();
    },
  };
}

/** The worker's exchangesInFlight (1: each exchange waits for the one before) and splitClaims. */
interface Pipeline {
  exchanges: number;
  split: boolean;
}

const storeLabels: Record<StoreKind, string> = {
  pg: 'PostgreSQL',
  embedded: 'embedded server',
};

async function runCase(benchCase: Case, totals?: Profile): Promise<Measurement> {
  if (benchCase.system === 'graphile-worker') return graphileChain(options.workflows, benchCase.concurrency);
  profilePhase = 'setup';
  const opened = await openBenchStore(benchCase.store);
  const store = totals ? profiled(opened.store, totals) : opened.store;
  const { dispatchOf, dispose } = await dispatchFactory(store, benchCase.adapter);
  try {
    switch (benchCase.workload) {
      case 'empty':
        return await throughput(
          store,
          singleTask,
          options.experiments,
          benchCase.concurrency,
          benchCase.inFlight,
          opened.database,
          dispatchOf,
        );
      case 'chain':
        return await throughput(
          store,
          fiveSteps,
          options.workflows,
          benchCase.concurrency,
          benchCase.inFlight,
          opened.database,
          dispatchOf,
        );
      case 'latency':
        return await latency(store, options.samples, benchCase.concurrency, benchCase.inFlight, dispatchOf);
    }
  } finally {
    await dispose();
    await opened.dispose();
  }
}

function describeCase(benchCase: Case): string {
  return benchCase.system === 'graphile-worker'
    ? 'graphile-worker 0.17 (PostgreSQL, its defaults)'
    : `${storeLabels[benchCase.store]}, ${benchCase.adapter === 'rabbitmq' ? 'RabbitMQ queue, ' : ''}${benchCase.inFlight.exchanges} exchange${benchCase.inFlight.exchanges > 1 ? 's' : ''} in flight` +
        (benchCase.inFlight.split ? ', claims split' : '');
}

async function main(): Promise<void> {
  // Cases that compare with each other (same store, workload and concurrency) form a group
  // whose runs alternate, so that load from elsewhere falls on all of them alike.
  const groups: Case[][] = [];
  for (const store of options.stores) {
    for (const workload of options.workloads) {
      const concurrencies = workload === 'latency' ? [defaultWorkerConcurrency] : options.concurrencies;
      for (const concurrency of concurrencies) {
        const group: Case[] = options.adapters.flatMap((adapter) =>
          options.inFlight.map((inFlight): Case => ({
            system: 'drover',
            store,
            adapter,
            workload,
            concurrency,
            inFlight,
          })),
        );
        if (options.peer && store === 'pg' && workload === 'chain') {
          group.push({
            system: 'graphile-worker',
            store,
            adapter: 'postgres',
            workload,
            concurrency,
            inFlight: { exchanges: 0, split: false },
          });
        }
        groups.push(group);
      }
    }
  }
  console.error(
    `drover dispatch bench: ${options.runs} run(s) each; empty ${options.experiments} experiments, ` +
      `chain ${options.workflows} workflows, latency ${options.samples} samples`,
  );
  const lines = [
    '| system | workload | concurrency | submit, experiments/s | tasks/s | workflows/s | p50 ms | p99 ms | CPU ms per experiment, database + worker |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const ratios: string[] = [];
  for (const group of groups) {
    const measurements = group.map((): Measurement[] => []);
    const totals = group.map((): Profile | undefined => (options.profile ? new Map() : undefined));
    for (let run = 0; run < options.runs; run++) {
      for (const [index, benchCase] of group.entries()) {
        const measurement = await runCase(benchCase, totals[index]);
        measurements[index]!.push(measurement);
        console.error(
          `  ${describeCase(benchCase)}, ${benchCase.workload} c=${benchCase.concurrency} run ${run + 1}: ${JSON.stringify(rounded(measurement))}`,
        );
      }
    }
    const medians = group.map(
      (_, index) => (key: keyof Measurement) =>
        medianOf(measurements[index]!.map((item) => item[key]).filter((value): value is number => value !== undefined)),
    );
    for (const [index, benchCase] of group.entries()) {
      const median = medians[index]!;
      const isChain = benchCase.workload === 'chain';
      lines.push(
        `| ${describeCase(benchCase)} | ${describeWorkload(benchCase.workload)} | ${benchCase.concurrency} | ` +
          `${format(median('submitPerSecond'))} | ${format(median('tasksPerSecond'))} | ${isChain ? format(median('workflowsPerSecond')) : ''} | ` +
          `${format(median('p50Ms'), 2)} | ${format(median('p99Ms'), 2)} | ${describeCpu(median('databaseCpuMs'), median('workerCpuMs'))} |`,
      );
      if (totals[index]) printProfile(totals[index], options.runs);
    }
    const peer = group.findIndex((benchCase) => benchCase.system === 'graphile-worker');
    if (peer >= 0) {
      const theirs = medians[peer]!('workflowsPerSecond')!;
      for (const [index, benchCase] of group.entries()) {
        if (index === peer) continue;
        const ours = medians[index]!('workflowsPerSecond')!;
        ratios.push(
          `${describeCase(benchCase)}, c=${benchCase.concurrency}: ${format(ours)} workflows/s, ` +
            `graphile-worker ${format(theirs)}: ${(ours / theirs).toFixed(2)}x`,
        );
      }
    }
  }
  console.log(lines.join('\n'));
  if (ratios.length > 0) console.log(`\n${ratios.join('\n')}`);
}

function describeCpu(database: number | undefined, worker: number | undefined): string {
  if (database === undefined || worker === undefined) return '';
  return `${format(database, 2)} + ${format(worker, 2)}`;
}

function describeWorkload(workload: WorkloadKind): string {
  switch (workload) {
    case 'empty':
      return `${options.experiments} single-task experiments`;
    case 'chain':
      return `${options.workflows} five-step workflows`;
    case 'latency':
      return `submit to start, ${options.samples} samples`;
  }
}

function printProfile(totals: Profile, runs: number): void {
  const entries = [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms);
  console.error('    statement time per run (ms), calls per run, mean ms:');
  for (const [key, entry] of entries.slice(0, 25)) {
    console.error(
      `    ${(entry.ms / runs).toFixed(0).padStart(7)} ${String(Math.round(entry.count / runs)).padStart(7)} ${(entry.ms / entry.count).toFixed(3).padStart(7)}  ${key}`,
    );
  }
}

// ---- helpers ------------------------------------------------------------------------

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

function medianOf(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function format(value: number | undefined, digits = 0): string {
  if (value === undefined || Number.isNaN(value)) return '';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function rounded(measurement: Measurement): Record<string, number> {
  return Object.fromEntries(
    Object.entries(measurement).map(([key, value]) => [key, Math.round((value as number) * 100) / 100]),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function pick<T>(choices: Record<string, T>, value: string, flag: string): T {
  if (!(value in choices)) fail(`${flag} must be one of ${Object.keys(choices).join(', ')}`);
  return choices[value];
}

function positive(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) fail(`${flag} must be a positive integer, not ${JSON.stringify(value)}`);
  return number;
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
