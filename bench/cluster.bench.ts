/**
 * Cluster benchmark: Drover against the single-node Slurm test cluster of
 * scripts/start-slurm.sh (resource `hpc-slurm` of catalogue/test-cluster.yaml), over SSH.
 *
 * Parts:
 * - `submit`: N experiments (default 200) of a one-second job, through a real in-process
 *   Drover (API, worker of concurrency 32, controller, embedded store in memory), against
 *   the same job scripts (the script Drover renders, taken from a draft) sent by a plain
 *   loop of `ssh ... sbatch` (a new ssh process per job) and by one ssh session running a
 *   loop of sbatch; and Drover's submit side alone (`SlurmScheduler.submit` called N times
 *   at once on one SSH connection: batched submission, no API or store). Reports the seconds until Slurm accepted every job, until Slurm ran
 *   the last one to its end (sacct), and until all were completed (raw: a squeue poll
 *   every second sees none left; Drover: the last experiment's `finishedAt`), and the
 *   commands Drover ran on the login node per experiment (its /metrics).
 * - `monitor`: the controller's cost with N tracked jobs (default 10, 100, 1,000, 10,000).
 *   The jobs are real: held jobs (`sbatch --hold --wrap true`, one remote loop) that the
 *   bench records in a fresh store as queued jobs of executing experiments. Each run is a
 *   real `Controller` whose resource registry holds the real `SshShell` and
 *   `SlurmScheduler`; per `Controller.pass()`: remote commands (SshShell's `onCommand`),
 *   bytes they printed, wall time and `process.cpuUsage()` of the pass and of the
 *   scheduler's poll inside it. The first pass records every job's state change
 *   (submitted -> PENDING (JobHeldUser)); the next ones change nothing (steady state).
 *   Slurm's MaxJobCount bounds N: a size that would not fit (with `--headroom` job slots
 *   left to other users of the cluster) is lowered to what fits, and the table says so.
 *   Every held job is cancelled by its name at the end, also on Ctrl-C.
 *
 * Needs the test cluster (`bash scripts/start-slurm.sh`) and root (the SSH key is root's).
 * Results and the machine they were measured on: bench/README.md.
 *
 *   npm run bench:cluster -- [--part submit|monitor|all] [--runs N] [--experiments 200]
 *        [--sizes 10,100,1000,10000] [--passes 5] [--headroom 500]
 *        [--statistics none,analyzed] [--profile] [--trace]
 *   (the same as node --import tsx bench/cluster.bench.ts ...)
 *
 * `--runs`: repetitions of each measurement (default 2). `--passes`: steady passes per
 * monitor run. `--statistics`: the monitor's store as Drover leaves it on PGlite, never
 * analyzed (`none`), and/or `analyzed` after seeding, as autovacuum keeps PostgreSQL.
 * `--profile`: the store's time per statement in the first and the last steady pass.
 * `--trace`: for each `drover` submit run, when each task kind of the experiments became
 * ready, was claimed and ended (from the events), and every SSH command the run made.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import YAML from 'yaml';
import type { Queryable, Store } from '../src/store/port.ts';
import type { Shell } from '../src/shell/port.ts';
import type { BatchScheduler, JobObservation, TrackedJob } from '../src/batch/port.ts';
import type { ResourceSpec } from '../src/domain/resource.ts';
import type { ResourceHandle, ResourceRegistry } from '../src/resources/resource-registry.ts';
import { openEmbeddedStore } from '../src/store/embedded-store.ts';
import { migrate } from '../src/store/migrate.ts';
import { loadCatalogueFile } from '../src/catalogue/catalogue-file.ts';
import { createUser, ensureGateway } from '../src/catalogue/users.ts';
import { SshShell } from '../src/shell/ssh-shell.ts';
import { SlurmScheduler } from '../src/batch/slurm/slurm-scheduler.ts';
import { Controller } from '../src/controller/controller.ts';
import { defaultConfig } from '../src/config.ts';
import { projectRoot, startTestDrover, waitFor, type TestDrover } from '../test/harness.ts';

// ---- options ------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    part: { type: 'string', default: 'all' },
    runs: { type: 'string', default: '2' },
    experiments: { type: 'string', default: '200' },
    sizes: { type: 'string', default: '10,100,1000,10000' },
    passes: { type: 'string', default: '5' },
    headroom: { type: 'string', default: '500' },
    statistics: { type: 'string', default: 'none,analyzed' },
    profile: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    'worker-concurrency': { type: 'string', default: '32' },
    modes: { type: 'string' },
  },
});

const parts = ['submit', 'monitor'] as const;
const submitModes = [
  'raw ssh per job',
  'raw one ssh session',
  'drover SlurmScheduler.submit',
  'drover',
  'drover bulk',
] as const;
type SubmitMode = (typeof submitModes)[number];
type Part = (typeof parts)[number];
/**
 * Planner statistics of the monitor's store: `none`, as Drover runs on the embedded store
 * (PGlite has no autovacuum and Drover never runs ANALYZE), or `analyzed` after seeding,
 * as autovacuum would leave a PostgreSQL database.
 */
const statisticsChoices = { none: 'none', analyzed: 'analyzed' } as const;
type Statistics = keyof typeof statisticsChoices;
if (flags.part !== 'all' && !parts.includes(flags.part as Part)) fail(`--part must be one of ${parts.join(', ')}, all`);
const options = {
  parts: flags.part === 'all' ? [...parts] : [flags.part as Part],
  runs: positive(flags.runs!, '--runs'),
  experiments: positive(flags.experiments!, '--experiments'),
  sizes: flags
    .sizes!.split(',')
    .map((value) => positive(value, '--sizes'))
    .sort((a, b) => a - b),
  passes: positive(flags.passes!, '--passes'),
  headroom: positive(flags.headroom!, '--headroom'),
  statistics: flags.statistics!.split(',').map((value) => pick(statisticsChoices, value, '--statistics')),
  profile: flags.profile!,
  /** Submit part, drover mode: print where the time went (task timeline, SSH commands). */
  trace: flags.trace!,
  /** The bench Drover's worker concurrency (the row has always been measured at 32). */
  workerConcurrency: positive(flags['worker-concurrency']!, '--worker-concurrency'),
  /** Submit modes to run (default all): the naive loop takes minutes on a loaded machine. */
  modes: flags.modes?.split(',').map((mode) => {
    if (!(submitModes as readonly string[]).includes(mode)) fail(`--modes: one of ${submitModes.join(', ')}`);
    return mode as SubmitMode;
  }),
};

const resourceName = 'hpc-slurm';
const clusterCatalogue = join(projectRoot, 'catalogue', 'test-cluster.yaml');
const catalogues = [join(projectRoot, 'catalogue', 'demo.yaml'), clusterCatalogue].join(',');
const cluster: ResourceSpec = (YAML.parse(readFileSync(clusterCatalogue, 'utf8')).resources as ResourceSpec[]).find(
  (resource) => resource.name === resourceName,
)!;
const ssh = cluster.config.ssh!;
/** Names every job and directory this run makes on the cluster, so that it cancels and removes only its own. */
const runTag = `drover-bench-${process.pid}-${Date.now().toString(36)}`;
const logger = pino({ level: 'silent' });

// ---- the cluster, as a shell script would reach it ------------------------------------

interface Remote {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` through the login shell of the cluster user, in a new `ssh` process. */
function sshRun(command: string, input = ''): Promise<Remote> {
  const argv = [
    '-i',
    ssh.privateKeyPath!,
    '-o',
    `UserKnownHostsFile=${ssh.knownHostsPath!}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-p',
    String(ssh.port ?? 22),
    `${ssh.user}@${ssh.host}`,
    command,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? 255,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    child.stdin.end(input);
  });
}

/** Like `sshRun`, but throws when the command fails. */
async function sshCheck(command: string, input = ''): Promise<string> {
  const result = await sshRun(command, input);
  if (result.code !== 0) throw new Error(`ssh ${command.slice(0, 80)}: exit ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Jobs slurmctld holds for all users (finished ones within MinJobAge included), by state. */
async function clusterLoad(): Promise<{ total: number; active: number }> {
  const states = (await sshCheck('squeue -h -t all -o %T')).split('\n').filter(Boolean);
  return { total: states.length, active: states.filter((state) => state === 'PENDING' || state === 'RUNNING').length };
}

/** Slurm's own times (epoch seconds) for `jobIds`, once sacct has the end of every one. */
async function accountedTimes(jobIds: string[]): Promise<{ lastEnd: number; states: Set<string> }> {
  return waitFor(
    `sacct to record the end of ${jobIds.length} jobs`,
    async () => {
      const rows = (await sshCheck(`env SLURM_TIME_FORMAT=%s sacct -X -P -n -j ${jobIds.join(',')} -o JobID,End,State`))
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('|'));
      if (rows.length < jobIds.length || rows.some((row) => !/^\d+$/.test(row[1]))) return null;
      return { lastEnd: Math.max(...rows.map((row) => Number(row[1]))), states: new Set(rows.map((row) => row[2])) };
    },
    120_000,
    1000,
  );
}

// ---- part 1: submission ---------------------------------------------------------------

interface SubmitMeasurement {
  mode: SubmitMode;
  /** Seconds from the first submission until Slurm had accepted every job. */
  acceptedSeconds: number;
  /** Seconds until the last job ended, by Slurm's clock (sacct End, whole seconds). */
  slurmEndSeconds: number;
  /** Seconds until all were completed: raw, a squeue poll saw none left; Drover, the last experiment finished. */
  completedSeconds: number;
  /** Jobs of other users of the cluster pending or running when the run started. */
  otherJobs: number;
  /** Drover only: remote commands per experiment, by program. */
  commandsPerExperiment?: Record<string, number>;
  /** Drover only: commands that failed for want of an SSH session or connection (their tasks were retried). */
  unreachableCommands?: number;
  /** SlurmScheduler.submit only: the jobs of each batch command, in order. */
  batches?: number[];
}

/** What the raw loops submit: Drover's script for a draft, to be re-keyed per job. */
interface ScriptTemplate {
  script: string;
  experimentId: string;
  submissionKey: string;
}

/** The application every part-1 job runs: one second of sleep, in the debug partition. */
const sleepApplication = {
  name: 'bench-sleep',
  title: 'Sleep one second',
  deployments: { '*': { command: ['bash', '-c', 'sleep 1'], queue: 'debug', walltimeMinutes: 2 } },
};

/** A Drover with the demo and test-cluster catalogues and the sleep application. */
async function startBenchDrover(): Promise<TestDrover> {
  // The benchmark is one user submitting thousands of experiments at once: the per-user
  // write limit (which protects a shared deployment from one runaway client) is lifted.
  const drover = await startTestDrover({
    catalogue: catalogues,
    worker: { concurrency: options.workerConcurrency, pollMs: 200, leaseMs: 30_000 },
    limits: { writesPerWindow: 1_000_000 },
  });
  const created = await drover.call('POST', '/api/v1/applications', sleepApplication);
  if (created.status !== 201)
    throw new Error(`registering ${sleepApplication.name}: ${created.status} ${JSON.stringify(created.body)}`);
  return drover;
}

/** Drover's script for a draft experiment: what the raw loops send, job by job. */
async function scriptTemplate(): Promise<ScriptTemplate> {
  const drover = await startBenchDrover();
  try {
    const draft = await drover.call('POST', '/api/v1/experiments', {
      application: sleepApplication.name,
      resource: resourceName,
      launch: false,
    });
    const script = (await drover.call('GET', `/api/v1/experiments/${draft.body.id}/script`)).body as string;
    // A draft has no submit task yet, so its key is a placeholder; the job name carries it.
    const key = /^#SBATCH --job-name=(\S+)$/m.exec(script)![1];
    return { script, experimentId: draft.body.id, submissionKey: key };
  } finally {
    await drover.stop();
  }
}

/** The template's script for raw job `n`: its own key, working directory and names, nothing else changed. */
function rawScript(template: ScriptTemplate, batch: string, n: number): { script: string; workdir: string } {
  const label = `${batch}-${n}`;
  const workdir = `${cluster.config.scratchDir}/${batch}/${n}`;
  const script = template.script
    .replaceAll(template.submissionKey, label)
    .replaceAll(`${cluster.config.scratchDir}/${template.experimentId}`, workdir)
    .replaceAll(template.experimentId, label)
    .replaceAll(template.experimentId.slice(0, 8), label);
  return { script, workdir };
}

/** Polls squeue (a new ssh each second, as a shell script would) until none of `jobIds` is pending or running. */
async function waitForRawJobs(jobIds: string[], started: number): Promise<number> {
  for (;;) {
    const result = await sshRun(`squeue -h -j ${jobIds.join(',')} -o %i`);
    // squeue refuses a list in which it knows no job any more: they are all gone.
    if ((result.code === 0 && result.stdout.trim() === '') || /Invalid job id/.test(result.stderr)) {
      return (Date.now() - started) / 1000;
    }
    if (result.code !== 0) throw new Error(`squeue: ${result.stderr.trim()}`);
    await sleep(1000);
  }
}

/**
 * The naive and the best raw submission of `count` jobs. Each job's directory is made by
 * the same remote command that calls sbatch (Drover makes it in env-setup).
 */
async function submitRaw(
  mode: 'raw ssh per job' | 'raw one ssh session',
  template: ScriptTemplate,
  count: number,
): Promise<SubmitMeasurement> {
  const batch = `${runTag}-raw-${Date.now().toString(36)}`;
  const jobs = Array.from({ length: count }, (_, n) => rawScript(template, batch, n + 1));
  const otherJobs = (await clusterLoad()).active;
  const started = Date.now();
  const jobIds: string[] = [];
  if (mode === 'raw ssh per job') {
    for (const job of jobs) {
      jobIds.push((await sshCheck(`mkdir -p -- ${job.workdir} && sbatch --parsable`, job.script)).trim());
    }
  } else {
    const program = jobs
      .map(
        (job) =>
          `mkdir -p -- ${job.workdir} && sbatch --parsable <<'DROVER_BENCH_EOF' || exit\n${job.script}\nDROVER_BENCH_EOF`,
      )
      .join('\n');
    jobIds.push(...(await sshCheck('bash -s', program)).trim().split('\n'));
  }
  const acceptedSeconds = (Date.now() - started) / 1000;
  if (jobIds.length !== count || !jobIds.every((id) => /^\d+$/.test(id)))
    throw new Error(`unexpected sbatch answers: ${jobIds.slice(0, 5)}`);
  const completedSeconds = await waitForRawJobs(jobIds, started);
  const accounted = await accountedTimes(jobIds);
  if ([...accounted.states].some((state) => state !== 'COMPLETED'))
    throw new Error(`raw jobs ended as ${[...accounted.states]}`);
  await sshCheck(`rm -rf -- ${cluster.config.scratchDir}/${batch}`);
  return { mode, acceptedSeconds, slurmEndSeconds: accounted.lastEnd - started / 1000, completedSeconds, otherJobs };
}

/**
 * `count` experiments through Drover's API, all at once, as a busy gateway would send them:
 * `count` requests of `POST /experiments` at once, or with `bulk` one `POST
 * /experiments/batch` of all (what a gateway's sweep would send).
 */
async function submitThroughDrover(count: number, bulk = false): Promise<SubmitMeasurement> {
  const drover = await startBenchDrover();
  const ids: string[] = [];
  try {
    const otherJobs = (await clusterLoad()).active;
    const commands = options.trace ? traceCommands() : undefined;
    const started = Date.now();
    const answered: number[] = [];
    const item = { application: sleepApplication.name, resource: resourceName };
    if (bulk) {
      const response = await drover.call('POST', '/api/v1/experiments/batch', {
        items: Array.from({ length: count }, () => item),
      });
      answered.push(Date.now() - started);
      if (response.status !== 201)
        throw new Error(`POST /experiments/batch: ${response.status} ${JSON.stringify(response.body)}`);
      ids.push(...(response.body.items as Array<{ id: string }>).map((experiment) => experiment.id));
    } else {
      const created = await Promise.all(
        Array.from({ length: count }, async () => {
          const response = await drover.call('POST', '/api/v1/experiments', item);
          answered.push(Date.now() - started);
          return response;
        }),
      );
      for (const response of created) {
        if (response.status !== 201)
          throw new Error(`POST /experiments: ${response.status} ${JSON.stringify(response.body)}`);
        ids.push(response.body.id);
      }
    }
    await waitFor(`${count} experiments to finish`, async () => (await countFinished(drover)) === count, 600_000, 1000);
    const experiments = await Promise.all(
      ids.map(async (id) => (await drover.call('GET', `/api/v1/experiments/${id}`)).body),
    );
    const notCompleted = experiments.filter((experiment) => experiment.state !== 'completed');
    if (notCompleted.length > 0)
      throw new Error(
        `${notCompleted.length} experiments did not complete: ${JSON.stringify(notCompleted[0].failure)}`,
      );
    const latest = (dates: string[]) => Math.max(...dates.map((date) => Date.parse(date)));
    // The job row is written right after sbatch answered: the moment Drover had the native id.
    const acceptedSeconds = (latest(experiments.map((experiment) => experiment.job.submittedAt)) - started) / 1000;
    const completedSeconds = (latest(experiments.map((experiment) => experiment.finishedAt)) - started) / 1000;
    const accounted = await accountedTimes(experiments.map((experiment) => experiment.job.nativeId));
    if (commands) {
      commands.stop();
      await printTrace(drover.drover.store, ids, started, answered, commands.log);
    }
    const commandCounts = await metricByLabel(drover, 'drover_resource_commands_total', 'program', {
      resource: resourceName,
    });
    const commandsPerExperiment = Object.fromEntries(
      Object.entries(commandCounts).map(([program, total]) => [program, total / count]),
    );
    const outcomes = await metricByLabel(drover, 'drover_resource_commands_total', 'outcome', {
      resource: resourceName,
    });
    return {
      mode: bulk ? 'drover bulk' : 'drover',
      acceptedSeconds,
      slurmEndSeconds: accounted.lastEnd - started / 1000,
      completedSeconds,
      otherJobs,
      commandsPerExperiment,
      unreachableCommands: outcomes.unreachable ?? 0,
    };
  } finally {
    await drover.stop();
    // Drover leaves each experiment's working directory on the cluster; this bench does not.
    for (let start = 0; start < ids.length; start += 500) {
      await sshRun(`cd -- ${cluster.config.scratchDir} && rm -rf -- ${ids.slice(start, start + 500).join(' ')}`);
    }
  }
}

/** One SSH command of a traced run: its program, start and end (ms since epoch), and jobs sent (submit batches). */
interface TracedCommand {
  program: string;
  start: number;
  end: number;
  jobs: number;
}

/**
 * Records every command any `SshShell` of this process runs until `stop()` (the bench's
 * Drover builds its own shells, so the prototype is where they can all be seen).
 */
function traceCommands(): { log: TracedCommand[]; stop(): void } {
  const log: TracedCommand[] = [];
  const original = SshShell.prototype.run;
  SshShell.prototype.run = async function (this: SshShell, argv, runOptions) {
    const start = Date.now();
    try {
      return await original.call(this, argv, runOptions);
    } finally {
      const input = typeof runOptions?.input === 'string' ? runOptions.input : '';
      const jobs = argv[0] === 'bash' && argv[3] === 'drover-submit' ? (input.match(/^job /gm) ?? []).length : 0;
      log.push({ program: argv[0] === 'bash' ? (argv[3] ?? 'bash') : argv[0], start, end: Date.now(), jobs });
    }
  };
  return { log, stop: () => (SshShell.prototype.run = original) };
}

/**
 * Where a traced run's time went: for each task kind, when its tasks became ready, were
 * claimed and ended (the events, in seconds from the first request) and how long they
 * waited and ran; then the SSH commands by program, and each submit batch.
 */
async function printTrace(
  store: Store,
  ids: string[],
  started: number,
  answered: number[],
  commands: TracedCommand[],
): Promise<void> {
  const rows = await store.query<{ task: string; kind: string; to_state: string; at: number }>(
    `select e.entity_id as task, e.label as kind, e.to_state, extract(epoch from e.at) * 1000 as at
     from events e where e.experiment_id = any($1::uuid[]) and e.entity = 'task' order by e.at`,
    [ids],
  );
  const seconds = (ms: number) => format((ms - started) / 1000, 2);
  const quantiles = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return { min: sorted[0], p50: at(0.5), p90: at(0.9), max: sorted[sorted.length - 1] };
  };
  const span = (values: number[]) => {
    const q = quantiles(values);
    return `${seconds(q.min)} / ${seconds(q.p50)} / ${seconds(q.max)}`;
  };
  const duration = (values: number[]) => {
    const q = quantiles(values);
    return `${format(q.p50)} / ${format(q.p90)} / ${format(q.max)}`;
  };
  console.error(
    `    trace: answers to POST /experiments at ${span(answered.map((ms) => ms + started))} s (first / median / last)`,
  );
  console.error(
    '    | task kind | ready, s (first / p50 / last) | claimed, s | ended, s | ready -> claimed, ms (p50 / p90 / max) | claimed -> ended, ms |',
  );
  const byTask = new Map<string, { kind: string; ready?: number; running?: number; ended?: number }>();
  for (const row of rows) {
    const task = byTask.get(row.task) ?? { kind: row.kind };
    byTask.set(row.task, task);
    const at = Number(row.at);
    if (row.to_state === 'ready' && task.ready === undefined) task.ready = at;
    else if (row.to_state === 'running' && task.running === undefined) task.running = at;
    else if (['completed', 'failed'].includes(row.to_state) && task.ended === undefined) task.ended = at;
  }
  for (const kind of ['env-setup', 'stage-in', 'submit', 'monitor']) {
    const tasks = [...byTask.values()].filter((task) => task.kind === kind && task.ready && task.running);
    if (tasks.length === 0) continue;
    const ended = tasks.filter((task) => task.ended !== undefined);
    console.error(
      `    | ${kind} (${tasks.length}) | ${span(tasks.map((task) => task.ready!))} | ${span(tasks.map((task) => task.running!))} | ` +
        `${ended.length ? span(ended.map((task) => task.ended!)) : '-'} | ${duration(tasks.map((task) => task.running! - task.ready!))} | ` +
        `${ended.length ? duration(ended.map((task) => task.ended! - task.running!)) : '-'} |`,
    );
  }
  const programs = [...new Set(commands.map((command) => command.program))];
  for (const program of programs) {
    const runs = commands.filter((command) => command.program === program);
    console.error(
      `    ${program}: ${runs.length} commands, started ${span(runs.map((command) => command.start))} s, ` +
        `took ${duration(runs.map((command) => command.end - command.start))} ms (p50 / p90 / max)`,
    );
  }
  const batches = commands.filter((command) => command.jobs > 0).sort((a, b) => a.start - b.start);
  console.error(
    `    submit batches (start s +ms: jobs): ${batches.map((batch) => `${seconds(batch.start)}+${batch.end - batch.start}:${batch.jobs}`).join(' ')}`,
  );
}

/**
 * Drover's submit side alone: `count` calls of `SlurmScheduler.submit` made at once on one
 * `SshShell` (the resource's settings), as the worker's submit tasks make them, without the
 * API and the store: what batching submits into few SSH commands changes. Each job gets its
 * own key and working directory; the script is the one Drover renders for the sleep job.
 */
async function submitWithScheduler(count: number): Promise<SubmitMeasurement> {
  const batch = `${runTag}-scheduler-${Date.now().toString(36)}`;
  const shell = new SshShell({ resource: resourceName, ...ssh, logger });
  const batches: number[] = [];
  const scheduler = new SlurmScheduler({ shell, resource: resourceName, onSubmitBatch: (jobs) => batches.push(jobs) });
  const deployment = sleepApplication.deployments['*'];
  try {
    await shell.run(['true']); // connect first: the raw loops' ssh connects are timed, but Drover's connection is long-lived
    const otherJobs = (await clusterLoad()).active;
    const started = Date.now();
    const jobs = await Promise.all(
      Array.from({ length: count }, (_, n) =>
        scheduler.submit({
          submissionKey: `${batch}-${n + 1}`,
          workdir: `${cluster.config.scratchDir}/${batch}/${n + 1}`,
          jobName: 'bench-sleep',
          queue: deployment.queue,
          nodes: 1,
          coresPerNode: 1,
          walltimeMinutes: deployment.walltimeMinutes,
          environmentSetup: [],
          argv: deployment.command,
        }),
      ),
    );
    const acceptedSeconds = (Date.now() - started) / 1000;
    const jobIds = jobs.map((job) => job.nativeId);
    if (jobs.some((job) => job.adopted)) throw new Error('a fresh submit was adopted');
    const completedSeconds = await waitForRawJobs(jobIds, started);
    const accounted = await accountedTimes(jobIds);
    if ([...accounted.states].some((state) => state !== 'COMPLETED'))
      throw new Error(`jobs ended as ${[...accounted.states]}`);
    return {
      mode: 'drover SlurmScheduler.submit',
      acceptedSeconds,
      slurmEndSeconds: accounted.lastEnd - started / 1000,
      completedSeconds,
      otherJobs,
      batches,
    };
  } finally {
    await shell.close();
    await sshRun(`rm -rf -- ${cluster.config.scratchDir}/${batch}`);
  }
}

/** Experiments that reached an end (completed, failed, canceled), as a client sees them: the list, page by page. */
async function countFinished(drover: TestDrover): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const query = `state=completed,failed,canceled&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await drover.call('GET', `/api/v1/experiments?${query}`);
    count += page.body.items.length;
    cursor = page.body.nextCursor;
  } while (cursor);
  return count;
}

/** Sums a /metrics counter by one label, over the series whose labels include all of `labels`. */
async function metricByLabel(
  drover: TestDrover,
  name: string,
  by: string,
  labels: Record<string, string>,
): Promise<Record<string, number>> {
  const text = (await drover.call('GET', '/metrics')).body as string;
  const totals: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const series = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (!Object.entries(labels).every(([key, value]) => series[key] === value)) continue;
    totals[series[by]] = (totals[series[by]] ?? 0) + Number(match[3]);
  }
  return totals;
}

async function benchSubmit(): Promise<string[]> {
  const count = options.experiments;
  const template = await scriptTemplate();
  console.error(
    `submit: ${count} jobs of "${sleepApplication.deployments['*'].command.join(' ')}", ${options.runs} run(s) of each mode`,
  );
  const results = new Map<SubmitMode, SubmitMeasurement[]>(submitModes.map((mode) => [mode, []]));
  const modes = options.modes ?? submitModes;
  for (let run = 1; run <= options.runs; run++) {
    for (const mode of modes) {
      const measurement =
        mode === 'drover' || mode === 'drover bulk'
          ? await submitThroughDrover(count, mode === 'drover bulk')
          : mode === 'drover SlurmScheduler.submit'
            ? await submitWithScheduler(count)
            : await submitRaw(mode, template, count);
      results.get(mode)!.push(measurement);
      console.error(`  ${mode} run ${run}: ${JSON.stringify(rounded(measurement))}`);
    }
  }
  const median = (mode: SubmitMode, key: 'acceptedSeconds' | 'slurmEndSeconds' | 'completedSeconds') =>
    medianOf(results.get(mode)!.map((measurement) => measurement[key]));
  const spread = (mode: SubmitMode, key: 'acceptedSeconds' | 'slurmEndSeconds' | 'completedSeconds') =>
    rangeOf(
      results.get(mode)!.map((measurement) => measurement[key]),
      1,
    );
  const lines = [
    `| ${count} jobs | accepted by Slurm, s | last job ended (sacct), s | all completed, s | accepted, x best raw | completed, x best raw | other jobs on the cluster |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const mode of modes) {
    const ratio = (key: 'acceptedSeconds' | 'completedSeconds') =>
      format(median(mode, key) / median('raw one ssh session', key), 1);
    lines.push(
      `| ${mode} | ${format(median(mode, 'acceptedSeconds'), 1)} (${spread(mode, 'acceptedSeconds')}) | ` +
        `${format(median(mode, 'slurmEndSeconds'), 1)} (${spread(mode, 'slurmEndSeconds')}) | ` +
        `${format(median(mode, 'completedSeconds'), 1)} (${spread(mode, 'completedSeconds')}) | ${ratio('acceptedSeconds')} | ${ratio('completedSeconds')} | ` +
        `${results
          .get(mode)!
          .map((measurement) => measurement.otherJobs)
          .join(', ')} |`,
    );
  }
  const perExperiment = results.get('drover')!.map((measurement) => measurement.commandsPerExperiment!);
  const programs = [...new Set(perExperiment.flatMap((counts) => Object.keys(counts)))].sort();
  if (perExperiment.length > 0)
    lines.push(
      '',
      `Drover's commands on the login node per experiment (runs: ${perExperiment.length}): ` +
        programs
          .map((program) => `${program} ${perExperiment.map((counts) => format(counts[program] ?? 0, 2)).join('/')}`)
          .join(', ') +
        `; total ${perExperiment
          .map((counts) =>
            format(
              Object.values(counts).reduce((a, b) => a + b, 0),
              2,
            ),
          )
          .join('/')}` +
        `; of them refused by sshd or unreachable: ${results
          .get('drover')!
          .map((measurement) => measurement.unreachableCommands)
          .join('/')}`,
    );
  if (results.get('drover SlurmScheduler.submit')!.length > 0)
    lines.push(
      '',
      `SlurmScheduler.submit: jobs per batch command, by run: ${results
        .get('drover SlurmScheduler.submit')!
        .map((measurement) => measurement.batches!.join('+'))
        .join('; ')}`,
    );
  return lines;
}

// ---- part 2: monitoring ---------------------------------------------------------------

/** One controller pass: what it cost and what the scheduler poll inside it cost. */
interface PassMeasurement {
  wallMs: number;
  cpuMs: number;
  pollWallMs: number;
  pollCpuMs: number;
  /** The remote commands of the pass, by program. */
  programs: string[];
  outputBytes: number;
  jobsChanged: number;
}

/** Counts what the real SshShell runs: commands (through its `onCommand`) and the bytes they print. */
class CountingShell implements Shell {
  /** Programs as SshShell's onCommand names them (`squeue` for `env SLURM_TIME_FORMAT=%s squeue`), one per command. */
  commands: string[] = [];
  outputBytes = 0;
  readonly inner: SshShell;

  constructor(spec: ResourceSpec) {
    this.inner = new SshShell({
      resource: spec.name,
      ...spec.config.ssh!,
      onCommand: (event) => this.commands.push(event.program),
    });
  }

  reset(): void {
    this.commands = [];
    this.outputBytes = 0;
  }

  async run(...args: Parameters<Shell['run']>) {
    const result = await this.inner.run(...args);
    this.outputBytes += Buffer.byteLength(result.stdout);
    return result;
  }
  makeDirectory = (path: string) => this.inner.makeDirectory(path);
  writeFile = (path: string, data: string | Buffer, mode?: number) => this.inner.writeFile(path, data, mode);
  readFile = (path: string) => this.inner.readFile(path);
  upload = (localPath: string, remotePath: string) => this.inner.upload(localPath, remotePath);
  download = (remotePath: string, localPath: string) => this.inner.download(remotePath, localPath);
  glob = (directory: string, patterns: string[]) => this.inner.glob(directory, patterns);
  close = () => this.inner.close();
}

/** The registry Drover would build for the cluster (SshShell + SlurmScheduler), with the shell counted and the poll timed. */
function measuredRegistry(): ResourceRegistry & { shell: CountingShell; lastPoll: { wallMs: number; cpuMs: number } } {
  const shell = new CountingShell(cluster);
  const slurm = new SlurmScheduler({ shell, resource: cluster.name });
  const lastPoll = { wallMs: 0, cpuMs: 0 };
  const scheduler: BatchScheduler = Object.assign(Object.create(slurm) as BatchScheduler, {
    async poll(jobs: TrackedJob[]): Promise<Map<string, JobObservation>> {
      const wall = performance.now();
      const cpu = process.cpuUsage();
      try {
        return await slurm.poll(jobs);
      } finally {
        lastPoll.wallMs = performance.now() - wall;
        lastPoll.cpuMs = cpuMs(process.cpuUsage(cpu));
      }
    },
  });
  return {
    shell,
    lastPoll,
    open: (spec): ResourceHandle => {
      if (spec.name !== cluster.name)
        throw new Error(`the bench registry knows only ${cluster.name}, not ${spec.name}`);
      return { spec, shell, scheduler };
    },
    close: () => shell.close(),
  };
}

/**
 * A fresh embedded store (a throwaway server, as `drover up --memory`) with the cluster resource and one executing experiment
 * per native id, each with a detached monitor task and a queued job (as the submit task
 * leaves them: native state `submitted`).
 */
async function storeTracking(nativeIds: string[], statistics: Statistics): Promise<Store> {
  const store = await openEmbeddedStore({ dataDir: tmpdir(), throwaway: true });
  await migrate(store);
  const gatewayId = 'default';
  await ensureGateway(store, { id: gatewayId, name: 'Benchmark gateway' });
  const owner = await createUser(store, { gatewayId, name: 'bench', role: 'user' });
  await loadCatalogueFile(store, gatewayId, clusterCatalogue, '/tmp');
  // $1 gateway, $2 owner, $3 native ids, $4 resource, $5 scratch dir, $6 key prefix
  await store.query(
    `with wanted as (
       select native_id, n from unnest($3::text[]) with ordinality as u (native_id, n)),
     experiment as (
       insert into experiments (gateway_id, owner_id, name, application, application_version, resource, inputs, settings, state, launched_at)
       select $1, $2, 'held ' || n, 'bench-held', '1', $4, '{}', '{"queue": "debug"}', 'executing', now() from wanted
       returning id, name),
     task as (
       insert into tasks (experiment_id, kind, state, detached, attempt, started_at)
       select id, 'monitor', 'running', true, 1, now() from experiment
       returning id, experiment_id)
     insert into jobs (experiment_id, task_id, gateway_id, resource, submission_key, native_id, state, native_state, queue, workdir)
     select e.id, t.id, $1, $4, $6 || w.n, w.native_id, 'queued', 'submitted', 'debug', $5 || '/' || e.id
     from wanted w join experiment e on e.name = 'held ' || w.n join task t on t.experiment_id = e.id`,
    [gatewayId, owner.id, nativeIds, cluster.name, cluster.config.scratchDir, `${runTag}-key-`],
  );
  if (statistics === 'analyzed') await store.query('analyze');
  return store;
}

/** Held jobs on the cluster, all named `runTag`, in the order submitted. */
const heldJobs: string[] = [];

/** Adds held jobs until there are `total`, in one remote loop; returns how long it took. */
async function growHeldJobs(total: number): Promise<number> {
  const missing = total - heldJobs.length;
  if (missing <= 0) return 0;
  const started = performance.now();
  const output = await sshCheck(
    `for i in $(seq ${missing}); do sbatch --parsable --hold --job-name=${runTag} --partition=debug --time=1 ` +
      `--output=/dev/null --error=/dev/null --wrap true || exit; done`,
  );
  heldJobs.push(...output.trim().split('\n'));
  if (heldJobs.length !== total || !heldJobs.every((id) => /^\d+$/.test(id)))
    throw new Error(`unexpected sbatch answers: ${output.slice(0, 200)}`);
  return (performance.now() - started) / 1000;
}

/** Cancels every held job of this run, by its name; waits until slurmctld has forgotten them unless `wait` is false. */
async function cancelHeldJobs(wait = true): Promise<void> {
  if (heldJobs.length === 0) return;
  await sshCheck(`scancel --name=${runTag}`);
  console.error(`  cancelled ${heldJobs.length} held jobs named ${runTag}`);
  if (!wait) return;
  await waitFor(
    `slurmctld to forget the ${heldJobs.length} cancelled jobs (MinJobAge)`,
    async () => (await sshCheck(`squeue -h -t all --name=${runTag} -o %i`)).trim() === '',
    300_000,
    5000,
  );
  heldJobs.length = 0;
}

/** One controller pass, measured. */
async function measurePass(
  controller: Controller,
  registry: ReturnType<typeof measuredRegistry>,
  store: Store,
): Promise<PassMeasurement> {
  const eventsBefore = await countEvents(store);
  registry.shell.reset();
  registry.lastPoll.wallMs = registry.lastPoll.cpuMs = Number.NaN;
  const wall = performance.now();
  const cpu = process.cpuUsage();
  await controller.pass();
  const wallMs = performance.now() - wall;
  const passCpuMs = cpuMs(process.cpuUsage(cpu));
  if (Number.isNaN(registry.lastPoll.wallMs)) throw new Error('the pass did not poll the cluster');
  return {
    wallMs,
    cpuMs: passCpuMs,
    pollWallMs: registry.lastPoll.wallMs,
    pollCpuMs: registry.lastPoll.cpuMs,
    programs: registry.shell.commands,
    outputBytes: registry.shell.outputBytes,
    jobsChanged: (await countEvents(store)) - eventsBefore,
  };
}

async function countEvents(store: Store): Promise<number> {
  return (await store.query<{ count: number }>('select count(*)::int as count from events'))[0].count;
}

/** Statement timings (`--profile`): milliseconds and calls per statement, by pass. */
type Profile = Map<string, { count: number; ms: number }>;

/** `store` with every statement's time added to `profile.get(phase())`. */
function profiled(store: Store, profiles: Map<string, Profile>, phase: () => string): Store {
  const add = (sql: string, started: number) => {
    const profile = profiles.get(phase()) ?? new Map();
    profiles.set(phase(), profile);
    const key = sql.replace(/\s+/g, ' ').trim().slice(0, 90);
    const entry = profile.get(key) ?? { count: 0, ms: 0 };
    entry.count += 1;
    entry.ms += performance.now() - started;
    profile.set(key, entry);
  };
  const timed =
    (target: Queryable): Queryable['query'] =>
    async (sql, params) => {
      const started = performance.now();
      try {
        return await target.query(sql, params);
      } finally {
        add(sql, started);
      }
    };
  return Object.assign(Object.create(store) as Store, {
    query: timed(store),
    transaction: <T>(work: (tx: Queryable) => Promise<T>) => store.transaction((tx) => work({ query: timed(tx) })),
  });
}

function printProfile(label: string, profiles: Map<string, Profile>, passWallMs: Map<string, number>): void {
  for (const [phase, profile] of profiles) {
    const entries = [...profile.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const sqlMs = entries.reduce((sum, [, entry]) => sum + entry.ms, 0);
    console.error(
      `    ${label}, ${phase} pass: ${format(sqlMs)} ms in SQL, ${format((passWallMs.get(phase) ?? 0) - sqlMs)} ms elsewhere; ms, calls, statement:`,
    );
    for (const [key, entry] of entries.slice(0, 6))
      console.error(`    ${format(entry.ms).padStart(8)} ${String(entry.count).padStart(6)}  ${key}`);
  }
}

/** One run at one size: a fresh store tracking the first `size` held jobs, a first pass, then steady passes. */
async function monitorRun(
  size: number,
  statistics: Statistics,
): Promise<{ first: PassMeasurement; steady: PassMeasurement[] }> {
  const profiles = new Map<string, Profile>();
  const passWallMs = new Map<string, number>();
  let phase = 'setup';
  const opened = await storeTracking(heldJobs.slice(0, size), statistics);
  const store = options.profile ? profiled(opened, profiles, () => phase) : opened;
  const registry = measuredRegistry();
  const controller = new Controller({
    ...defaultConfig().controller,
    store,
    resources: registry,
    logger,
    exclusive: true,
    pollMs: 1000,
  });
  try {
    // Open the SSH connection outside the measured passes: Drover keeps it open.
    await registry.shell.run(['true']);
    const intervalMs = (cluster.config.pollIntervalSeconds ?? 5) * 1000;
    phase = 'first';
    const first = await measurePass(controller, registry, opened);
    passWallMs.set('first', first.wallMs);
    phase = 'setup';
    const [{ pending }] = await store.query<{ pending: number }>(
      `select count(*)::int as pending from jobs where native_state = 'PENDING' and reason = 'JobHeldUser'`,
    );
    if (pending !== size) throw new Error(`after the first pass ${pending} of ${size} jobs show PENDING (JobHeldUser)`);
    const steady: PassMeasurement[] = [];
    for (let pass = 0; pass < options.passes; pass++) {
      // The controller polls a resource once per its pollIntervalSeconds.
      await sleep(intervalMs + 50);
      phase = 'last steady';
      profiles.delete(phase);
      steady.push(await measurePass(controller, registry, opened));
      passWallMs.set(phase, steady.at(-1)!.wallMs);
      phase = 'setup';
    }
    profiles.delete('setup');
    if (options.profile) printProfile(`${size} jobs, statistics ${statistics}`, profiles, passWallMs);
    return { first, steady };
  } finally {
    await registry.close();
    await opened.close();
  }
}

async function benchMonitor(): Promise<string[]> {
  const config = await sshCheck('scontrol show config');
  const maxJobCount = Number(/^MaxJobCount\s*=\s*(\d+)/m.exec(config)![1]);
  const minJobAge = /^MinJobAge\s*=\s*(.+)$/m.exec(config)![1].trim();
  const load = await clusterLoad();
  const fits = maxJobCount - load.total - options.headroom;
  const sizes = [...new Set(options.sizes.map((size) => Math.min(size, fits)))];
  console.error(
    `monitor: MaxJobCount ${maxJobCount}, MinJobAge ${minJobAge}, ${load.total} jobs known to slurmctld now ` +
      `(${load.active} pending or running); up to ${fits} held jobs fit with ${options.headroom} slots left to others; sizes ${sizes.join(', ')}`,
  );
  const lines = [
    '| tracked jobs | store statistics | pass | commands per poll | squeue output, KB | poll wall, ms | poll CPU, ms | pass wall, ms | pass CPU, ms | job changes written |',
    '| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const size of sizes) {
    const submitSeconds = await growHeldJobs(size);
    if (submitSeconds > 0)
      console.error(
        `  ${heldJobs.length} held jobs on the cluster (${format(submitSeconds, 1)} s to submit the new ones)`,
      );
    for (const statistics of options.statistics) {
      const firsts: PassMeasurement[] = [];
      const steadies: PassMeasurement[] = [];
      for (let run = 1; run <= options.runs; run++) {
        const { first, steady } = await monitorRun(size, statistics);
        firsts.push(first);
        steadies.push(...steady);
        const brief = (pass: PassMeasurement) =>
          `${format(pass.wallMs)}/${format(pass.cpuMs)} ms (poll ${format(pass.pollWallMs)}/${format(pass.pollCpuMs)}) ${pass.programs.join('+')}`;
        console.error(
          `  ${size} jobs, statistics ${statistics}, run ${run}: first ${brief(first)}, ${first.jobsChanged} changes; steady ${steady.map(brief).join('; ')}`,
        );
      }
      const lowered = size === fits && options.sizes.some((wanted) => wanted > fits);
      const label = lowered ? `${format(size)} (all that fit)` : format(size);
      for (const [pass, measurements] of [
        ['first', firsts],
        ['steady', steadies],
      ] as const) {
        const column = (key: 'pollWallMs' | 'pollCpuMs' | 'wallMs' | 'cpuMs') =>
          `${format(medianOf(measurements.map((item) => item[key])))} (${rangeOf(
            measurements.map((item) => item[key]),
            0,
          )})`;
        const commandSets = [...new Set(measurements.map((item) => tally(item.programs)))].join(' or ');
        lines.push(
          `| ${label} | ${statistics} | ${pass} (${measurements.length}) | ${commandSets} | ${format(medianOf(measurements.map((item) => item.outputBytes)) / 1024, 1)} | ` +
            `${column('pollWallMs')} | ${column('pollCpuMs')} | ${column('wallMs')} | ${column('cpuMs')} | ${format(medianOf(measurements.map((item) => item.jobsChanged)))} |`,
        );
      }
    }
  }
  await cancelHeldJobs();
  return lines;
}

// ---- driver -------------------------------------------------------------------------

async function main(): Promise<void> {
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  console.error(
    `drover cluster bench (${runTag}): Node ${process.version}, ${cpuModel}; ${options.runs} run(s) per measurement`,
  );
  const onSignal = () => void cancelHeldJobs(false).finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const output: string[] = [];
  try {
    if (options.parts.includes('submit')) output.push(...(await benchSubmit()), '');
    if (options.parts.includes('monitor')) output.push(...(await benchMonitor()));
  } finally {
    await cancelHeldJobs(false).catch((error) => console.error(`cancelling the held jobs failed: ${error}`));
  }
  console.log(output.join('\n'));
}

// ---- helpers ------------------------------------------------------------------------

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

/** `squeue x1 + sacct x1` from a list of program names. */
function tally(programs: string[]): string {
  const counts = new Map<string, number>();
  for (const program of programs) counts.set(program, (counts.get(program) ?? 0) + 1);
  return [...counts].map(([program, count]) => `${count} ${program}`).join(' + ') || 'none';
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `min-max` of the values. */
function rangeOf(values: number[], digits: number): string {
  return `${format(Math.min(...values), digits)}-${format(Math.max(...values), digits)}`;
}

function format(value: number, digits = 0): string {
  if (Number.isNaN(value)) return '';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function rounded(measurement: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(measurement).map(([key, value]) => [
      key,
      typeof value === 'number' ? Math.round(value * 100) / 100 : value,
    ]),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
