/**
 * Job array benchmark, at the adapter level: N JobSpecs (default 1,000), each in a workdir
 * of its own, submitted through one `SlurmScheduler` on the test cluster of
 * scripts/start-slurm.sh (over SSH as hpcuser), with and without one `arrayGroup`.
 *
 * The submits arrive as a worker makes them: a simulated worker of `--concurrency` slots
 * (default 32) whose tasks spend `--prepare-ms` (default 5, the submit handler's reads of
 * the experiment) before `submit`, and then lend their slot while they wait, up to
 * `--max-waiting` at once (default 1000, `worker.maxWaiting`), exactly as
 * `TaskContext.whileWaiting` does; `--arrival burst` calls every submit in one turn.
 *
 * Reports, per run: the remote commands of the submit (batch commands, and the one
 * `scontrol show config` an array reads once), the batches' job counts, seconds until
 * every submit was answered and until squeue listed every job, and the remote commands of
 * one `poll` of all N jobs (pending or just started: one squeue). Every job is cancelled
 * (by array id or job id) right after, also on Ctrl-C.
 *
 *   npm run bench:array -- [--jobs 1000] [--runs 2] [--modes array,single]
 *        [--arrival worker|burst] [--concurrency 32] [--max-waiting 1000] [--prepare-ms 5]
 *        [--without-perl]
 *   (the same as node --import tsx bench/array.bench.ts ...)
 *
 * `--without-perl`: the login node's PATH without perl, as on a login node that has none
 * (each element's lock and claim then cost a fork of their own).
 *
 * Needs the test cluster and root (the SSH key is root's). Results: bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { JobSpec, SubmittedJob } from '../src/batch/port.ts';
import type { CommandResult, RunOptions } from '../src/shell/port.ts';
import { SlurmScheduler } from '../src/batch/slurm/slurm-scheduler.ts';
import { CountingShell, PrefixedShell } from '../test/conformance/scheduler-suite.ts';
import { clusterTask, connectToTestCluster } from '../test/test-cluster.ts';

const { values: flags } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'array,single' },
    arrival: { type: 'string', default: 'worker' },
    concurrency: { type: 'string', default: '32' },
    'max-waiting': { type: 'string', default: '1000' },
    'prepare-ms': { type: 'string', default: '5' },
    'without-perl': { type: 'boolean', default: false },
  },
});
const count = Number(flags.jobs);
const runs = Number(flags.runs);
const modes = flags.modes!.split(',') as Array<'array' | 'single'>;
const arrival = flags.arrival as 'worker' | 'burst';
const concurrency = Number(flags.concurrency);
const maxWaiting = Number(flags['max-waiting']);
const prepareMs = Number(flags['prepare-ms']);
if (modes.some((mode) => mode !== 'array' && mode !== 'single')) throw new Error('--modes: array, single');
if (arrival !== 'worker' && arrival !== 'burst') throw new Error('--arrival: worker or burst');

const shell = connectToTestCluster();
const scratch = `/home/hpcuser/drover-scratch/array-bench/${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const toCancel = new Set<string>();
async function cancelAll(): Promise<void> {
  const ids = [...toCancel];
  toCancel.clear();
  for (let start = 0; start < ids.length; start += 500) await shell.run(['scancel', ...ids.slice(start, start + 500)]);
}
process.on('SIGINT', () => {
  void cancelAll().finally(() => process.exit(130));
});

/** CountingShell that also keeps each command's seconds, in the order they were run. */
class TimedShell extends CountingShell {
  seconds: number[] = [];
  override async run(argv: string[], options?: RunOptions): Promise<CommandResult> {
    const index = this.seconds.push(0) - 1;
    const startedAt = performance.now();
    try {
      return await super.run(argv, options);
    } finally {
      this.seconds[index] = (performance.now() - startedAt) / 1000;
    }
  }
  override reset(): void {
    super.reset();
    this.seconds = [];
  }
}

/**
 * Calls `submit` for each spec as a worker's tasks would: `concurrency` slots; a task
 * prepares for `prepareMs` holding its slot, then waits for its submit, lending the slot
 * while fewer than `maxWaiting` wait so (`Worker.whileWaiting`).
 */
async function submitAsWorker(specs: JobSpec[], submit: (spec: JobSpec) => Promise<SubmittedJob>) {
  if (arrival === 'burst') return Promise.all(specs.map(submit));
  const results: SubmittedJob[] = new Array(specs.length);
  let next = 0;
  let slotsFree = concurrency;
  let waiting = 0;
  let wake: (() => void) | null = null;
  const freed = () => {
    slotsFree += 1;
    wake?.();
  };
  const running: Array<Promise<void>> = [];
  while (next < specs.length) {
    if (slotsFree === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      continue;
    }
    slotsFree -= 1;
    const index = next++;
    running.push(
      (async () => {
        await sleep(prepareMs);
        const work = submit(specs[index]);
        if (waiting < maxWaiting) {
          waiting += 1;
          freed();
          results[index] = await work;
          waiting -= 1;
        } else {
          results[index] = await work;
          freed();
        }
      })(),
    );
  }
  await Promise.all(running);
  return results;
}

async function run(mode: 'array' | 'single', round: number) {
  const group = `bench-${round}-${randomBytes(3).toString('hex')}`;
  const specs = Array.from({ length: count }, (_, index) =>
    clusterTask(scratch, `${mode}-${group}-${index}`, {
      walltimeMinutes: 1,
      // Still pending or running when polled: the poll is squeue alone, as in steady state.
      argv: ['sleep', '60'],
      ...(mode === 'array' ? { arrayGroup: group } : {}),
    }).spec(1),
  );
  // The workdirs exist before the submits, as env-setup makes them.
  await shell.run([
    'bash',
    '-c',
    'cd "$1" && shift && mkdir -p -- "$@"',
    'x',
    scratch,
    ...specs.map((spec) => spec.workdir.slice(scratch.length + 1)),
  ]);
  const counting = new TimedShell(
    flags['without-perl'] ? new PrefixedShell(shell, ['env', `PATH=${scratch}/without-perl`]) : shell,
  );
  const batches: number[] = [];
  const scheduler = new SlurmScheduler({
    shell: counting,
    resource: 'cluster',
    onSubmitBatch: (jobs) => batches.push(jobs),
  });
  const startedAt = performance.now();
  const submitted = submitAsWorker(specs, (spec) => scheduler.submit(spec));
  const ids = new Set<string>();
  const answered = submitted.then((jobs) => {
    for (const job of jobs) {
      ids.add(job.nativeId);
      toCancel.add(job.nativeId.split('_')[0]);
    }
    return performance.now();
  });
  const answeredAt = await answered;
  const jobs = await submitted;
  const submitCommands = [...counting.programs];
  const commandSeconds = counting.seconds.map((seconds) => seconds.toFixed(1)).join('+');
  // Until squeue lists every job (by id, elements one a line).
  const listedAt = await (async () => {
    for (;;) {
      const listed = await shell.run(['squeue', '--me', '-h', '-r', '-t', 'all', '-o', '%i']);
      const seen = new Set(listed.stdout.split('\n').map((line) => line.trim()));
      if ([...ids].every((id) => seen.has(id))) return performance.now();
      await sleep(100);
    }
  })();
  counting.reset();
  const observations = await scheduler.poll(
    jobs.map((job, index) => ({
      nativeId: job.nativeId,
      workdir: specs[index].workdir,
      submissionKey: job.submissionKey,
      details: {},
    })),
  );
  const pollCommands = [...counting.programs];
  const states = new Map<string, number>();
  for (const observation of observations.values())
    states.set(observation.nativeState, (states.get(observation.nativeState) ?? 0) + 1);
  await cancelAll();
  return {
    mode,
    submitCommands: submitCommands.length,
    commandKinds: submitCommands.join(','),
    commandSeconds,
    batches: batches.join('+'),
    arrays: new Set(jobs.map((job) => job.nativeId.split('_')[0])).size,
    answeredSeconds: ((answeredAt - startedAt) / 1000).toFixed(2),
    listedSeconds: ((listedAt - startedAt) / 1000).toFixed(2),
    pollCommands: pollCommands.length,
    states: [...states].map(([state, jobs]) => `${jobs} ${state}`).join(', '),
  };
}

try {
  await shell.makeDirectory(scratch);
  if (flags['without-perl']) {
    // Every program of the login node but perl: each element's lock and claim then cost a fork.
    await shell.run([
      'bash',
      '-c',
      'mkdir -p "$1" && for f in /usr/local/bin/* /usr/bin/* /bin/*; do case ${f##*/} in perl*) ;; *) ln -sf "$f" "$1/" ;; esac; done',
      'link',
      `${scratch}/without-perl`,
    ]);
  }
  console.log(
    `# ${count} jobs, arrival ${arrival}${arrival === 'worker' ? ` (concurrency ${concurrency}, maxWaiting ${maxWaiting}, prepare ${prepareMs} ms)` : ''}`,
  );
  console.log(
    '| mode | run | submit commands | batches (jobs) | arrays | all answered (s) | all in squeue (s) | commands per poll |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (let round = 1; round <= runs; round += 1) {
    for (const mode of modes) {
      const row = await run(mode, round);
      console.log(
        `| ${row.mode} | ${round} | ${row.submitCommands} (${row.commandKinds}; ${row.commandSeconds} s) | ${row.batches} | ${mode === 'array' ? row.arrays : '-'} | ${row.answeredSeconds} | ${row.listedSeconds} | ${row.pollCommands} | ${row.states} |`,
      );
      // Let slurmctld purge the cancelled jobs before the next run.
      await sleep(2_000);
    }
  }
} finally {
  await cancelAll();
  if (!process.env.KEEP) await shell.run(['rm', '-rf', '--', scratch]);
  await shell.close();
}
