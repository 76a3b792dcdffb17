/**
 * BatchScheduler adapter for this machine: each job is a detached bash wrapper (a session
 * leader) that runs the command under GNU `timeout` and leaves its pid and exit status in
 * `<workdir>/.drover-job/<submissionKey>/`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BatchScheduler,
  FoundJob,
  JobObservation,
  JobSpec,
  StartOutlook,
  SubmittedJob,
  TrackedJob,
} from '../port.ts';
import type { Shell } from '../../shell/port.ts';
import { localJobFiles, renderLocalScript } from './render-local-script.ts';
import { isPlainSubmissionKey, jobDirectoryOf, taskClaimOf } from '../job-script.ts';
import { readOutputTailFile, stdoutPathOf } from '../output-tail.ts';

const pidWaitIntervalMs = 5;
const pidWaitLimitMs = 10_000;
const cancelWaitIntervalMs = 50;
const cancelTermLimitMs = 5_000;
const cancelKillLimitMs = 1_000;

/** Options for `LocalScheduler`. */
export interface LocalSchedulerOptions {
  /**
   * Writes the job directory and script: a shell on this machine (the resource registry
   * passes a `LocalShell`). Jobs themselves start with `spawn` and are watched through
   * /proc, which only a local scheduler can do, so no other shell makes sense here.
   */
  shell: Shell;
}

/** What the local scheduler keeps in `SubmittedJob.details` and reads back from `TrackedJob.details`. */
export interface LocalJobDetails {
  /** The wrapper's pid: it leads the job's session. */
  pid: number;
  /** Field 22 of /proc/<pid>/stat when the wrapper started, or null if it was not seen. */
  startTicks: number | null;
}

/** The fields of /proc/<pid>/stat the scheduler needs. */
interface ProcessStatus {
  /** Field 3: R, S, D, Z, ... */
  state: string;
  /** Field 6. */
  sessionId: number;
  /** Field 22. */
  startTicks: number;
}

/**
 * Runs jobs as processes on this machine. A job survives the end of the Drover process
 * that submitted it, and any later `LocalScheduler` can poll or cancel it from its
 * `TrackedJob` alone.
 */
export class LocalScheduler implements BatchScheduler {
  readonly kind = 'local' as const;
  private readonly shell: Shell;

  constructor(options: LocalSchedulerOptions) {
    this.shell = options.shell;
  }

  /** The bash script `submit` runs; see `renderLocalScript`. */
  renderScript(spec: JobSpec): string {
    return renderLocalScript(spec);
  }

  /**
   * Starts the job once per task. When the task's job already exists (an attempt of the
   * task, this one or an earlier or later one, claimed it first: see `taskClaimOf`) that
   * job is returned with `adopted: true` and the key it carries. `nativeId` is the
   * wrapper's pid in decimal.
   *
   * @throws {Error} when the wrapper cannot start or does not write its pid within 10 s.
   */
  async submit(spec: JobSpec): Promise<SubmittedJob> {
    const script = renderLocalScript(spec);
    await this.shell.makeDirectory(`${spec.workdir}/.drover-job`);

    const existing = await this.readTaskJob(spec);
    if (existing) return { ...existing, adopted: true };

    const scriptPath = `${jobDirectoryOf(spec.workdir, spec.submissionKey)}.sh`;
    await this.shell.writeFile(scriptPath, script, 0o700);

    // detached: the wrapper calls setsid, so it leads a new session and outlives us.
    const child = spawn('bash', [scriptPath], { cwd: spec.workdir, detached: true, stdio: 'ignore' });
    let exit: { code: number | null; error?: Error } | null = null;
    child.on('error', (error) => {
      exit = { code: null, error };
    });
    child.on('exit', (code) => {
      exit ??= { code };
    });
    child.unref();

    const deadline = Date.now() + pidWaitLimitMs;
    for (;;) {
      const submitted = await this.readTaskJob(spec);
      if (submitted) {
        // Another submit's wrapper won the claim: ours exited at once and we adopt.
        return {
          ...submitted,
          adopted: submitted.submissionKey !== spec.submissionKey || submitted.details.pid !== child.pid,
        };
      }
      const ended = exit as { code: number | null; error?: Error } | null;
      // Exit 0 without a pid means the task is claimed and its owner is about to write one.
      if (ended && ended.code !== 0) {
        throw new Error(
          `local job ${spec.submissionKey} did not start: ${ended.error?.message ?? `wrapper exited with ${ended.code}`}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(`local job ${spec.submissionKey} wrote no pid within ${pidWaitLimitMs} ms`);
      }
      await sleep(pidWaitIntervalMs);
    }
  }

  /**
   * The first job submitted under one of `submissionKeys` in `workdir` (with `adopted: true`),
   * or null when no wrapper has written its pid there (never submitted, or keys no submit
   * accepts). When a wrapper has claimed the task (the claim of the first key) but not yet
   * written its pid, it waits up to 10 s for that pid.
   */
  async find(job: { workdir: string; submissionKeys: string[] }): Promise<FoundJob | null> {
    const keys = job.submissionKeys.filter(isPlainSubmissionKey);
    if (keys.length === 0) return null;
    const claimed = { workdir: job.workdir, submissionKey: keys[0] };
    const deadline = Date.now() + pidWaitLimitMs;
    for (;;) {
      const submitted = await this.readTaskJob(claimed);
      if (submitted || Date.now() > deadline || !(await this.isClaimed(claimed))) break;
      await sleep(pidWaitIntervalMs);
    }
    return this.findRecorded(job.workdir, keys);
  }

  /** True when a wrapper has claimed the task of `spec` (see `taskClaimOf`). */
  private async isClaimed(spec: { workdir: string; submissionKey: string }): Promise<boolean> {
    return fs.lstat(taskClaimOf(spec)).then(
      () => true,
      () => false,
    );
  }

  /** The first job of `submissionKeys` whose wrapper wrote its pid in `workdir`. */
  private async findRecorded(workdir: string, submissionKeys: string[]): Promise<FoundJob | null> {
    for (const submissionKey of submissionKeys) {
      if (!isPlainSubmissionKey(submissionKey)) continue;
      const submitted = await this.readSubmittedJob(jobDirectoryOf(workdir, submissionKey));
      if (submitted) return { ...submitted, adopted: true, submissionKey };
    }
    return null;
  }

  /**
   * The task's job: the one of the key the task's claim names, or, without a claim, one of
   * the spec's keys made before task claims existed; null while the claim's owner has not
   * written its pid yet.
   */
  private async readTaskJob(
    spec: Pick<JobSpec, 'workdir' | 'submissionKey' | 'earlierSubmissionKeys'>,
  ): Promise<Omit<SubmittedJob, 'adopted'> | null> {
    let owner: string | null = null;
    try {
      owner = await fs.readlink(taskClaimOf(spec));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (owner !== null) {
      if (!isPlainSubmissionKey(owner))
        throw new Error(`unreadable task claim ${taskClaimOf(spec)} -> ${JSON.stringify(owner)}`);
      const submitted = await this.readSubmittedJob(jobDirectoryOf(spec.workdir, owner));
      return submitted ? { ...submitted, submissionKey: owner } : null;
    }
    return this.findRecorded(
      spec.workdir,
      [...(spec.earlierSubmissionKeys ?? []), spec.submissionKey].filter(isPlainSubmissionKey),
    );
  }

  /**
   * Observes all `jobs` in one pass over their job directories and /proc, without
   * starting a process. In order: an exit code of 0 is `completed`; a `canceled` marker
   * is `canceled` (`killed`); an exit after the walltime is `timed-out` (`timeout`);
   * another exit code is `failed`; a live, non-zombie process with the recorded start
   * ticks is `running`; otherwise `lost` (`vanished`). Jobs whose job directory is gone
   * are omitted.
   */
  async poll(jobs: TrackedJob[]): Promise<Map<string, JobObservation>> {
    const observations = await Promise.all(
      jobs.map(async (job) => {
        const observation = await this.observe(job);
        // Read after the state, so that a job seen ending has its last words read too.
        const output = observation && (await readOutputTailFile(stdoutPathOf(job)));
        return observation && output ? { ...observation, output } : observation;
      }),
    );
    const byNativeId = new Map<string, JobObservation>();
    for (const observation of observations) {
      if (observation) byNativeId.set(observation.nativeId, observation);
    }
    return byNativeId;
  }

  /**
   * Local jobs start as soon as they are submitted: the only wait is Drover's own admission,
   * which the resource choice counts apart.
   */
  async expectStart(): Promise<StartOutlook> {
    return { startsInSeconds: 0, basis: 'runs at once on the Drover host' };
  }

  /**
   * Writes the `canceled` marker, sends SIGTERM to every process in the job's session,
   * waits up to 5 s for them to end, then sends SIGKILL to what remains. Kills by session
   * because `timeout` moves the command into its own process group. Succeeds when the
   * job already ended; does nothing to a session whose leader is a newer process that
   * reuses the pid.
   */
  async cancel(job: TrackedJob): Promise<void> {
    const jobDirectory = jobDirectoryOf(job.workdir, job.submissionKey);
    const details = readDetails(job);
    await this.shell.writeFile(`${jobDirectory}/${localJobFiles.canceled}`, `${new Date().toISOString()}\n`);

    const leader = await readProcessStatus(details.pid);
    if (leader && !(await isJobWrapper(details, leader, jobDirectory))) {
      // The pid belongs to someone else now. While any member of our session lived, the
      // kernel could not have reused the number, so our job has nothing left to kill.
      return;
    }
    if ((await signalSession(details.pid, 'SIGTERM')) === 0) return;
    if (await waitForEmptySession(details.pid, cancelTermLimitMs)) return;
    await signalSession(details.pid, 'SIGKILL');
    await waitForEmptySession(details.pid, cancelKillLimitMs);
  }

  /** Reads the pid (and start ticks) a claimed key's wrapper wrote, or null before that. */
  private async readSubmittedJob(
    jobDirectory: string,
  ): Promise<Omit<SubmittedJob, 'adopted' | 'submissionKey'> | null> {
    const pidText = await this.shell.readFile(`${jobDirectory}/${localJobFiles.pid}`);
    if (!pidText) return null;
    const pid = Number.parseInt(pidText.toString('utf8'), 10);
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      throw new Error(`unreadable pid file in ${jobDirectory}`);
    }
    const startTicksText = await this.shell.readFile(`${jobDirectory}/${localJobFiles.startTicks}`);
    let startTicks = startTicksText ? Number.parseInt(startTicksText.toString('utf8'), 10) : Number.NaN;
    if (!Number.isSafeInteger(startTicks)) {
      startTicks = (await readProcessStatus(pid))?.startTicks ?? Number.NaN;
    }
    const details: LocalJobDetails = { pid, startTicks: Number.isSafeInteger(startTicks) ? startTicks : null };
    return { nativeId: String(pid), details: { ...details } };
  }

  private async observe(job: TrackedJob): Promise<JobObservation | null> {
    const jobDirectory = jobDirectoryOf(job.workdir, job.submissionKey);
    const details = readDetails(job);
    const pidTimes = await statOrNull(`${jobDirectory}/${localJobFiles.pid}`);
    const base = { nativeId: job.nativeId, startedAt: pidTimes?.mtime };

    let ended = await readEnding(jobDirectory);
    if (!ended) {
      const status = await readProcessStatus(details.pid);
      if (status && status.state !== 'Z' && (await isJobWrapper(details, status, jobDirectory))) {
        return { ...base, state: 'running', nativeState: 'running' };
      }
      // The wrapper writes its exit code before it exits: look again in case it just did.
      ended = await readEnding(jobDirectory);
    }
    if (!ended) {
      if (!pidTimes && !(await statOrNull(jobDirectory))) return null;
      return { ...base, state: 'lost', nativeState: 'vanished', reason: 'process vanished without an exit code' };
    }

    const { exitCode, endedAt, canceled, walltimeExceeded } = ended;
    if (exitCode === 0) {
      return { ...base, state: 'completed', nativeState: 'exited', exitCode, endedAt };
    }
    if (canceled) {
      return { ...base, state: 'canceled', nativeState: 'killed', exitCode, endedAt, reason: 'canceled' };
    }
    if (walltimeExceeded && (exitCode === 124 || exitCode === 137)) {
      return { ...base, state: 'timed-out', nativeState: 'timeout', exitCode, endedAt, reason: 'walltime exceeded' };
    }
    return { ...base, state: 'failed', nativeState: 'exited', exitCode, endedAt };
  }
}

/** What the job directory says about a job that ended (or was canceled), or null. */
async function readEnding(jobDirectory: string): Promise<{
  exitCode: number | null;
  endedAt?: Date;
  canceled: boolean;
  walltimeExceeded: boolean;
} | null> {
  const [exitCodeText, exitCodeTimes, canceledTimes] = await Promise.all([
    readTextOrNull(`${jobDirectory}/${localJobFiles.exitCode}`),
    statOrNull(`${jobDirectory}/${localJobFiles.exitCode}`),
    statOrNull(`${jobDirectory}/${localJobFiles.canceled}`),
  ]);
  if (exitCodeText === null) {
    // Canceled and not (yet) ended: the kill is under way or the wrapper died by SIGKILL.
    return canceledTimes
      ? { exitCode: null, endedAt: canceledTimes.mtime, canceled: true, walltimeExceeded: false }
      : null;
  }
  const exitCode = Number.parseInt(exitCodeText, 10);
  return {
    exitCode: Number.isSafeInteger(exitCode) ? exitCode : null,
    endedAt: exitCodeTimes?.mtime,
    canceled: canceledTimes !== null,
    walltimeExceeded: (await statOrNull(`${jobDirectory}/${localJobFiles.walltimeExceeded}`)) !== null,
  };
}

/**
 * True when the live process `status` is the job's wrapper and not a later process that
 * reuses its pid: by start ticks, or, when those were never recorded, by its command line
 * naming the job's script.
 */
async function isJobWrapper(details: LocalJobDetails, status: ProcessStatus, jobDirectory: string): Promise<boolean> {
  if (details.startTicks !== null) return status.startTicks === details.startTicks;
  const commandLine = await readTextOrNull(`/proc/${details.pid}/cmdline`);
  return commandLine !== null && commandLine.split('\0').includes(`${jobDirectory}.sh`);
}

/** Pid and start ticks from a TrackedJob (details first, nativeId as the fallback pid). */
function readDetails(job: TrackedJob): LocalJobDetails {
  const pid = typeof job.details.pid === 'number' ? job.details.pid : Number.parseInt(job.nativeId, 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new RangeError(`local job ${job.submissionKey} has no usable pid (nativeId ${JSON.stringify(job.nativeId)})`);
  }
  const startTicks = typeof job.details.startTicks === 'number' ? job.details.startTicks : null;
  return { pid, startTicks };
}

/** Parses /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
function parseProcessStatus(text: string): ProcessStatus | null {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 of the file.
  const sessionId = Number(fields[3]);
  const startTicks = Number(fields[19]);
  if (!fields[0] || !Number.isSafeInteger(sessionId) || !Number.isSafeInteger(startTicks)) return null;
  return { state: fields[0], sessionId, startTicks };
}

async function readProcessStatus(pid: number): Promise<ProcessStatus | null> {
  const text = await readTextOrNull(`/proc/${pid}/stat`);
  return text === null ? null : parseProcessStatus(text);
}

/** Pids of the live (not zombie) processes whose session id is `sessionId`. */
async function listSession(sessionId: number): Promise<number[]> {
  const entries = await fs.readdir('/proc');
  const statuses = await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => ({ pid: Number(entry), status: await readProcessStatus(Number(entry)) })),
  );
  return statuses
    .filter(({ status }) => status !== null && status.sessionId === sessionId && status.state !== 'Z')
    .map(({ pid }) => pid);
}

/** Sends `signal` to every live process of the session; returns how many there were. */
async function signalSession(sessionId: number, signal: NodeJS.Signals): Promise<number> {
  const pids = await listSession(sessionId);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // already gone
    }
  }
  return pids.length;
}

/** Waits until no live process is left in the session; false when `limitMs` ran out. */
async function waitForEmptySession(sessionId: number, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if ((await listSession(sessionId)).length === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(cancelWaitIntervalMs);
  }
}

async function readTextOrNull(filePath: string): Promise<string | null> {
  try {
    return await fs.readFile(filePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw error;
  }
}

async function statOrNull(filePath: string): Promise<import('node:fs').Stats | null> {
  try {
    return await fs.stat(filePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
