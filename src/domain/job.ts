/**
 * The job state machine: what a `submit` task created on a scheduler.
 * submitting -> queued -> running -> completed | failed | canceled | timed-out | lost.
 * Observations arrive out of order; only the transitions below are applied.
 */

export const jobStates = [
  'submitting',
  'queued',
  'running',
  'completed',
  'failed',
  'canceled',
  'timed-out',
  'lost',
] as const;
export type JobState = (typeof jobStates)[number];

export const terminalJobStates: readonly JobState[] = ['completed', 'failed', 'canceled', 'timed-out', 'lost'];

/** Jobs still alive on their resource: the monitor polls them, a cancel kills them. */
export const activeJobStates: readonly JobState[] = ['submitting', 'queued', 'running'];

/**
 * The state groups as SQL literals for state/ (a literal list, not a parameter, so that the
 * planner matches `jobs_active`, whose predicate is `activeJobStatesSql`); job.test.ts
 * checks each against its list.
 */
export const activeJobStatesSql = `('submitting', 'queued', 'running')`;
export const terminalJobStatesSql = `('completed', 'failed', 'canceled', 'timed-out', 'lost')`;

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

/** The states a job may be in for a move to `to` (used as a SQL guard). */
export function jobStatesBefore(to: JobState): JobState[] {
  return jobStates.filter((from) => allowed[from].includes(to));
}

export function isTerminalJobState(state: JobState): boolean {
  return terminalJobStates.includes(state);
}

/** The files every job (local, Slurm, PBS) writes in its working directory; stage-out brings them back
 * under the same names, and the API serves them as the experiment's logs. */
export const jobOutputFiles = {
  /** The command's standard output, in the workdir. */
  stdout: 'stdout.txt',
  /** The command's standard error (and a scheduler's messages), in the workdir. */
  stderr: 'stderr.txt',
} as const;
