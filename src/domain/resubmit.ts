/**
 * Automatic resubmit: a job that ended for lack of walltime or memory runs again with more,
 * within its queue's limits and the cap its application sets (`resubmit` in the catalogue).
 * Pure rules; the controller applies them when it completes the job's monitor
 * (state/task-state.ts `rerunTasks` makes the submit run again).
 */
import type { ResubmitPolicy } from './application.ts';
import type { JobState } from './job.ts';
import type { JobSettings, QueueSpec, ResourceSpec } from './resource.ts';

/** The factor a policy applies when it names none. */
export const defaultResubmitFactor = 2;

/** What a job lacked: its walltime, or memory. */
export type ResubmitCause = 'walltime' | 'memory';

/**
 * Native states that mean a job was killed for using more memory than it asked for: Slurm's
 * `OUT_OF_MEMORY` (squeue's long form) and `OOM` (its short form).
 */
const outOfMemoryNativeStates: ReadonlySet<string> = new Set(['OUT_OF_MEMORY', 'OOM']);

/**
 * Exit codes of a job killed by SIGKILL: 137 (128 + 9, what a shell reports) and 265 (256 + 9,
 * what Torque and PBS Pro report). A PBS server that enforces a job's `mem` kills it so.
 */
const killedExitCodes: ReadonlySet<number> = new Set([137, 265]);

/**
 * Why a job ended that more resources may fix, or null. A timeout is a walltime cause on
 * every kind of resource. Memory: Slurm names it (`OUT_OF_MEMORY`); PBS says only that the
 * job was killed (exit 137 or 265), which is read as memory when the job asked for a memory
 * limit; `local` sets no memory limit, so a killed local job is never a memory cause.
 */
export function resubmitCause(
  kind: ResourceSpec['kind'],
  job: { state: JobState; nativeState: string | null; exitCode: number | null },
  settings: JobSettings,
): ResubmitCause | null {
  if (job.state === 'timed-out') return 'walltime';
  if (job.state !== 'failed') return null;
  if (kind === 'slurm' && job.nativeState !== null && outOfMemoryNativeStates.has(job.nativeState)) return 'memory';
  if (kind === 'pbs' && settings.memoryMb !== undefined && job.exitCode !== null && killedExitCodes.has(job.exitCode))
    return 'memory';
  return null;
}

/** What to do with a job that ended for lack of walltime or memory. */
export type ResubmitDecision =
  | {
      resubmit: true;
      settings: JobSettings;
      /** The event's message: what ran out, the old and the new value, which attempt of how many. */
      message: string;
      data: {
        cause: ResubmitCause;
        attempt: number;
        attempts: number;
        from: { walltimeMinutes: number; memoryMb: number | null };
        to: { walltimeMinutes: number; memoryMb: number | null };
      };
    }
  | {
      resubmit: false;
      /** Why not, for the experiment's failure message (`not resubmitted: ...`). */
      refusal: string;
    };

/**
 * Decides a resubmit: the walltime (or memory) times the policy's factor, capped at the
 * queue's maximum (walltime: `maxWalltimeMinutes`; memory: `maxMemoryMb` when the queue has
 * one), while the run has resubmits left. Refused when the application sets no policy, the
 * run used them all, the value is at the queue's maximum already, or (memory) the job asked
 * for no memory, so there is nothing to multiply. `resubmitsUsed` counts this run's.
 */
export function decideResubmit(
  cause: ResubmitCause,
  settings: JobSettings,
  queue: QueueSpec | undefined,
  policy: ResubmitPolicy | undefined,
  resubmitsUsed: number,
): ResubmitDecision {
  const lacked = cause === 'walltime' ? 'ran past its walltime' : 'ran out of memory';
  if (!policy) return { resubmit: false, refusal: `not resubmitted: the application sets no automatic resubmit` };
  if (resubmitsUsed >= policy.attempts)
    return {
      resubmit: false,
      refusal: `not resubmitted: ${resubmitsUsed} of ${policy.attempts} automatic resubmits used (the application's cap)`,
    };
  const next = { ...settings };
  let change: string;
  if (cause === 'walltime') {
    const most = queue?.maxWalltimeMinutes ?? Infinity;
    if (settings.walltimeMinutes >= most)
      return {
        resubmit: false,
        refusal: `not resubmitted: its walltime of ${formatMinutes(settings.walltimeMinutes)} is the most queue ${settings.queue} allows`,
      };
    next.walltimeMinutes = Math.min(
      most,
      roundUp(settings.walltimeMinutes * (policy.walltimeFactor ?? defaultResubmitFactor)),
    );
    change = `walltime ${formatMinutes(settings.walltimeMinutes)} -> ${formatMinutes(next.walltimeMinutes)}`;
  } else {
    if (settings.memoryMb === undefined)
      return {
        resubmit: false,
        refusal: 'not resubmitted: it asked for no memory limit, so there is no amount to increase (set memoryMb)',
      };
    const most = queue?.maxMemoryMb ?? Infinity;
    if (settings.memoryMb >= most)
      return {
        resubmit: false,
        refusal: `not resubmitted: its memory of ${settings.memoryMb} MB is the most queue ${settings.queue} allows`,
      };
    next.memoryMb = Math.min(most, Math.ceil(settings.memoryMb * (policy.memoryFactor ?? defaultResubmitFactor)));
    change = `memory ${settings.memoryMb} MB -> ${next.memoryMb} MB`;
  }
  const attempt = resubmitsUsed + 1;
  return {
    resubmit: true,
    settings: next,
    message: `the job ${lacked}: resubmitted with ${change} (automatic resubmit ${attempt} of ${policy.attempts})`,
    data: {
      cause,
      attempt,
      attempts: policy.attempts,
      from: { walltimeMinutes: settings.walltimeMinutes, memoryMb: settings.memoryMb ?? null },
      to: { walltimeMinutes: next.walltimeMinutes, memoryMb: next.memoryMb ?? null },
    },
  };
}

/** Walltimes are minutes, possibly fractional on `local`: keep three decimals, no float noise. */
function roundUp(minutes: number): number {
  return Math.ceil(minutes * 1000) / 1000;
}

function formatMinutes(minutes: number): string {
  return `${minutes} min`;
}
