/**
 * What every job script renderer (local, Slurm, PBS) requires of the values it writes into
 * a script, and where a job keeps its own files. The catalogue checks admin-given values
 * with the same rules when they are registered, so a job never meets them first.
 */
import { isOneScriptLine } from '../shell/shell-quote.ts';

/** Keys become a job name, a directory name and a header line, so they must be one plain word. */
export const submissionKeyPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;
export const jobNamePattern = /^[A-Za-z0-9_.-]{1,200}$/;
export const environmentNamePattern = /^[A-Z_][A-Z0-9_]*$/;
/** Partition, queue and account names, as they appear unquoted in directives. */
export const schedulerNamePattern = /^[A-Za-z0-9_.-]{1,100}$/;
/**
 * Workdirs appear unquoted in scheduler directives (`#SBATCH --chdir=...`) and in the
 * command line the Torque `qsub` wrapper hands to a shell, so only plain path characters
 * pass: no white space, quotes, `$`, `%` (a Slurm file-name pattern) or backslash.
 */
export const workdirPattern = /^\/[A-Za-z0-9_.\/+=@,:-]*$/;

/**
 * Why `line` cannot be an environment setup line of a job script (they are copied
 * verbatim), or null when it can: it must be exactly one line (no control character or
 * line separator) and must not begin with `#`, which schedulers read as a directive
 * (`#SBATCH`, `#PBS`, `#BSUB`...) and bash as a comment.
 */
export function environmentSetupLineProblem(line: string): string | null {
  if (!isOneScriptLine(line)) return 'must be one line, without control characters: give each command as its own line';
  if (/^\s*#/.test(line)) return 'must not begin with "#": schedulers read such lines as directives';
  return null;
}

/**
 * Checks the environment setup lines a renderer copies verbatim.
 *
 * @throws {RangeError} naming the first line that `environmentSetupLineProblem` refuses.
 */
export function checkEnvironmentSetup(lines: readonly string[]): void {
  lines.forEach((line, index) => {
    const problem = environmentSetupLineProblem(line);
    if (problem) throw new RangeError(`environmentSetup[${index}] ${problem}, got ${JSON.stringify(line)}`);
  });
}

/** True when `submissionKey` can name a job: one plain word that the renderers accept. */
export function isPlainSubmissionKey(submissionKey: string): boolean {
  return submissionKeyPattern.test(submissionKey);
}

/** The job directory of a job: `<workdir>/.drover-job/<submissionKey>`. */
export function jobDirectoryOf(workdir: string, submissionKey: string): string {
  return `${workdir.replace(/\/+$/, '')}/.drover-job/${submissionKey}`;
}

/**
 * The task's claim, `<workdir>/.drover-job/<first key>.task`: a symbolic link whose target
 * is the key of the one attempt that submits (or submitted) the task's job. Named after the
 * task's first key (`earlierSubmissionKeys[0]`, else `submissionKey`), which every attempt
 * knows, so that an attempt also finds a job a LATER attempt submitted (a worker that lost
 * its lease and went on after another took the task over). A link, because creating one is
 * atomic and carries its owner's name in one step.
 */
export function taskClaimOf(spec: { workdir: string; submissionKey: string; earlierSubmissionKeys?: string[] }): string {
  const firstKey = spec.earlierSubmissionKeys?.[0] ?? spec.submissionKey;
  return `${jobDirectoryOf(spec.workdir, firstKey)}.task`;
}

/**
 * Checks the values every job script writes verbatim into a header or a directive.
 *
 * @throws {RangeError} when the submission key or the job name is not one plain word.
 */
export function checkKeyAndJobName(spec: { submissionKey: string; jobName: string }): void {
  if (!isPlainSubmissionKey(spec.submissionKey)) {
    throw new RangeError(`submission key must match ${submissionKeyPattern}, got ${JSON.stringify(spec.submissionKey)}`);
  }
  if (!jobNamePattern.test(spec.jobName)) {
    throw new RangeError(`job name must match ${jobNamePattern}, got ${JSON.stringify(spec.jobName)}`);
  }
}

/**
 * Checks the keys of a task's earlier attempts, which submit passes on as arguments and
 * looks up as job names and directory names.
 *
 * @throws {RangeError} when one of `earlierSubmissionKeys` is not one plain word.
 */
export function checkEarlierSubmissionKeys(spec: { earlierSubmissionKeys?: string[] }): void {
  for (const key of spec.earlierSubmissionKeys ?? []) {
    if (!isPlainSubmissionKey(key)) {
      throw new RangeError(`earlier submission key must match ${submissionKeyPattern}, got ${JSON.stringify(key)}`);
    }
  }
}

/**
 * Walltime in whole seconds: `ceil(walltimeMinutes * 60)`, rounded to the millisecond
 * first so that float noise (0.1 * 60 = 6.000000000000001) does not add a second.
 *
 * @throws {RangeError} when `walltimeMinutes` is not a positive finite number.
 */
export function walltimeSeconds(walltimeMinutes: number): number {
  if (!Number.isFinite(walltimeMinutes) || walltimeMinutes <= 0) {
    throw new RangeError(`walltimeMinutes must be a positive number, got ${walltimeMinutes}`);
  }
  return Math.max(1, Math.ceil(Math.round(walltimeMinutes * 60_000) / 1000));
}
