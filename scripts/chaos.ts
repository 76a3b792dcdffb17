/**
 * The chaos run (issue 14): hundreds of experiments on `local` and the test cluster's Slurm
 * and PBS resources, through Drover as separate processes (2 API, 3 worker, 2 controller) on
 * a PostgreSQL server of its own, once on each dispatch adapter (the Postgres queue, then
 * RabbitMQ on a broker node of its own), while Drover's processes are SIGKILLed at random and
 * started again, PostgreSQL, RabbitMQ (on its run) and slurmctld are restarted once each, and
 * sbatch/qsub are slowed on the login node now and then. Afterwards it checks, and prints,
 * what an operator must be able to trust:
 *
 * - every experiment ended, in the state its inputs and the run's cancels call for;
 * - the cluster ran exactly one job per submitted task (sacct), the one Drover recorded;
 * - every experiment's events are numbered 1..n without a gap;
 * - no task is left open;
 * - a client following each experiment's event stream, on either API process (resuming with
 *   Last-Event-ID on another when its own is killed), saw every event, in order, and the end;
 * - no Drover process ended on its own (the run restarts one that does, as a supervisor
 *   would, but a crash fails the run).
 *
 *   npm run chaos -- [--experiments 500] [--dispatch both|postgres|rabbitmq] [--seed 1]
 *                    [--json FILE] [--spare-slurmctld]
 *
 * The experiments are created in waves over at least a minute, and the restarts come within
 * the first half minute, so that every one of them strikes while experiments are in flight;
 * a run in which one did not happen fails.
 *
 * `--spare-slurmctld` leaves slurmctld alone, for a machine whose test cluster others use at
 * the same time (its restart fails their commands for a few seconds); CI never passes it.
 *
 * Exits 1 when a check fails. Needs root, the test cluster (scripts/start-slurm.sh, which it
 * runs) and a built CLI (`npm run build:server`, which it runs). Only loopback addresses are
 * touched. The PostgreSQL server is an embedded one in a temporary folder and the RabbitMQ
 * node a second node of the machine's RabbitMQ installation (scripts/start-rabbitmq.sh installs
 * it) with its own port and folder, so restarting them disturbs nothing else on the machine.
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { removeCluster, startEmbeddedServer, type EmbeddedServer } from '../src/store/embedded-server.ts';
import { adminToken, call, projectRoot } from '../test/harness.ts';
import { freePort, startPrivateSshd, stopSshd } from '../test/private-sshd.ts';
import { testClusterSsh } from '../test/test-cluster.ts';

const run = promisify(execFile);
const { values: flags } = parseArgs({
  options: {
    experiments: { type: 'string', default: '500' },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    json: { type: 'string' },
    dispatch: { type: 'string', default: 'both' },
    'spare-slurmctld': { type: 'boolean', default: false },
  },
});
const total = Number(flags.experiments);
if (!Number.isInteger(total) || total < 10) throw new Error('--experiments must be an integer of at least 10');
const adapters = ({ both: ['postgres', 'rabbitmq'], postgres: ['postgres'], rabbitmq: ['rabbitmq'] } as const)[
  flags.dispatch as 'both'
];
if (!adapters) throw new Error('--dispatch must be both, postgres or rabbitmq');
type Adapter = (typeof adapters)[number];

/** A small deterministic random source, so a failing run can be replayed with its --seed (each adapter's run starts it anew). */
let state = 1;
const seedRandom = () => (state = Number(flags.seed) >>> 0 || 1);
function random(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

const scratch = '/home/hpcuser/scratch';
const shimDirectory = '/opt/drover-test-cluster/submit-delay';
const clusterResources = ['chaos-slurm', 'chaos-pbs'] as const;
/** When the current adapter's run began (the log's and the summary's seconds). */
let started = performance.now();
const elapsed = () => ((performance.now() - started) / 1000).toFixed(1);
const log = (message: string) => console.error(`[chaos ${elapsed()} s] ${message}`);

/** The catalogue of the run: both cluster resources through the private sshd, and one program. */
function catalogue(sshPort: number, hostKey: string): string {
  const resource = (name: string, kind: string) => ({
    name,
    kind,
    config: {
      scratchDir: scratch,
      pollIntervalSeconds: 2,
      ssh: { ...testClusterSsh, port: sshPort, hostKey, knownHostsPath: undefined },
      queues: [{ name: 'debug', maxWalltimeMinutes: 10, maxCores: 8, maxNodes: 1 }],
    },
  });
  const command = ['bash', '-c', 'sleep "$1"; echo "$2 $3" > out.txt; exit "$2"', 'chaos-step'];
  const deployment = (queue: string) => ({
    command: [...command, '{{seconds}}', '{{exit_code}}', '{{marker}}'],
    queue,
    walltimeMinutes: 5,
  });
  return JSON.stringify({
    resources: [resource('chaos-slurm', 'slurm'), resource('chaos-pbs', 'pbs')],
    applications: [
      {
        name: 'chaos-step',
        version: '1',
        title: 'Sleeps, writes a line and exits with the code asked',
        inputs: [
          { name: 'seconds', type: 'integer', minimum: 0, maximum: 60 },
          { name: 'exit_code', type: 'integer', minimum: 0, maximum: 3 },
          { name: 'marker', type: 'string', default: '' },
        ],
        outputs: ['out.txt'],
        deployments: {
          local: deployment('short'),
          'chaos-slurm': deployment('debug'),
          'chaos-pbs': deployment('debug'),
        },
      },
    ],
  });
}

/** One planned experiment and what became of it. */
interface Planned {
  index: number;
  name: string;
  resource: string;
  inputs: { seconds: number; exit_code: number; marker: string };
  id?: string;
  /** The run asked to cancel it and the API accepted (202). */
  canceled?: boolean;
}

function plan(): Planned[] {
  return Array.from({ length: total }, (_, index) => {
    // One in 20 is sure to be a slow submit on the cluster, so even a short run has some.
    const sureSlow = index % 20 === 3;
    const resource = sureSlow
      ? pick(clusterResources)
      : pick(['local', 'local', 'chaos-slurm', 'chaos-slurm', 'chaos-pbs']);
    const slow = sureSlow || (resource !== 'local' && random() < 0.05);
    return {
      index,
      name: `chaos-${flags.seed}-${index}`,
      resource,
      inputs: {
        seconds: Math.floor(random() * 6),
        exit_code: random() < 0.15 ? 2 : 0,
        // The submit-delay shims of scripts/start-slurm.sh sleep on a job script that holds this.
        marker: slow ? 'drover-test-delay-submit=6' : '',
      },
    };
  });
}

/** A Drover process of the run, restartable. */
interface Role {
  role: 'api' | 'worker' | 'controller';
  child?: ChildProcess;
  url?: string;
  /** Its restart is under way. */
  restarting?: boolean;
  /** The run SIGKILLed its current process (any other end is the process's own). */
  killed?: boolean;
}

/** Whether the role's process runs (a killed child keeps `exitCode` null: its `signalCode` is set). */
function isUp(entry: Role): boolean {
  return entry.child !== undefined && entry.child.exitCode === null && entry.child.signalCode === null;
}

/** A RabbitMQ node of the run's own, from the machine's installation, restartable. */
interface BrokerNode {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A second RabbitMQ node beside the machine's own: its own node name, ports on loopback and
 * folder, the programs run directly (Debian's /usr/sbin wrappers switch to user rabbitmq and drop
 * the environment), as root with the installation's Erlang cookie copied into its HOME.
 */
async function brokerNode(folder: string): Promise<BrokerNode> {
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'enabled_plugins'), '[].\n');
  await writeFile(join(folder, '.erlang.cookie'), await readFile('/var/lib/rabbitmq/.erlang.cookie'), { mode: 0o400 });
  const [port, distPort] = [await freePort(), await freePort()];
  const node = `drover-chaos-${process.pid}@localhost`;
  const env = {
    ...process.env,
    HOME: folder,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(folder, 'mnesia'),
    RABBITMQ_LOG_BASE: join(folder, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(folder, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(folder, 'rabbitmq'),
    RABBITMQ_PID_FILE: join(folder, 'pid'),
  };
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  return {
    url,
    async start() {
      await run('/usr/lib/rabbitmq/bin/rabbitmq-server', ['-detached'], { env, cwd: folder });
      for (let attempt = 0; ; attempt++) {
        const connection = await amqp.connect(url).catch((error: Error) => error);
        if (!(connection instanceof Error)) return connection.close();
        if (attempt >= 120) throw new Error(`the run's RabbitMQ node did not answer on ${url}: ${connection.message}`);
        await sleep(500);
      }
    },
    async stop() {
      await run('/usr/lib/rabbitmq/bin/rabbitmqctl', ['-n', node, 'stop'], { env, cwd: folder });
    },
  };
}

async function main(adapter: Adapter): Promise<{ summary: object; failures: string[] }> {
  seedRandom();
  started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), 'drover-chaos-'));
  const postgresDir = join(folder, 'postgres');
  const postgres: { server?: EmbeddedServer } = {};
  const broker = adapter === 'rabbitmq' ? await brokerNode(join(folder, 'rabbitmq')) : undefined;
  let brokerUp = false;
  let sshd: ChildProcess | undefined;
  const roles: Role[] = [];
  const runKeys = new Set<string>();
  let service: Awaited<ReturnType<typeof import('../test/service.ts').startDroverService>> | undefined;
  try {
    await mkdir(postgresDir, { mode: 0o700 });
    postgres.server = await startEmbeddedServer({ dataDir: postgresDir });
    // Seven Drover processes, and the connections of killed ones until the server notices.
    const admin = new pg.Client({ connectionString: postgres.server.urlOf('postgres') });
    await admin.connect();
    await admin.query(`alter system set max_connections = 500`);
    await admin.end();
    await postgres.server.stop();
    postgres.server = await startEmbeddedServer({ dataDir: postgresDir });
    // test/service.ts reads the server from DATABASE_URL when it is loaded.
    process.env.DATABASE_URL = postgres.server.urlOf('postgres');
    const { startDroverService } = await import('../test/service.ts');
    if (broker) {
      await broker.start();
      brokerUp = true;
      log(`RabbitMQ node up at ${broker.url}`);
    }
    const sshPort = await freePort();
    const startLoginNode = () =>
      startPrivateSshd(sshPort, ['-o', `SetEnv=PATH=${shimDirectory}:/usr/local/bin:/usr/bin:/bin`]);
    sshd = await startLoginNode();
    const [, hostKey] = /^\S+ (\S+ \S+)/.exec(await readFile(testClusterSsh.knownHostsPath, 'utf8'))!;
    const cataloguePath = join(folder, 'chaos.yaml');
    await writeFile(cataloguePath, catalogue(sshPort, hostKey));
    service = await startDroverService({
      DROVER_CATALOGUE: `${join(projectRoot, 'catalogue/demo.yaml')},${cataloguePath}`,
      DROVER_EVENT_STREAMS_PER_USER: String(total * 2),
      DROVER_WRITES_PER_WINDOW: String(total * 20),
      // A deployment's lease (30 s; the test services' is 2 s) and a 1 s heartbeat: a killed
      // worker's tasks must come back because it is lost (3 missed heartbeats), as issue 14
      // asks, not because a short lease ran out.
      DROVER_LEASE_MS: '30000',
      DROVER_WORKER_HEARTBEAT_MS: '1000',
      ...(broker
        ? { DROVER_DISPATCH: 'rabbitmq', DROVER_RABBITMQ_URL: broker.url, DROVER_RABBITMQ_QUEUE_PREFIX: 'drover-chaos' }
        : {}),
    });
    const drover = service;
    roles.push({ role: 'api', child: drover.children[0], url: drover.url });

    let chaosOn = true;
    const selfExits: string[] = [];
    const startRole = async (entry: Role) => {
      const role = await drover.startRole(entry.role, entry.role === 'api' ? { args: ['--port', '0'] } : {});
      entry.child = role.child;
      entry.killed = false;
      if (entry.role === 'api') entry.url = /API:\s+(http:\/\/\S+)\/api\/v1/.exec(role.output())![1];
      // As a supervisor would (systemd's Restart=always, a container's restart policy): a
      // process that ends on its own is noted, with the end of what it wrote, and started again.
      role.child.once('exit', (code, signal) => {
        if (entry.killed || !chaosOn) return;
        const said = role.output().trim().split('\n').slice(-30).join(' | ').slice(-4000);
        selfExits.push(`${entry.role} ${role.child.pid} exited with ${code ?? signal}: ${said}`);
        log(`${entry.role} ${role.child.pid} exited on its own (${code ?? signal}): ${said}`);
        entry.url = undefined;
        restart(entry);
      });
    };
    /** Starts `entry` again a second later, in the background, until it stays up (one started while PostgreSQL restarts exits at once). */
    const restart = (entry: Role) => {
      entry.restarting = true;
      void (async () => {
        for (let attempt = 1; chaosOn; attempt++) {
          await sleep(1000);
          const error = await startRole(entry).then(
            () => null,
            (failure: Error) => failure,
          );
          if (!error) break;
          log(`restarting ${entry.role} failed (attempt ${attempt}): ${error.message.slice(0, 500)}`);
        }
        entry.restarting = false;
      })();
    };
    const more = (['api', 'worker', 'worker', 'worker', 'controller', 'controller'] as const).map((role) => ({ role }));
    roles.push(...more);
    await Promise.all(more.map(startRole));
    log(`2 API, 3 worker and 2 controller processes are up, dispatching on ${adapter}`);
    const liveApis = () => roles.filter((entry) => entry.role === 'api' && entry.url && isUp(entry));
    /** A call to any live API process, tried again on another when the one asked dies mid-call. */
    const apiCall = async (method: string, path: string, body?: unknown, attempts = 60) => {
      for (let attempt = 1; ; attempt++) {
        const api = pick(liveApis());
        try {
          if (!api) throw new Error('no API process is up');
          return await call(api.url!, method, path, body, adminToken);
        } catch (error) {
          if (attempt >= attempts) throw error;
          await sleep(500);
        }
      }
    };

    // The event streams: one client per experiment, on an API process picked at random.
    const seen = new Map<string, { seqs: number[]; ended: boolean; reconnects: number }>();
    const follow = async (id: string) => {
      const record = { seqs: [] as number[], ended: false, reconnects: 0 };
      seen.set(id, record);
      while (!record.ended) {
        const api = pick(liveApis());
        if (!api) {
          await sleep(200);
          continue;
        }
        const last = record.seqs.at(-1);
        try {
          const response = await fetch(`${api.url}/api/v1/experiments/${id}/events`, {
            headers: {
              accept: 'text/event-stream',
              authorization: `Bearer ${adminToken}`,
              ...(last !== undefined ? { 'last-event-id': String(last) } : {}),
            },
          });
          if (response.status !== 200) throw new Error(`stream answered ${response.status}`);
          const decoder = new TextDecoder();
          let buffer = '';
          for await (const chunk of response.body!) {
            buffer += decoder.decode(chunk as Uint8Array, { stream: true });
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const message = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const type = /^event: (.*)$/m.exec(message)?.[1];
              const seq = /^id: (\d+)$/m.exec(message)?.[1];
              if (type === 'end') record.ended = true;
              else if (seq !== undefined && type !== 'progress') record.seqs.push(Number(seq));
            }
          }
        } catch {
          // The API process died (or refused): resume on another with Last-Event-ID.
        }
        if (!record.ended) {
          record.reconnects += 1;
          await sleep(200);
        }
      }
    };

    const planned = plan();
    let unavailable = 0;
    const streams: Array<Promise<void>> = [];
    let createRetries = 0;
    let createsReplayed = 0;
    // Each create carries its own Idempotency-Key and is sent again, on any live API process,
    // until one answers 201: a create whose API process died after storing it, or whose answer
    // was lost, gets the stored answer, never a second experiment (checked below by count).
    const create = async (item: Planned) => {
      const key = randomUUID();
      for (;;) {
        const api = pick(liveApis());
        const response = api
          ? await call(
              api.url!,
              'POST',
              '/api/v1/experiments',
              { name: item.name, application: 'chaos-step', resource: item.resource, inputs: item.inputs },
              adminToken,
              { 'idempotency-key': key },
            ).catch(() => null)
          : null;
        if (response?.status === 201) {
          item.id = response.body.id;
          runKeys.add(keyOf(item.id!));
          if (response.headers.get('idempotent-replayed') === 'true') createsReplayed += 1;
          break;
        }
        // 503: the store is restarting (counted); anything else is worth reading.
        if (response?.status === 503) unavailable += 1;
        else if (response) log(`creating ${item.name} answered ${response.status}: ${JSON.stringify(response.body)}`);
        createRetries += 1;
        await sleep(500);
      }
      streams.push(follow(item.id!));
    };

    // The chaos: a SIGKILL every 2-4 s; PostgreSQL, RabbitMQ (on its run) and slurmctld
    // restarted once each, early, while the experiments are still being created.
    const figures = {
      kills: { api: 0, worker: 0, controller: 0 },
      postgresRestarts: 0,
      rabbitmqRestarts: 0,
      slurmctldRestarts: 0,
    };
    const chaos = (async () => {
      let step = 0;
      while (chaosOn) {
        await sleep(2000 + random() * 2000);
        if (!chaosOn) break;
        step += 1;
        if (step === 3) {
          log('restarting PostgreSQL');
          await postgres.server!.stop();
          await sleep(1000);
          postgres.server = await startEmbeddedServer({ dataDir: postgresDir });
          figures.postgresRestarts += 1;
          continue;
        }
        if (step === 5 && broker) {
          log('restarting RabbitMQ');
          brokerUp = false;
          await broker.stop();
          await sleep(1000);
          await broker.start();
          brokerUp = true;
          figures.rabbitmqRestarts += 1;
          continue;
        }
        if (step === 7 && !flags['spare-slurmctld']) {
          log('restarting slurmctld (SIGTERM)');
          execFileSync('pkill', ['-TERM', '-x', 'slurmctld']);
          for (let wait = 0; wait < 100 && isRunning('slurmctld'); wait++) await sleep(100);
          await sleep(2000);
          await run('bash', [join(projectRoot, 'scripts/start-slurm.sh')]);
          figures.slurmctldRestarts += 1;
          continue;
        }
        // Keep one API process up, so that the run's own calls always have somewhere to go.
        const victims = roles.filter((entry) => isUp(entry) && (entry.role !== 'api' || liveApis().length > 1));
        const victim = pick(victims);
        if (!victim) continue;
        log(`SIGKILL ${victim.role} ${victim.child!.pid}`);
        victim.killed = true;
        victim.child!.kill('SIGKILL');
        figures.kills[victim.role] += 1;
        victim.url = undefined;
        restart(victim); // the chaos goes on meanwhile
      }
    })();

    // Create in waves over a minute at least, cancel some of them a little later.
    log(`creating ${total} experiments (seed ${flags.seed})`);
    const waves = Math.ceil(total / 25);
    for (let start = 0; start < total; start += 25) {
      const waveStarted = performance.now();
      await Promise.all(planned.slice(start, start + 25).map(create));
      for (const item of planned.slice(start, start + 25)) {
        if (random() >= 0.05) continue;
        const response = await apiCall('POST', `/api/v1/experiments/${item.id}/cancel`);
        // 409: it had already ended (its own end stands; a cancel asked again answers 202).
        item.canceled = response.status === 202 || response.status === 409;
      }
      await sleep(Math.max(500, 60_000 / waves - (performance.now() - waveStarted)));
    }
    log('all created; waiting for every experiment to end');
    const deadline = performance.now() + 20 * 60_000;
    const terminal = new Set(['completed', 'failed', 'canceled']);
    let open = total;
    while (open > 0) {
      if (performance.now() > deadline) break;
      await sleep(3000);
      // The server may be restarting (the chaos): ask again at the next turn.
      const rows = await drover
        .query<{ open: number }>(
          `select count(*)::int as open from experiments where state not in ('completed', 'failed', 'canceled')`,
        )
        .catch(() => null);
      if (!rows) continue;
      open = rows[0].open;
      log(`${open} still open`);
    }
    chaosOn = false;
    await chaos;
    // Every role up for the last streams.
    for (const entry of roles) if (!isUp(entry) && !entry.restarting) await startRole(entry);
    // An unreferenced timer: a pending one would hold the process open after the run.
    await Promise.race([Promise.all(streams), sleep(60_000, undefined, { ref: false })]);

    // The checks.
    const failures: string[] = [];
    // A run in which a planned restart never came proved less than it claims.
    if (figures.postgresRestarts !== 1) failures.push('the experiments ended before PostgreSQL was restarted');
    if (broker && figures.rabbitmqRestarts !== 1) failures.push('the experiments ended before RabbitMQ was restarted');
    if (!flags['spare-slurmctld'] && figures.slurmctldRestarts !== 1)
      failures.push('the experiments ended before slurmctld was restarted');
    // A Drover process must ride out what the run does to it, but SIGKILL: one that ended on its own crashed.
    for (const exit of selfExits) failures.push(`a process ended on its own: ${exit}`);
    const experiments = await drover.query<{
      id: string;
      name: string;
      state: string;
      last_event_seq: number;
      failure: string | null;
    }>(`select id, name, state, last_event_seq, failure ->> 'message' as failure from experiments`);
    const byId = new Map(experiments.map((row) => [row.id, row]));
    const expected = (item: Planned) =>
      item.canceled ? 'canceled' : item.inputs.exit_code === 0 ? 'completed' : 'failed';
    let wrongState = 0;
    for (const item of planned) {
      const row = byId.get(item.id!);
      if (!row || !terminal.has(row.state)) {
        failures.push(`${item.name} (${item.id}) did not end: ${row?.state}`);
        continue;
      }
      // A cancel accepted just as the job ended may lose the race: the job's own end stands.
      const allowed = item.canceled
        ? ['canceled', item.inputs.exit_code === 0 ? 'completed' : 'failed']
        : [expected(item)];
      if (!allowed.includes(row.state)) {
        wrongState += 1;
        failures.push(
          `${item.name} (${item.id}) on ${item.resource} ended ${row.state}, expected ${allowed.join(' or ')}: ${row.failure}`,
        );
      }
    }
    if (experiments.length !== total) failures.push(`${experiments.length} experiments in the store, ${total} planned`);

    const gaps = await drover.query<{ id: string; count: number; max: number; last_event_seq: number }>(
      `select e.id, count(v.seq)::int as count, coalesce(max(v.seq), 0)::int as max, e.last_event_seq
       from experiments e left join events v on v.experiment_id = e.id group by e.id
       having count(v.seq) <> e.last_event_seq or coalesce(max(v.seq), 0) <> e.last_event_seq`,
    );
    for (const gap of gaps)
      failures.push(
        `experiment ${gap.id}: ${gap.count} events, highest ${gap.max}, last_event_seq ${gap.last_event_seq}`,
      );

    // What the chaos cost: tasks run more than once (their worker died under them, or its
    // lease ran out), and the attempts that did not count.
    const [rerun] = await drover.query<{ tasks: number; rerun: number; uncounted: number; losses: number }>(
      `select count(*)::int as tasks, count(*) filter (where attempt > 1)::int as rerun,
         coalesce(sum(uncounted_attempts), 0)::int as uncounted, coalesce(sum(worker_losses), 0)::int as losses
       from tasks`,
    );
    // Why tasks went back to the queue while running, by the event's message.
    const returns = await drover.query<{ message: string; count: number }>(
      `select coalesce(message, '') as message, count(*)::int as count from events
       where entity = 'task' and from_state = 'running' and to_state = 'ready' group by 1 order by 2 desc`,
    );
    // With a 30 s lease and lost after 3 missed 1 s heartbeats, a killed worker's task must
    // come back because its worker was called lost, not because its lease ran out.
    const leaseReturns = returns
      .filter((row) => row.message.includes('stopped renewing its lease'))
      .reduce((sum, row) => sum + row.count, 0);
    if (leaseReturns > 0)
      failures.push(`${leaseReturns} tasks came back only when their lease ran out, not when their worker was lost`);
    const stuck = await drover.query<{ id: number; kind: string; state: string; experiment_id: string }>(
      `select t.id, t.kind, t.state, t.experiment_id from tasks t join experiments e on e.id = t.experiment_id
       where e.state in ('completed', 'failed', 'canceled') and t.state in ('ready', 'running', 'pending')`,
    );
    for (const task of stuck)
      failures.push(`task ${task.id} (${task.kind}) of ended experiment ${task.experiment_id} is still ${task.state}`);

    // Exactly one cluster job per submitted task: sacct's jobs of the run against Drover's records.
    const jobs = await drover.query<{ experiment_id: string; native_id: string; resource: string }>(
      `select experiment_id, native_id, resource from jobs where resource <> 'local'`,
    );
    const recordedPerExperiment = new Map<string, number>();
    for (const job of jobs)
      recordedPerExperiment.set(job.experiment_id, (recordedPerExperiment.get(job.experiment_id) ?? 0) + 1);
    for (const [id, count] of recordedPerExperiment)
      if (count > 1) failures.push(`experiment ${id} has ${count} jobs recorded`);
    const accounting = execFileSync(
      'sacct',
      [
        '-u',
        testClusterSsh.user,
        '-X',
        '-n',
        '-P',
        '-S',
        new Date(Date.now() - 4 * 3600_000).toISOString().slice(0, 19),
        '-o',
        'JobIDRaw,JobName%120',
      ],
      { encoding: 'utf8' },
    );
    const clusterJobsPerExperiment = new Map<string, string[]>();
    const clusterIds = new Set(planned.filter((item) => item.resource !== 'local').map((item) => item.id!));
    // A job is named by its submission key, drover-<experiment id's first 16 hex digits>-<task>-<attempt>
    // (experiments/job-spec.ts): whichever attempt submitted it, it names its experiment.
    const byKey = new Map([...clusterIds].map((id) => [keyOf(id), id]));
    for (const line of accounting.split('\n').filter(Boolean)) {
      const [jobId, jobName] = line.split('|');
      const experimentId = byKey.get(/^drover-([0-9a-f]{16})-\d+-\d+$/.exec(jobName ?? '')?.[1] ?? '');
      if (!experimentId) continue;
      clusterJobsPerExperiment.set(experimentId, [...(clusterJobsPerExperiment.get(experimentId) ?? []), jobId]);
    }
    let clusterJobs = 0;
    for (const id of clusterIds) {
      const found = clusterJobsPerExperiment.get(id) ?? [];
      clusterJobs += found.length;
      const recorded = jobs.find((job) => job.experiment_id === id);
      if (found.length > 1)
        failures.push(`experiment ${id}: the cluster ran ${found.length} jobs (${found.join(', ')})`);
      if (recorded && found.length === 1 && !recorded.native_id.startsWith(found[0]))
        failures.push(`experiment ${id}: Drover recorded ${recorded.native_id}, the cluster ran ${found[0]}`);
      if (recorded && found.length === 0)
        failures.push(`experiment ${id}: Drover recorded ${recorded.native_id}, sacct has no job`);
    }

    // The submit-delay shims note each slowed call in the experiment's folder on the login node.
    const slowPlanned = planned.filter(
      (item) => item.resource !== 'local' && item.inputs.marker !== '' && !item.canceled,
    ).length;
    const submitDelays = planned.filter(
      (item) => item.resource !== 'local' && existsSync(join(scratch, item.id!, 'submit-delays.log')),
    ).length;
    if (slowPlanned > 0 && submitDelays === 0)
      failures.push(`none of the ${slowPlanned} slow submits planned was slowed on the login node`);

    let streamEvents = 0;
    let reconnects = 0;
    for (const item of planned) {
      const record = seen.get(item.id!);
      const row = byId.get(item.id!);
      if (!record || !row) continue;
      streamEvents += record.seqs.length;
      reconnects += record.reconnects;
      const want = Array.from({ length: row.last_event_seq }, (_, index) => index + 1);
      if (!record.ended || record.seqs.join(',') !== want.join(','))
        failures.push(
          `experiment ${item.id}: its stream saw ${record.seqs.length} events (${record.ended ? 'ended' : 'no end'}) of ${row.last_event_seq}`,
        );
    }

    const summary = {
      dispatch: adapter,
      seed: flags.seed,
      experiments: total,
      byResource: Object.fromEntries(
        ['local', ...clusterResources].map((resource) => [
          resource,
          planned.filter((item) => item.resource === resource).length,
        ]),
      ),
      final: Object.fromEntries(
        ['completed', 'failed', 'canceled'].map((state) => [
          state,
          experiments.filter((row) => row.state === state).length,
        ]),
      ),
      cancelsAccepted: planned.filter((item) => item.canceled).length,
      wrongState,
      ...figures,
      selfExits: selfExits.length,
      createsAnswered503: unavailable,
      createRetries,
      createsReplayed,
      slowSubmitsPlanned: slowPlanned,
      slowSubmits: submitDelays,
      clusterJobs,
      jobsRecorded: jobs.length,
      eventGaps: gaps.length,
      stuckTasks: stuck.length,
      tasks: rerun!.tasks,
      tasksRunAgain: rerun!.rerun,
      uncountedAttempts: rerun!.uncounted,
      workerLosses: rerun!.losses,
      taskReturns: Object.fromEntries(returns.map((row) => [row.message, row.count])),
      streamEvents,
      streamReconnects: reconnects,
      seconds: Number(elapsed()),
      failures: failures.length,
    };
    console.log(JSON.stringify(summary, null, 2));
    for (const failure of failures.slice(0, 50)) console.error(`FAILED (${adapter}): ${failure}`);
    return { summary, failures };
  } finally {
    await service?.stop().catch(() => {});
    if (brokerUp) await broker?.stop().catch(() => {});
    if (sshd) await stopSshd(sshd).catch(() => {});
    await postgres.server?.stop().catch(() => {});
    removeCluster(postgresDir);
    cancelRunJobs(runKeys);
    await rm(folder, { recursive: true, force: true });
  }
}

/** The part of a submission key (the job's name) that names experiment `id`. */
function keyOf(id: string): string {
  return id.replaceAll('-', '').slice(0, 16);
}

/** Cancels the run's jobs still on the cluster (`runKeys`: keyOf its experiments), and only those. */
function cancelRunJobs(runKeys: Set<string>): void {
  const queued = execFileSync('squeue', ['-u', testClusterSsh.user, '-h', '-o', '%i %j'], { encoding: 'utf8' });
  const ids = queued
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter(([, name]) => runKeys.has(/^drover-([0-9a-f]{16})-/.exec(name ?? '')?.[1] ?? ''))
    .map(([id]) => id);
  if (ids.length > 0) execFileSync('scancel', ids);
}

function isRunning(program: string): boolean {
  try {
    execFileSync('pgrep', ['-x', program]);
    return true;
  } catch {
    return false;
  }
}

if (process.getuid?.() !== 0) throw new Error('the chaos run needs root (the test cluster, its sshd)');
await run('bash', [join(projectRoot, 'scripts/start-slurm.sh')]);
if (adapters.includes('rabbitmq' as never)) await run('bash', [join(projectRoot, 'scripts/start-rabbitmq.sh')]);
await run(process.execPath, [join(projectRoot, 'scripts/build-server.js')]);
const runs: Array<{ summary: object; failures: string[] }> = [];
for (const adapter of adapters) runs.push(await main(adapter));
if (flags.json)
  await writeFile(
    flags.json,
    JSON.stringify(
      runs.map(({ summary, failures }) => ({ ...summary, failureList: failures })),
      null,
      2,
    ),
  );
process.exitCode = runs.every(({ failures }) => failures.length === 0) ? 0 : 1;
