/**
 * BatchScheduler port: submit, observe and cancel jobs on one resource's scheduler
 * (local processes, Slurm, PBS). Adapters keep the scheduler's own words beside ours.
 */
import type { JobState } from '../domain/job.ts';

/** Everything needed to render and submit one job. All paths are on the resource. */
export interface JobSpec {
  /** Unique per task attempt; the job carries it (its name), and a new job is submitted under it. */
  submissionKey: string;
  /**
   * The keys of the same task's earlier attempts, oldest first. A submit adopts a job found
   * under any of them (or under `submissionKey`) instead of submitting, so that a retry that
   * overlaps an earlier attempt's slow submit does not make a second job. Default: none.
   */
  earlierSubmissionKeys?: string[];
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
  /**
   * A plain key (`[A-Za-z0-9_][A-Za-z0-9_.-]*`, such as a sweep's id) that lets Slurm and PBS
   * submit this job as one element of a job array: the jobs of one group with the same
   * queue, nodes, cores, memory, walltime and account that reach the login node in one
   * submit batch become one `sbatch --array` / `qsub -J`, each element running its own
   * saved job script in its own workdir, with its own job files, stdout and stderr. Its
   * `nativeId` is the element's (`123_4`, `123[4]`). A job alone in its group, or without
   * one (the default), is submitted as a job of its own. The local scheduler ignores it.
   */
  arrayGroup?: string;
  /**
   * How many jobs `arrayGroup` has in all, when known (a sweep's element count): Slurm and PBS
   * keep gathering the group's jobs for one array while fewer than this have reached them, and
   * send them the moment all have (`arrayGatherQuietMs`).
   */
  arrayGroupSize?: number;
}

/** What a submit returns: the native id, and whether an earlier submission was adopted. */
export interface SubmittedJob {
  nativeId: string;
  adopted: boolean;
  /**
   * The key the job carries: `spec.submissionKey` for a job this call submitted, else the key
   * (this attempt's or an earlier one's) it was found under. Its job files are kept under it.
   */
  submissionKey: string;
  /** Adapter data kept with the job (local: pid and process start time). */
  details: Record<string, unknown>;
}

/** A job `find` located: the submitted job and the key it carries. */
export type FoundJob = SubmittedJob;

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
  /** The end of the job's stdout (`outputTailBytes`), once it has written any: where its progress is read from. */
  output?: OutputTail;
}

/** The last bytes of a job's stdout. */
export interface OutputTail {
  text: string;
  /** Whether the output is longer than `text`, so its first line may be cut. */
  truncated: boolean;
}

/** The shape of a job whose start is asked about (`expectStart`): nothing is submitted. */
export type JobShape = Pick<JobSpec, 'queue' | 'nodes' | 'coresPerNode' | 'memoryMb' | 'walltimeMinutes' | 'account'>;

/**
 * What a scheduler expects for a job of some shape, now: when it would start, or how many
 * jobs wait ahead of it where the scheduler gives no time. Read by the `auto` resource choice.
 */
export interface StartOutlook {
  /** Seconds until the scheduler expects to start it (Slurm's `sbatch --test-only`). */
  startsInSeconds?: number;
  /** Jobs waiting in its queue (PBS: queued in `qstat`), when the scheduler gives no time. */
  queuedAhead?: number;
  /** In words, for the choice's event: `Slurm expects a start in 15 min`. */
  basis: string;
}

/** One resource's batch scheduler. */
export interface BatchScheduler {
  readonly kind: 'local' | 'slurm' | 'pbs';
  /** The exact script `submit` would submit. */
  renderScript(spec: JobSpec): string;
  /**
   * Submits the job once per task: when a job of `spec.submissionKey` or of one of
   * `spec.earlierSubmissionKeys` exists, returns it with `adopted: true` and the key it
   * carries instead of submitting. The lookup and the submit are one decision on the
   * resource, so submits that overlap (a retry while an earlier attempt's slow submit still
   * runs, whether its worker died, lost its connection, or lost its lease and lives on)
   * make one job: the first to decide submits, every other adopts its job.
   */
  submit(spec: JobSpec): Promise<SubmittedJob>;
  /**
   * The job submitted under any of `submissionKeys` (attempts of one task, oldest first),
   * if the scheduler has one, with `adopted: true` and the key it was found under; else
   * null. One lookup covers all keys, so a task retried many times costs no more to check.
   * It submits nothing, but first waits for a submit of the task that is still running
   * (Slurm, PBS: its lock, see `submit`; local: the claimed job's pid), so that a job such
   * a submit is making is found, not missed: a canceled task's retry relies on this to
   * record, and so cancel, the job of an earlier attempt whose worker died mid-submit.
   */
  find(job: { workdir: string; submissionKeys: string[] }): Promise<FoundJob | null>;
  /** Observes many jobs in one pass; jobs it cannot find are omitted. */
  poll(jobs: TrackedJob[]): Promise<Map<string, JobObservation>>;
  /** Cancels a job and its whole process tree; succeeds if the job already ended. */
  cancel(job: TrackedJob): Promise<void>;
  /**
   * When a job of `shape` would start if submitted now, as far as the scheduler says; one
   * command, nothing submitted.
   *
   * @throws {ResourceUnreachableError} when the scheduler does not answer.
   * @throws {Error} when it refuses the shape (an unknown queue, too many cores).
   */
  expectStart(shape: JobShape): Promise<StartOutlook>;
}
