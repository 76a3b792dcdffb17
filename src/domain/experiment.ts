/**
 * The experiment state machine.
 * created -> queued -> executing -> completed | failed | canceled, with canceling before
 * canceled and blocked (with a reason) that returns to where it was by itself.
 */

export const experimentStates = ['created', 'queued', 'executing', 'blocked', 'canceling', 'completed', 'failed', 'canceled'] as const;
export type ExperimentState = (typeof experimentStates)[number];

export const terminalExperimentStates: readonly ExperimentState[] = ['completed', 'failed', 'canceled'];

/** Launched and not yet ended: what counts against a queue's per-user limit. */
export const activeExperimentStates: readonly ExperimentState[] = ['queued', 'executing', 'blocked', 'canceling'];

const allowed: Record<ExperimentState, readonly ExperimentState[]> = {
  created: ['queued', 'canceled'],
  queued: ['executing', 'blocked', 'canceling', 'failed', 'canceled'],
  executing: ['completed', 'failed', 'canceling', 'blocked'],
  blocked: ['queued', 'executing', 'canceling', 'failed'],
  canceling: ['canceled', 'completed', 'failed'],
  completed: [],
  failed: [],
  canceled: [],
};

/** True when an experiment in `from` may move to `to`. */
export function canMoveExperiment(from: ExperimentState, to: ExperimentState): boolean {
  return allowed[from].includes(to);
}

/** The states an experiment may be in for a move to `to` (the SQL guard). */
export function experimentStatesBefore(to: ExperimentState): ExperimentState[] {
  return experimentStates.filter((from) => allowed[from].includes(to));
}

export function isTerminalExperimentState(state: ExperimentState): boolean {
  return terminalExperimentStates.includes(state);
}
