/**
 * The job state machine: what a `submit` task created on a scheduler.
 * submitting -> queued -> running -> completed | failed | canceled | timed-out | lost.
 * Observations arrive out of order; only the transitions below are applied.
 */

export const jobStates = ['submitting', 'queued', 'running', 'completed', 'failed', 'canceled', 'timed-out', 'lost'] as const;
export type JobState = (typeof jobStates)[number];

export const terminalJobStates: readonly JobState[] = ['completed', 'failed', 'canceled', 'timed-out', 'lost'];

const allowed: Record<JobState, readonly JobState[]> = {
  submitting: ['queued', 'running', 'completed', 'failed', 'canceled', 'timed-out', 'lost'],
  queued: ['running', 'completed', 'failed', 'canceled', 'timed-out', 'lost'],
  running: ['completed', 'failed', 'canceled', 'timed-out', 'lost'],
  completed: [],
  failed: [],
  canceled: [],
  'timed-out': [],
  lost: [],
};

/** True when a job in `from` may move to `to`; stale or backward observations are false. */
export function canMoveJob(from: JobState, to: JobState): boolean {
  return allowed[from].includes(to);
}

/** The states a job may be in for a move to `to` (used as a SQL guard). */
export function jobStatesBefore(to: JobState): JobState[] {
  return jobStates.filter((from) => allowed[from].includes(to));
}

export function isTerminalJobState(state: JobState): boolean {
  return terminalJobStates.includes(state);
}
