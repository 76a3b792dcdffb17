/**
 * Reading the schedulers' outlook for a job not yet submitted (`BatchScheduler.expectStart`):
 * the job shape's options and the answers of `sbatch --test-only` and bare `qstat`.
 */
import type { JobShape } from './port.ts';
import { slurmResourceOptions } from './slurm/render-slurm-script.ts';
import { schedulerNamePattern } from './job-script.ts';
import { parseQstat } from './pbs/pbs-output.ts';

/** How long one outlook command may take: a slow login node must not hold a creation long. */
export const expectStartTimeoutMs = 20_000;

/**
 * The sbatch options for `shape`, as the job script would set them (`slurmResourceOptions`).
 *
 * @throws {RangeError} when a queue or account name is not plain, or a number not a positive integer.
 */
export function slurmShapeOptions(shape: JobShape): string[] {
  checkShape(shape);
  return slurmResourceOptions(shape);
}

function checkShape(shape: JobShape): void {
  for (const value of [shape.queue, shape.account]) {
    if (value !== undefined && !schedulerNamePattern.test(value))
      throw new RangeError(`not a plain scheduler name: ${JSON.stringify(value)}`);
  }
  for (const value of [shape.nodes, shape.coresPerNode, shape.memoryMb ?? 1]) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`not a positive integer: ${value}`);
  }
}

/**
 * The seconds until the start that `sbatch --test-only` announces, run with
 * `SLURM_TIME_FORMAT=%s` after `date +%s` on the same login node (so that the two clocks
 * are one): stdout is the login node's time, stderr `sbatch: Job 12 to start at
 * 1796221472 using 8 processors on nodes vm in partition debug`. Null when neither reads.
 */
export function readTestOnlyStart(stdout: string, stderr: string): number | null {
  const now = /^(\d+)\s*$/m.exec(stdout);
  const start = /to start at (\d+) /.exec(stderr);
  if (!now || !start) return null;
  return Math.max(0, Number(start[1]) - Number(now[1]));
}

/** The jobs bare `qstat` shows waiting (`Q`, or held `H`) in `queue` (every queue when unset). */
export function countQueued(stdout: string, queue: string | undefined): number {
  return parseQstat(stdout).filter((row) => (row.state === 'Q' || row.state === 'H') && (!queue || row.queue === queue))
    .length;
}

/** `15 min`, `2 h 5 min`, `at once`: a wait in words for the choice's event. */
export function describeWait(seconds: number): string {
  if (seconds < 60) return 'at once';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
}
