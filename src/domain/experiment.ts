/**
 * The experiment state machine.
 * created -> queued -> executing -> completed | failed | canceled, with canceling before
 * canceled when Drover is asked to cancel (a job canceled on the cluster goes straight to
 * canceled) and blocked (with a reason) that returns to where it was by itself.
 * state/experiment-state.ts owns every write; this module holds the rules.
 */
import type { FailureCode } from './failure.ts';
import type { JobState } from './job.ts';

export const experimentStates = [
  'created',
  'queued',
  'executing',
  'blocked',
  'canceling',
  'completed',
  'failed',
  'canceled',
] as const;
export type ExperimentState = (typeof experimentStates)[number];

export const terminalExperimentStates: readonly ExperimentState[] = ['completed', 'failed', 'canceled'];

/** Launched and not finished: what counts against a per-user limit, and what may settle. */
export const activeExperimentStates: readonly ExperimentState[] = ['queued', 'executing', 'blocked', 'canceling'];

/** `activeExperimentStates` as a SQL literal for state/; experiment.test.ts checks that they agree. */
export const activeExperimentStatesSql = `('queued', 'executing', 'blocked', 'canceling')`;

const allowed: Record<ExperimentState, readonly ExperimentState[]> = {
  created: ['queued', 'canceled'],
  queued: ['executing', 'blocked', 'canceling', 'failed', 'canceled'],
  // executing -> canceled: its job was canceled on the cluster, outside Drover (scancel).
  executing: ['completed', 'failed', 'canceling', 'blocked', 'canceled'],
  blocked: ['queued', 'executing', 'canceling', 'failed'],
  canceling: ['canceled', 'completed', 'failed'],
  completed: [],
  failed: [],
  canceled: [],
};

/** The states an experiment may be in for a move to `to` (the SQL guard). */
export function experimentStatesBefore(to: ExperimentState): ExperimentState[] {
  return experimentStates.filter((from) => allowed[from].includes(to));
}

/**
 * The states a resume takes an experiment from (to `queued`): only a failed one. A resume is
 * not a move of the table above, where failed is terminal: it starts a new run of the
 * experiment (state/experiment-state.ts `resumeExperiment`), and the run before stays failed
 * in the event log.
 */
export const resumableExperimentStates: readonly ExperimentState[] = ['failed'];

export function isTerminalExperimentState(state: ExperimentState): boolean {
  return terminalExperimentStates.includes(state);
}

/** Why an experiment failed, as stored on it and shown to its owner: a code of the failure vocabulary. */
export interface ExperimentFailure {
  code: FailureCode;
  message: string;
}

/** What is known of an experiment whose tasks have all finished. */
export interface SettlementFacts {
  state: ExperimentState;
  /** The failure of its first failed task, if a task failed. */
  taskFailure: ExperimentFailure | null;
  /** The state and exit code of its latest job, if it has one. */
  jobState: JobState | null;
  exitCode: number | null;
  /** Why its job, out of walltime or memory, was not resubmitted (domain/resubmit.ts), if it was considered. */
  resubmitRefusal?: string | null;
}

/** How an experiment ends. */
export type ExperimentOutcome = { to: 'completed' } | { to: 'canceled' } | { to: 'failed'; failure: ExperimentFailure };

/**
 * The settlement rule: a canceling experiment, or one whose job was canceled, ends
 * canceled; a failed task fails it with that task's failure; a job that failed, ran past
 * its walltime or vanished fails it with that cause; anything else completed.
 */
export function experimentOutcome(facts: SettlementFacts): ExperimentOutcome {
  if (facts.state === 'canceling' || facts.jobState === 'canceled') return { to: 'canceled' };
  if (facts.taskFailure)
    return { to: 'failed', failure: { code: facts.taskFailure.code, message: facts.taskFailure.message } };
  const refusal = facts.resubmitRefusal ? `; ${facts.resubmitRefusal}` : '';
  switch (facts.jobState) {
    case 'failed':
      return {
        to: 'failed',
        failure: { code: 'job-failed', message: `the job exited with code ${facts.exitCode}${refusal}` },
      };
    case 'timed-out':
      return {
        to: 'failed',
        failure: { code: 'job-timed-out', message: `the job ran past its walltime and was stopped${refusal}` },
      };
    case 'lost':
      return {
        to: 'failed',
        failure: { code: 'job-lost', message: 'the job vanished from its resource without an exit code' },
      };
    default:
      return { to: 'completed' };
  }
}

/**
 * `experimentOutcome` as SQL, for statements that settle experiments on the server (the
 * worker's exchange settles in its claim statement, saving two round trips). Takes SQL
 * expressions for the facts (`taskFailure` a jsonb `{ code, message }` or null,
 * `resubmitRefusal` text or null) and returns
 * expressions for the target state (text) and the failure to store (jsonb or null).
 * experiment-state.test.ts runs it against `experimentOutcome` for every kind of fact.
 */
export function experimentOutcomeSql(facts: {
  state: string;
  taskFailure: string;
  jobState: string;
  exitCode: string;
  resubmitRefusal: string;
}): { target: string; failure: string } {
  const { state, taskFailure, jobState, exitCode, resubmitRefusal } = facts;
  const refusal = `coalesce('; ' || ${resubmitRefusal}, '')`;
  const canceled = `${state} = 'canceling' or ${jobState} is not distinct from 'canceled'`;
  return {
    target: `case when ${canceled} then 'canceled'
      when ${taskFailure} is not null or ${jobState} in ('failed', 'timed-out', 'lost') then 'failed'
      else 'completed' end`,
    failure: `case when ${canceled} then null
      when ${taskFailure} is not null
        then jsonb_build_object('code', ${taskFailure} -> 'code', 'message', ${taskFailure} -> 'message')
      when ${jobState} = 'failed'
        then jsonb_build_object('code', 'job-failed', 'message', 'the job exited with code ' || coalesce(${exitCode}::text, 'null') || ${refusal})
      when ${jobState} = 'timed-out'
        then jsonb_build_object('code', 'job-timed-out', 'message', 'the job ran past its walltime and was stopped' || ${refusal})
      when ${jobState} = 'lost'
        then jsonb_build_object('code', 'job-lost', 'message', 'the job vanished from its resource without an exit code')
      end`,
  };
}
