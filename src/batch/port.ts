/**
 * BatchScheduler port: submit, observe and cancel jobs on one resource's scheduler
 * (local processes, Slurm, PBS). Adapters keep the scheduler's own words beside ours.
 */
import type { JobState } from '../domain/job.ts';

/** Everything needed to render and submit one job. All paths are on the resource. */
export interface JobSpec {
  /** Unique per task attempt; a submit that finds a job with this key adopts it. */
  submissionKey: string;
  /** The job's working directory (created by env-setup). */
  workdir: string;
  /** Human-readable job name (already safe: [A-Za-z0-9_.-]). */
  jobName: string;
  queue?: string;
  nodes: number;
  coresPerNode: number;
  memoryMb?: number;
  walltimeMinutes: number;
  account?: string;
  /** Trusted lines from the application's deployment, run before the command. */
  environmentSetup: string[];
  /** The command; every element is quoted by the renderer. */
  argv: string[];
  /** Extra environment variables for the job (names are [A-Z_][A-Z0-9_]*). */
  environment?: Record<string, string>;
}

/** What a submit returns: the native id, and whether an earlier submission was adopted. */
export interface SubmittedJob {
  nativeId: string;
  adopted: boolean;
  /** Adapter data kept with the job (local: pid and process start time). */
  details: Record<string, unknown>;
}

/** A job `find` located: the submitted job and the key it carries. */
export interface FoundJob extends SubmittedJob {
  submissionKey: string;
}

/** A job Drover is tracking, as the adapter needs it to poll or cancel. */
export interface TrackedJob {
  nativeId: string;
  workdir: string;
  submissionKey: string;
  details: Record<string, unknown>;
}

/** One observation of one job. */
export interface JobObservation {
  nativeId: string;
  state: JobState;
  /** The scheduler's own word (`RUNNING`, `PENDING`, `exited`...). */
  nativeState: string;
  /** Why a job waits or ended (`Priority`, `TimeLimit`...), when the scheduler says. */
  reason?: string;
  exitCode?: number | null;
  startedAt?: Date;
  endedAt?: Date;
  nodeList?: string;
}

/** One resource's batch scheduler. */
export interface BatchScheduler {
  readonly kind: 'local' | 'slurm' | 'pbs';
  /** The exact script `submit` would submit. */
  renderScript(spec: JobSpec): string;
  /**
   * Submits the job once per submission key: when a job with `spec.submissionKey` already
   * exists, returns it with `adopted: true` instead of submitting again.
   */
  submit(spec: JobSpec): Promise<SubmittedJob>;
  /**
   * The job submitted under any of `submissionKeys` (earlier attempts of one task), if the
   * scheduler has one, with `adopted: true` and the key it was found under; else null.
   * One lookup covers all keys, so a task retried many times costs no more to check.
   */
  find(job: { workdir: string; submissionKeys: string[] }): Promise<FoundJob | null>;
  /** Observes many jobs in one pass; jobs it cannot find are omitted. */
  poll(jobs: TrackedJob[]): Promise<Map<string, JobObservation>>;
  /** Cancels a job and its whole process tree; succeeds if the job already ended. */
  cancel(job: TrackedJob): Promise<void>;
}
