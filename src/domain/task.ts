/**
 * The task state machine: one node of an experiment's DAG.
 * pending -> ready -> running -> completed | failed, and pending | ready -> canceled | skipped;
 * a failed attempt with retries left goes back to ready after a backoff.
 */
import type { FailureCode, TaskFailure } from './failure.ts';

/**
 * What a task does. `noop` is internal: it does nothing and has no handler of the
 * experiment DAG; the benchmarks and the state suite plan it to measure the queue alone.
 */
export const taskKinds = ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out', 'noop'] as const;
export type TaskKind = (typeof taskKinds)[number];

export const taskStates = ['pending', 'ready', 'running', 'completed', 'failed', 'canceled', 'skipped'] as const;
export type TaskState = (typeof taskStates)[number];

export const terminalTaskStates: readonly TaskState[] = ['completed', 'failed', 'canceled', 'skipped'];

const allowed: Record<TaskState, readonly TaskState[]> = {
  pending: ['ready', 'canceled', 'skipped'],
  ready: ['running', 'canceled', 'skipped'],
  // running -> ready: a retry after a failed attempt or an expired lease. A running task is
  // never canceled: it finishes (a monitor when its killed job has ended), so that stage-out
  // can bring back what a canceled job wrote.
  running: ['completed', 'failed', 'ready'],
  completed: [],
  failed: [],
  canceled: [],
  skipped: [],
};

/** The states a task may be in for a move to `to` (what the SQL guards in state/ check). */
export function taskStatesBefore(to: TaskState): TaskState[] {
  return taskStates.filter((from) => allowed[from].includes(to));
}

/**
 * The task guards with more than one state, as SQL literals for state/task-state.ts (a
 * literal list, not a parameter, so that the planner can match partial indexes). The
 * one-state guards stay literal in the SQL (`state = 'ready'` for a claim, `'running'` for
 * an outcome: the predicates of `tasks_ready` and `tasks_leased`); task.test.ts checks all
 * of them against the table above.
 */
export const taskStateSql = {
  /** Not started: what a cancel or a skip ends (`taskStatesBefore('skipped')`). */
  waiting: `('pending', 'ready')`,
  /** Not finished: an experiment with such a task is not settled (the states not terminal). */
  open: `('pending', 'ready', 'running')`,
} as const;

/**
 * The states a rerun takes a task from, back to `ready` or `pending`: a resume of a failed
 * experiment (its failed task and what follows it, or a failed job's submit and what follows
 * it) and an automatic resubmit (the submit, and the detached monitor of the job that
 * ended). Not moves of the table above, where these states are terminal for the run: a
 * rerun starts a new run of the task (`run_first_attempt`, state/task-state.ts `rerunTasks`).
 * A running task is rerun only when it is a detached monitor (no worker holds it).
 */
export const rerunTaskStates: readonly TaskState[] = ['pending', 'running', 'completed', 'failed', 'skipped'];

/** `rerunTaskStates` as a SQL literal for state/; task.test.ts checks that they agree. */
export const rerunTaskStatesSql = `('pending', 'running', 'completed', 'failed', 'skipped')`;

/**
 * The tasks a cancel leaves to run once the experiment's submit has started, so that the
 * killed job's logs and partial outputs come back (`cancelOpenTasksOfMany` in state/task-state.ts).
 */
export const keptAfterSubmit: readonly TaskKind[] = ['monitor', 'stage-out'];

/** `keptAfterSubmit` as a SQL literal for state/; task.test.ts checks that they agree. */
export const keptAfterSubmitSql = `('monitor', 'stage-out')`;

/** Why a task attempt failed; defined with the failure vocabulary in failure.ts. */
export type { TaskFailure } from './failure.ts';

/**
 * The failure codes of attempts that wait on the resource rather than fail: it did not
 * answer, or it refused more jobs of the owner for now. Such a task is retried however
 * many attempts it used (with the usual backoff) and its experiment shows `blocked`
 * meanwhile: an outage or a full cluster must not fail experiments.
 */
export const waitingFailureCodes: ReadonlySet<FailureCode> = new Set<FailureCode>([
  'resource-unreachable',
  'submit-limit',
]);

/**
 * The failure codes retried however many attempts they used: the waiting ones, and an
 * attempt cut short by Drover's own store going away (a restart must not fail experiments).
 */
export const unlimitedRetryFailureCodes: ReadonlySet<FailureCode> = new Set<FailureCode>([
  ...waitingFailureCodes,
  'store-unreachable',
]);

/** Backoff before retry `attempt` (1-based): 1 s, 2 s, 4 s ... capped at 60 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/** One node to create: its kind and the kinds (within the same experiment) it waits for. */
export interface TaskPlan {
  kind: TaskKind;
  dependsOn: TaskKind[];
  /** Attempts before a failure is final (default 3). */
  maxAttempts?: number;
}

/** The standard experiment DAG: each kind with the kinds it depends on. */
export const experimentDag: readonly TaskPlan[] = [
  { kind: 'env-setup', dependsOn: [] },
  { kind: 'stage-in', dependsOn: ['env-setup'] },
  { kind: 'submit', dependsOn: ['stage-in'] },
  { kind: 'monitor', dependsOn: ['submit'] },
  { kind: 'stage-out', dependsOn: ['monitor'] },
];

/** A task as a worker receives it (the Dispatch port's unit of work). */
export interface ClaimedTask {
  id: number;
  experimentId: string;
  kind: TaskKind;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  /**
   * The attempts up to this one were of earlier runs (a resume or a resubmit reran the task):
   * a submit adopts only jobs of later attempts. Default 0: the first run.
   */
  runFirstAttempt?: number;
}

/** What became of one claimed task, as its worker (or the controller, for a monitor) reports it. */
export type TaskOutcome =
  | { taskId: number; outcome: 'completed'; result?: unknown }
  | { taskId: number; outcome: 'failed'; failure: TaskFailure }
  /** The task stays running without a lease until the controller completes it (monitor). */
  | { taskId: number; outcome: 'detached' };
