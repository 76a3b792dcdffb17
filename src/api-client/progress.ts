/**
 * What a progress bar says besides its percentage: how long the job has run, how much of
 * its walltime is left and when it should end at the pace it reported. For the web UI's
 * bars and the CLI's `watch` and `show`; pure, so the quick tier checks it (progress.test.ts).
 */

/** The parts of a job's progress these times need (an ExperimentSummary's or a Job's). */
export interface ProgressTimesInput {
  fraction: number | null;
  /** When the program's progress was last seen to change. */
  updatedAt: string;
  jobStartedAt: string | null;
  jobEndedAt: string | null;
  walltimeMinutes: number | null;
}

export interface ProgressTimes {
  /** Milliseconds the job has run (until it ended). */
  elapsedMs: number | null;
  /** Milliseconds of walltime left; null once the job ended or without a walltime. */
  walltimeLeftMs: number | null;
  /**
   * When the job should finish, at the pace it reported: its start plus the time it took
   * to reach `fraction`, scaled to the whole. Null before any progress or once it ended.
   */
  estimatedEnd: Date | null;
  /** The estimated end falls after the walltime: the scheduler will stop the job first. */
  overrunsWalltime: boolean;
}

export function progressTimes(input: ProgressTimesInput, now: Date): ProgressTimes {
  const started = input.jobStartedAt ? Date.parse(input.jobStartedAt) : Number.NaN;
  if (!Number.isFinite(started))
    return { elapsedMs: null, walltimeLeftMs: null, estimatedEnd: null, overrunsWalltime: false };
  const ended = input.jobEndedAt ? Date.parse(input.jobEndedAt) : Number.NaN;
  const until = Number.isFinite(ended) ? ended : now.getTime();
  const elapsedMs = Math.max(0, until - started);
  const walltimeMs = input.walltimeMinutes ? input.walltimeMinutes * 60_000 : null;
  const running = !Number.isFinite(ended);
  const walltimeLeftMs = running && walltimeMs !== null ? Math.max(0, walltimeMs - elapsedMs) : null;
  const seenAt = Date.parse(input.updatedAt);
  let estimatedEnd: Date | null = null;
  if (running && input.fraction !== null && input.fraction > 0 && input.fraction < 1 && seenAt > started) {
    estimatedEnd = new Date(started + (seenAt - started) / input.fraction);
  }
  const overrunsWalltime =
    estimatedEnd !== null && walltimeMs !== null && estimatedEnd.getTime() > started + walltimeMs;
  return { elapsedMs, walltimeLeftMs, estimatedEnd, overrunsWalltime };
}

/** "42%" (whole percents; "99%" until it is really done). */
export function formatPercent(fraction: number): string {
  const percent = Math.floor(fraction * 100);
  return `${fraction < 1 ? Math.min(percent, 99) : 100}%`;
}
