/**
 * The BatchScheduler conformance suite: what every adapter (local, Slurm, PBS) must do,
 * checked the way a user would see it, against a real scheduler. Each test works in its
 * own workdir under the setup's scratch directory, cancels what it started and removes
 * the workdir. Tests wait with deadlines, never with fixed sleeps, and run concurrently.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchScheduler, JobObservation, JobSpec, SubmittedJob, TrackedJob } from '../../src/batch/port.ts';
import type { CommandResult, RunOptions, Shell } from '../../src/shell/port.ts';
import { isTerminalJobState } from '../../src/domain/job.ts';

/** How an adapter runs the suite. */
export interface SchedulerConformanceSetup {
  /** Runs commands as the scheduler's user where the jobs' files are; the suite reads results through it. */
  shell: Shell;
  /** A scheduler that talks through `shell` (one test passes a decorator that counts commands). */
  createScheduler(shell: Shell): BatchScheduler;
  /** An absolute directory on the resource; each test makes and removes its own workdir below it. */
  scratchDirectory: string;
  /** Spec fields for every job (a queue, an account). */
  specDefaults?: Partial<JobSpec>;
  /** Walltime of the overrun test (local: 0.05; Slurm's granularity is 1 minute). */
  overrunWalltimeMinutes: number;
  /** Deadline for the overrun job to be reported `timed-out` (Slurm: about 90 s after submit). */
  overrunLimitMs: number;
  /** Deadline for an ordinary job to start, or to end once it should. */
  settleMs: number;
  /** Pause between two polls while waiting. */
  pollIntervalMs: number;
  /**
   * Remote commands one poll of active jobs costs: 1 for clusters (the queue listing),
   * 0 for the local scheduler, which reads /proc and the job files directly.
   */
  commandsPerPoll: number;
  /**
   * Cluster only: a blocker of `blockerCoresPerNode` cores runs, and a job of
   * `pendingCoresPerNode` cores (the whole node) must then wait; the suite cancels it while
   * pending. The blocker asks for `blockerWalltimeMinutes`: the longer, the later the
   * scheduler plans to start the waiting job, so other short jobs may still run first (backfill).
   */
  pending?: { blockerCoresPerNode: number; pendingCoresPerNode: number; blockerWalltimeMinutes: number };
  /** How many jobs the scheduler has under a name, from its own queue and accounting listings. */
  countJobsNamed?(shell: Shell, submissionKey: string): Promise<number>;
  /** True while the scheduler's queue listing still shows the job; enables the "left the queue" test. */
  isListed?(shell: Shell, nativeId: string): Promise<boolean>;
  /** Deadline for a finished job to leave the queue listing (Slurm: MinJobAge + up to 60 s). */
  leaveQueueLimitMs?: number;
}

/** A Shell decorator that counts the commands run through it and delegates everything. */
export class CountingShell implements Shell {
  /** Programs (argv[0]) run since the last `reset`. */
  programs: string[] = [];

  constructor(private readonly inner: Shell) {}

  reset(): void {
    this.programs = [];
  }

  run(argv: string[], options?: RunOptions): Promise<CommandResult> {
    this.programs.push(argv[0] ?? '');
    return this.inner.run(argv, options);
  }
  makeDirectory(path: string): Promise<void> {
    return this.inner.makeDirectory(path);
  }
  writeFile(path: string, data: string | Buffer, mode?: number): Promise<void> {
    return this.inner.writeFile(path, data, mode);
  }
  readFile(path: string): Promise<Buffer | null> {
    return this.inner.readFile(path);
  }
  upload(localPath: string, remotePath: string): Promise<void> {
    return this.inner.upload(localPath, remotePath);
  }
  download(remotePath: string, localPath: string): Promise<void> {
    return this.inner.download(remotePath, localPath);
  }
  glob(directory: string, patterns: string[]): Promise<string[]> {
    return this.inner.glob(directory, patterns);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A Shell decorator that runs every command behind `prefix` (such as `env SLURM_CONF=...`). */
export class PrefixedShell extends CountingShell {
  constructor(
    inner: Shell,
    private readonly prefix: string[],
  ) {
    super(inner);
  }

  override run(argv: string[], options?: RunOptions): Promise<CommandResult> {
    return super.run([...this.prefix, ...argv], options);
  }
}

/** One test's world: its workdir, its scheduler, and the jobs to cancel at the end. */
interface Context {
  scheduler: BatchScheduler;
  shell: Shell;
  workdir: string;
  spec(argv: string[], overrides?: Partial<JobSpec>): JobSpec;
  submit(spec: JobSpec): Promise<TrackedJob>;
  /** Tracks a job submitted directly with `scheduler.submit`, so that it is canceled at the end. */
  track(spec: JobSpec, submitted: SubmittedJob): TrackedJob;
  poll(job: TrackedJob): Promise<JobObservation | undefined>;
  waitFor(
    job: TrackedJob,
    wanted: (observation: JobObservation) => boolean,
    what: string,
    limitMs: number,
  ): Promise<JobObservation>;
  waitForEnd(job: TrackedJob, limitMs?: number): Promise<JobObservation>;
  readText(relativePath: string): Promise<string | null>;
}

/** Shell metacharacters that must reach the program as plain text. */
const trickyText = `it's $(touch pwned) \`touch pwned\` * "q" ; touch pwned && echo \${HOME} \\ ~ !!`;

/**
 * Registers the suite under `describe(name)`; tests run concurrently. The caller owns
 * `setup.shell` and closes it after the suite (node:test `after`).
 */
export function schedulerConformance(name: string, setup: SchedulerConformanceSetup): void {
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const longest = setup.overrunLimitMs + setup.settleMs * 2;

  /** A test with its own workdir, whose jobs are canceled and workdir removed afterwards. */
  const schedulerTest = (title: string, timeoutMs: number, body: (context: Context) => Promise<void>) =>
    it(title, { timeout: timeoutMs }, async () => {
      const slug = title
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .slice(0, 40)
        .replace(/-+$/, '');
      const workdir = `${setup.scratchDirectory}/${runId}-${slug}`;
      const scheduler = setup.createScheduler(setup.shell);
      const started: TrackedJob[] = [];
      await setup.shell.makeDirectory(workdir);
      const context = makeContext(setup, scheduler, workdir, started);
      try {
        await body(context);
      } finally {
        for (const job of started) await scheduler.cancel(job).catch(() => {});
        await setup.shell.run(['rm', '-rf', '--', workdir]);
      }
    });

  describe(name, { concurrency: true }, () => {
    schedulerTest(
      'a job completes with exit 0 and its argv, environment and setup arrive verbatim',
      setup.settleMs * 3,
      async (t) => {
        const spec = t.spec(
          [
            'bash',
            '-c',
            'printf "%s\\n" "$DROVER_VALUE" "$DROVER_FROM_SETUP" "$@"',
            'drover',
            trickyText,
            'two\nlines',
            '',
            'end',
          ],
          {
            environment: { DROVER_VALUE: trickyText },
            environmentSetup: ['DROVER_FROM_SETUP="set up by the deployment"', 'export DROVER_FROM_SETUP'],
          },
        );
        const job = await t.submit(spec);
        const ended = await t.waitForEnd(job);
        assert.equal(ended.state, 'completed', describeEnd(ended, await t.readText('stderr.txt')));
        assert.equal(ended.exitCode, 0);
        assert.ok(ended.startedAt instanceof Date && ended.endedAt instanceof Date, 'start and end times are reported');
        assert.ok(ended.startedAt.getTime() <= ended.endedAt.getTime(), 'the job ended after it started');
        assert.equal(
          await t.readText('stdout.txt'),
          `${trickyText}\nset up by the deployment\n${trickyText}\ntwo\nlines\n\nend\n`,
        );
        assert.notEqual(await t.readText('stderr.txt'), null, 'stderr.txt exists');
        assert.equal(await t.readText('pwned'), null, 'an argv or environment value ran as a command');
      },
    );

    schedulerTest('a command that exits 3 fails with exit code 3', setup.settleMs * 3, async (t) => {
      const job = await t.submit(t.spec(['bash', '-c', 'echo oops >&2; exit 3']));
      const ended = await t.waitForEnd(job);
      assert.equal(ended.state, 'failed', describeEnd(ended, await t.readText('stderr.txt')));
      assert.equal(ended.exitCode, 3);
      assert.match((await t.readText('stderr.txt')) ?? '', /oops/);
    });

    schedulerTest('a job that runs past its walltime is timed-out', longest, async (t) => {
      const submittedAt = Date.now();
      const job = await t.submit(t.spec(['sleep', '600'], { walltimeMinutes: setup.overrunWalltimeMinutes }));
      const ended = await t.waitForEnd(job, setup.overrunLimitMs);
      assert.equal(ended.state, 'timed-out', describeEnd(ended, await t.readText('stderr.txt')));
      const walltimeMs = Math.ceil(setup.overrunWalltimeMinutes * 60) * 1000;
      assert.ok(Date.now() - submittedAt >= walltimeMs, 'stopped before its walltime');
    });

    schedulerTest(
      'submitting the same spec twice, in turn or at once, makes one job',
      setup.settleMs * 4,
      async (t) => {
        const command = ['bash', '-c', 'echo ran >> runs.txt; sleep 2'];
        const inTurn = t.spec(command);
        const first = await t.scheduler.submit(inTurn);
        const inTurnJob = t.track(inTurn, first);
        const second = await t.scheduler.submit(inTurn);
        assert.equal(first.adopted, false);
        assert.equal(second.adopted, true);
        assert.equal(second.nativeId, first.nativeId);
        const found = await t.scheduler.find({ workdir: t.workdir, submissionKeys: [inTurn.submissionKey] });
        assert.equal(found?.nativeId, first.nativeId);

        // Another spec, submitted twice at once, as two workers racing each other would.
        const atOnce = { ...t.spec(command), workdir: `${t.workdir}/at-once` };
        await t.shell.makeDirectory(atOnce.workdir);
        const racing = await Promise.all([
          t.scheduler.submit(atOnce),
          setup.createScheduler(setup.shell).submit(atOnce),
        ]);
        const atOnceJob = t.track(atOnce, racing[0]);
        assert.equal(racing[0].nativeId, racing[1].nativeId);
        assert.deepEqual(racing.map((result) => result.adopted).sort(), [false, true], 'exactly one submit adopts');

        for (const job of [inTurnJob, atOnceJob]) {
          const ended = await t.waitForEnd(job);
          assert.equal(ended.state, 'completed', describeEnd(ended, null));
        }
        assert.equal(await t.readText('runs.txt'), 'ran\n', 'the job ran once');
        assert.equal(await t.readText('at-once/runs.txt'), 'ran\n', 'the raced job ran once');
        if (setup.countJobsNamed) {
          assert.equal(await setup.countJobsNamed(t.shell, inTurn.submissionKey), 1, 'the scheduler lists one job');
          assert.equal(
            await setup.countJobsNamed(t.shell, atOnce.submissionKey),
            1,
            'the scheduler lists one raced job',
          );
        }
      },
    );

    schedulerTest(
      'attempts of one task make one job: in turn, later or earlier, and all at once',
      setup.settleMs * 4,
      async (t) => {
        const command = ['bash', '-c', 'echo ran >> runs.txt; sleep 2'];
        const attemptsOf = (workdir: string) => {
          const first = t.spec(command, { workdir });
          const keys = [first.submissionKey, newKey('attempt'), newKey('attempt')];
          return keys.map((submissionKey, index) => ({
            ...first,
            submissionKey,
            earlierSubmissionKeys: keys.slice(0, index),
          }));
        };
        // A retry adopts the first attempt's job; the first attempt, submitted again late (its
        // worker lost its lease and went on), adopts it too, under the key the job carries.
        const inTurn = attemptsOf(t.workdir);
        const first = await t.scheduler.submit(inTurn[0]);
        const firstJob = t.track(inTurn[0], first);
        assert.deepEqual(
          { adopted: first.adopted, key: first.submissionKey },
          { adopted: false, key: inTurn[0].submissionKey },
        );
        for (const attempt of [inTurn[2], inTurn[1], inTurn[0]]) {
          const again = await t.scheduler.submit(attempt);
          assert.deepEqual(
            { adopted: again.adopted, nativeId: again.nativeId, key: again.submissionKey },
            {
              adopted: true,
              nativeId: first.nativeId,
              key: inTurn[0].submissionKey,
            },
          );
        }

        // A later attempt that submitted first is adopted by an earlier one.
        const laterFirst = attemptsOf(`${t.workdir}/later-first`);
        await t.shell.makeDirectory(laterFirst[0].workdir);
        const second = await t.scheduler.submit(laterFirst[1]);
        const secondJob = t.track(laterFirst[1], second);
        const late = await t.scheduler.submit(laterFirst[0]);
        assert.deepEqual(
          { adopted: late.adopted, nativeId: late.nativeId, key: late.submissionKey },
          {
            adopted: true,
            nativeId: second.nativeId,
            key: laterFirst[1].submissionKey,
          },
        );

        // Three attempts at once, each through its own scheduler, as overlapping workers would.
        const atOnce = attemptsOf(`${t.workdir}/at-once`);
        await t.shell.makeDirectory(atOnce[0].workdir);
        const racing = await Promise.all(atOnce.map((attempt) => setup.createScheduler(setup.shell).submit(attempt)));
        const winner = racing.find((result) => !result.adopted);
        assert.ok(winner, 'one of the racing attempts submitted');
        const atOnceJob = t.track(
          atOnce.find((attempt) => attempt.submissionKey === winner.submissionKey)!,
          winner,
        );
        assert.deepEqual(
          racing.map((result) => result.adopted).sort(),
          [false, true, true],
          'exactly one attempt submits',
        );
        for (const result of racing) {
          assert.deepEqual(
            { nativeId: result.nativeId, key: result.submissionKey },
            { nativeId: winner.nativeId, key: winner.submissionKey },
          );
        }

        for (const job of [firstJob, secondJob, atOnceJob]) {
          const ended = await t.waitForEnd(job);
          assert.equal(ended.state, 'completed', describeEnd(ended, null));
        }
        for (const file of ['runs.txt', 'later-first/runs.txt', 'at-once/runs.txt']) {
          assert.equal(await t.readText(file), 'ran\n', `${file}: the task's job ran once`);
        }
        if (setup.countJobsNamed) {
          for (const attempts of [inTurn, laterFirst, atOnce]) {
            const counts = await Promise.all(
              attempts.map((attempt) => setup.countJobsNamed!(t.shell, attempt.submissionKey)),
            );
            assert.equal(
              counts.reduce((sum, count) => sum + count, 0),
              1,
              `the scheduler lists one job for ${attempts[0].submissionKey}`,
            );
          }
        }
      },
    );

    schedulerTest(
      'find returns null for unknown keys and the job for a list that holds its key',
      setup.settleMs * 3,
      async (t) => {
        const spec = t.spec(['true']);
        const job = await t.submit(spec);
        const unknown = [newKey('never'), newKey('never')];
        assert.equal(await t.scheduler.find({ workdir: t.workdir, submissionKeys: unknown }), null);
        assert.equal(await t.scheduler.find({ workdir: t.workdir, submissionKeys: [] }), null);
        const found = await t.scheduler.find({ workdir: t.workdir, submissionKeys: [unknown[0], spec.submissionKey] });
        assert.ok(found, 'the job was not found');
        assert.equal(found.nativeId, job.nativeId);
        assert.equal(found.submissionKey, spec.submissionKey);
        assert.equal(found.adopted, true);
        await t.waitForEnd(job);
      },
    );

    schedulerTest('cancel stops a running job and it is canceled', setup.settleMs * 4, async (t) => {
      const job = await t.submit(t.spec(['bash', '-c', 'echo $$ > pid.txt; exec sleep 300']));
      await t.waitFor(job, (observation) => observation.state === 'running', 'running', setup.settleMs);
      const pid = await waitForText(t, 'pid.txt', setup);
      await t.scheduler.cancel(job);
      const ended = await t.waitForEnd(job);
      assert.equal(ended.state, 'canceled', describeEnd(ended, await t.readText('stderr.txt')));
      // The shell runs where the job ran: this machine, or the single-node test cluster.
      await waitUntil(
        async () => (await t.shell.run(['kill', '-0', pid.trim()])).code !== 0,
        'the process to stop',
        setup,
      );
      await t.scheduler.cancel(job); // canceling an ended job succeeds
    });

    if (setup.pending) {
      const { blockerCoresPerNode, pendingCoresPerNode, blockerWalltimeMinutes } = setup.pending;
      schedulerTest('cancel removes a pending job and it is canceled without running', longest, async (t) => {
        const blocker = await t.submit(
          t.spec(['sleep', '600'], { coresPerNode: blockerCoresPerNode, walltimeMinutes: blockerWalltimeMinutes }),
        );
        await t.waitFor(
          blocker,
          (observation) => observation.state === 'running',
          'the blocker running',
          setup.overrunLimitMs,
        );
        const waiting = await t.submit(
          t.spec(['bash', '-c', 'echo ran > ran.txt'], { coresPerNode: pendingCoresPerNode }),
        );
        const pending = await t.poll(waiting);
        assert.equal(pending?.state, 'queued', `the whole-node job is ${JSON.stringify(pending)}`);

        await t.scheduler.cancel(waiting);
        const ended = await t.waitForEnd(waiting);
        assert.equal(ended.state, 'canceled', describeEnd(ended, null));
        assert.equal(await t.readText('ran.txt'), null, 'the canceled pending job ran');

        await t.scheduler.cancel(blocker);
        assert.equal((await t.waitForEnd(blocker)).state, 'canceled');
      });
    }

    schedulerTest(
      `one poll of 5 active jobs costs ${setup.commandsPerPoll} scheduler command(s)`,
      setup.settleMs * 3,
      async (t) => {
        const jobs: TrackedJob[] = [];
        for (let index = 0; index < 5; index += 1) jobs.push(await t.submit(t.spec(['sleep', '120'])));
        const counting = new CountingShell(setup.shell);
        const observations = await setup.createScheduler(counting).poll(jobs);
        assert.equal(counting.programs.length, setup.commandsPerPoll, `commands run: ${counting.programs.join(', ')}`);
        for (const job of jobs) {
          const observation = observations.get(job.nativeId);
          assert.ok(
            observation && !isTerminalJobState(observation.state),
            `job ${job.nativeId} is ${JSON.stringify(observation)}`,
          );
        }
        for (const job of jobs) await t.scheduler.cancel(job);
        for (const job of jobs) assert.equal((await t.waitForEnd(job)).state, 'canceled');
      },
    );

    schedulerTest(
      `the same poll brings back the end of each running job's stdout (${setup.commandsPerPoll} command(s))`,
      setup.settleMs * 3,
      async (t) => {
        // A short output, a long one (only its end comes back), and one with nothing yet,
        // each in its own workdir as experiments are.
        const commands = [
          ['bash', '-c', 'echo "::drover progress 1/4 first"; exec sleep 120'],
          ['bash', '-c', 'head -c 5000 /dev/zero | tr "\\0" x; echo; echo "::drover progress 3/4"; exec sleep 120'],
          ['sleep', '120'],
        ];
        const jobs: TrackedJob[] = [];
        for (const [index, argv] of commands.entries()) {
          const workdir = `${t.workdir}/job-${index}`;
          await t.shell.makeDirectory(workdir);
          jobs.push(await t.submit(t.spec(argv, { workdir })));
        }
        const counting = new CountingShell(setup.shell);
        const scheduler = setup.createScheduler(counting);
        let observations = new Map<string, JobObservation>();
        const deadline = Date.now() + setup.settleMs * 2;
        while (Date.now() < deadline) {
          counting.reset();
          observations = await scheduler.poll(jobs);
          if (jobs.slice(0, 2).every((job) => observations.get(job.nativeId)?.output?.text.includes('::drover'))) break;
          await sleep(setup.pollIntervalMs);
        }
        assert.equal(counting.programs.length, setup.commandsPerPoll, `commands run: ${counting.programs.join(', ')}`);
        const [short, long, quiet] = jobs.map((job) => observations.get(job.nativeId));
        assert.deepEqual(short?.output, { text: '::drover progress 1/4 first\n', truncated: false });
        assert.equal(long?.output?.truncated, true);
        assert.equal(Buffer.byteLength(long?.output?.text ?? ''), 2048);
        assert.ok(long?.output?.text.endsWith('x\n::drover progress 3/4\n'), JSON.stringify(long?.output));
        assert.equal(quiet?.output, undefined, 'a job that printed nothing has no output');
        for (const job of jobs) await t.scheduler.cancel(job);
        for (const job of jobs) assert.equal((await t.waitForEnd(job)).state, 'canceled');
      },
    );

    if (setup.isListed) {
      const isListed = setup.isListed;
      const leaveLimitMs = setup.leaveQueueLimitMs ?? setup.overrunLimitMs;
      schedulerTest(
        'a job that has left the queue listing is still reported with its exit code',
        leaveLimitMs + setup.settleMs * 3,
        async (t) => {
          const succeeding = t.spec(['true']);
          const failing = t.spec(['bash', '-c', 'exit 3']);
          const jobs = [await t.submit(succeeding), await t.submit(failing)];
          for (const job of jobs) await t.waitForEnd(job);
          for (const job of jobs) {
            await waitUntil(
              async () => !(await isListed(t.shell, job.nativeId)),
              `job ${job.nativeId} to leave the queue`,
              {
                ...setup,
                settleMs: leaveLimitMs,
              },
            );
          }
          const observations = await t.scheduler.poll(jobs);
          assert.equal(
            observations.get(jobs[0].nativeId)?.state,
            'completed',
            JSON.stringify(observations.get(jobs[0].nativeId)),
          );
          assert.equal(observations.get(jobs[0].nativeId)?.exitCode, 0);
          assert.equal(
            observations.get(jobs[1].nativeId)?.state,
            'failed',
            JSON.stringify(observations.get(jobs[1].nativeId)),
          );
          assert.equal(observations.get(jobs[1].nativeId)?.exitCode, 3);
          const found = await t.scheduler.find({
            workdir: t.workdir,
            submissionKeys: [newKey('never'), succeeding.submissionKey],
          });
          assert.equal(found?.nativeId, jobs[0].nativeId);
        },
      );
    }
  });

  function makeContext(
    suiteSetup: SchedulerConformanceSetup,
    scheduler: BatchScheduler,
    workdir: string,
    started: TrackedJob[],
  ): Context {
    const context: Context = {
      scheduler,
      shell: suiteSetup.shell,
      workdir,
      spec: (argv, overrides = {}) => ({
        submissionKey: newKey('conformance'),
        workdir,
        jobName: 'drover-conformance',
        nodes: 1,
        coresPerNode: 1,
        walltimeMinutes: 2,
        environmentSetup: [],
        argv,
        ...suiteSetup.specDefaults,
        ...overrides,
      }),
      async submit(spec) {
        return context.track(spec, await scheduler.submit(spec));
      },
      track(spec, submitted) {
        const job = track(spec, submitted);
        started.push(job);
        return job;
      },
      async poll(job) {
        return (await scheduler.poll([job])).get(job.nativeId);
      },
      async waitFor(job, wanted, what, limitMs) {
        const deadline = Date.now() + limitMs;
        let last: JobObservation | undefined;
        for (;;) {
          last = await context.poll(job);
          if (last && wanted(last)) return last;
          if (Date.now() > deadline)
            assert.fail(`job ${job.nativeId} not ${what} after ${limitMs} ms; last seen ${JSON.stringify(last)}`);
          await sleep(suiteSetup.pollIntervalMs);
        }
      },
      waitForEnd(job, limitMs = suiteSetup.settleMs) {
        return context.waitFor(job, (observation) => isTerminalJobState(observation.state), 'ended', limitMs);
      },
      async readText(relativePath) {
        const data = await suiteSetup.shell.readFile(`${workdir}/${relativePath}`);
        return data === null ? null : data.toString('utf8');
      },
    };
    return context;
  }
}

/** A fresh submission key. */
function newKey(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}.attempt-1`;
}

/** The TrackedJob a store would hand back (through JSON, as a database would). */
function track(spec: JobSpec, submitted: SubmittedJob): TrackedJob {
  return JSON.parse(
    JSON.stringify({
      nativeId: submitted.nativeId,
      workdir: spec.workdir,
      submissionKey: submitted.submissionKey,
      details: submitted.details,
    }),
  );
}

async function waitUntil(
  condition: () => Promise<boolean>,
  what: string,
  setup: { settleMs: number; pollIntervalMs: number },
): Promise<void> {
  const deadline = Date.now() + setup.settleMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`waited ${setup.settleMs} ms for ${what}`);
    await sleep(setup.pollIntervalMs);
  }
}

async function waitForText(context: Context, relativePath: string, setup: SchedulerConformanceSetup): Promise<string> {
  let text: string | null = null;
  await waitUntil(
    async () => (text = await context.readText(relativePath)) !== null && text.trim() !== '',
    relativePath,
    setup,
  );
  return text!;
}

function describeEnd(observation: JobObservation, stderr: string | null): string {
  return `ended ${JSON.stringify(observation)}${stderr ? `; stderr.txt: ${stderr}` : ''}`;
}
