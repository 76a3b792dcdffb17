/**
 * What every job script renderer (local, Slurm, PBS) requires of the values it writes into
 * a script, and where a job keeps its own files.
 */

/** Keys become a job name, a directory name and a header line, so they must be one plain word. */
export const submissionKeyPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;
export const jobNamePattern = /^[A-Za-z0-9_.-]{1,200}$/;
export const environmentNamePattern = /^[A-Z_][A-Z0-9_]*$/;

/** True when `submissionKey` can name a job: one plain word that the renderers accept. */
export function isPlainSubmissionKey(submissionKey: string): boolean {
  return submissionKeyPattern.test(submissionKey);
}

/** The job directory of a job: `<workdir>/.drover-job/<submissionKey>`. */
export function jobDirectoryOf(workdir: string, submissionKey: string): string {
  return `${workdir.replace(/\/+$/, '')}/.drover-job/${submissionKey}`;
}
