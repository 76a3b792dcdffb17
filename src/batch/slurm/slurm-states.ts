/**
 * Slurm's job states and Drover's: the table, read by the parsers in slurm-output.ts.
 */
import type { JobState } from '../../domain/job.ts';

/**
 * Slurm job state (as `squeue -o %T` and `sacct -o State` print it) → Drover job state.
 * sacct adds words after some states (`CANCELLED by 1001`): look up the first word, as
 * `slurmJobState` does. A state missing here is unknown and the job is left unreported.
 */
export const slurmJobStates = {
  PENDING: 'queued',
  CONFIGURING: 'queued', // nodes allocated and booting: not running yet
  REQUEUED: 'queued',
  REQUEUE_FED: 'queued',
  REQUEUE_HOLD: 'queued',
  RESV_DEL_HOLD: 'queued',
  SPECIAL_EXIT: 'queued', // requeued and held by site policy
  RUNNING: 'running',
  COMPLETING: 'running', // the script ended; the epilog and clean-up are still going
  SUSPENDED: 'running',
  STOPPED: 'running',
  SIGNALING: 'running',
  STAGE_OUT: 'running',
  RESIZING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  NODE_FAIL: 'failed',
  BOOT_FAIL: 'failed',
  OUT_OF_MEMORY: 'failed',
  PREEMPTED: 'failed',
  REVOKED: 'failed', // another cluster of a federation runs it
  DEADLINE: 'timed-out',
  TIMEOUT: 'timed-out',
  CANCELLED: 'canceled',
} as const satisfies Record<string, JobState>;

/** A state Slurm reports, by its first word. */
export type SlurmJobState = keyof typeof slurmJobStates;

/** The Drover state for a Slurm state word (`CANCELLED by 1001` counts as `CANCELLED`), or undefined if unknown. */
export function slurmJobState(nativeState: string): JobState | undefined {
  const word = slurmStateWord(nativeState);
  return Object.hasOwn(slurmJobStates, word) ? slurmJobStates[word as SlurmJobState] : undefined;
}

/** The first word of a Slurm state, without the `+` sacct adds when it truncates. */
export function slurmStateWord(nativeState: string): string {
  return nativeState.trim().split(/\s+/)[0].replace(/\+$/, '');
}

/** True for the states after which a job never runs again. */
export function isFinishedSlurmState(nativeState: string): boolean {
  const state = slurmJobState(nativeState);
  return state === 'completed' || state === 'failed' || state === 'timed-out' || state === 'canceled';
}
