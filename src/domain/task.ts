/**
 * The task state machine: one node of an experiment's DAG.
 * pending -> ready -> running -> completed | failed | canceled | skipped; a failed attempt
 * with retries left goes back to ready after a backoff.
 */
import type { FailureCode } from './failure.ts';

export const taskKinds = ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out', 'cleanup', 'noop'] as const;
export type TaskKind = (typeof taskKinds)[number];

export const taskStates = ['pending', 'ready', 'running', 'completed', 'failed', 'canceled', 'skipped'] as const;
export type TaskState = (typeof taskStates)[number];

export const terminalTaskStates: readonly TaskState[] = ['completed', 'failed', 'canceled', 'skipped'];

const allowed: Record<TaskState, readonly TaskState[]> = {
  pending: ['ready', 'canceled', 'skipped'],
  ready: ['running', 'canceled', 'skipped'],
  // running -> ready: a retry after a failed attempt or an expired lease
  running: ['completed', 'failed', 'canceled', 'ready'],
  completed: [],
  failed: [],
  canceled: [],
  skipped: [],
};

export function canMoveTask(from: TaskState, to: TaskState): boolean {
  return allowed[from].includes(to);
}

/** Why a task attempt failed; defined with the failure vocabulary in failure.ts. */
export type { TaskFailure } from './failure.ts';

/**
 * The failure code of an attempt that could not reach its resource. Such a task is
 * retried however many attempts it used (with the usual backoff) and its experiment shows
 * `blocked` meanwhile: an outage must not fail experiments.
 */
export const unreachableFailureCode: FailureCode = 'resource-unreachable';

/** Backoff before retry `attempt` (1-based): 1 s, 2 s, 4 s ... capped at 60 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/** The standard experiment DAG: each kind with the kinds it depends on. */
export const experimentDag: ReadonlyArray<{ kind: TaskKind; dependsOn: TaskKind[] }> = [
  { kind: 'env-setup', dependsOn: [] },
  { kind: 'stage-in', dependsOn: ['env-setup'] },
  { kind: 'submit', dependsOn: ['stage-in'] },
  { kind: 'monitor', dependsOn: ['submit'] },
  { kind: 'stage-out', dependsOn: ['monitor'] },
];
