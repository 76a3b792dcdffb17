/**
 * PBS's job states and Drover's: the table of the letters qstat prints (parsed in
 * pbs-output.ts).
 */
import type { JobState } from '../../domain/job.ts';

/**
 * PBS job state letter (qstat's `S` column) → Drover job state, or `finished` for the
 * letters of a job that has ended, whose job files then say how (PBS keeps no exit code
 * that the wrappers show). A letter missing here is unknown and the job is left unreported.
 */
export const pbsJobStates = {
  Q: 'queued', // queued (the Slurm wrappers show held jobs as Q too)
  H: 'queued', // held
  W: 'queued', // waiting for its start time
  T: 'queued', // being moved
  R: 'running',
  E: 'running', // exiting: the script ended, clean-up is under way
  S: 'running', // suspended
  B: 'running', // an array whose first elements have begun (PBS Pro; its rest may still wait)
  C: 'finished', // completed, failed or canceled alike
  F: 'finished', // finished (PBS Pro)
} as const satisfies Record<string, JobState | 'finished'>;

/** A state letter `qstat` prints. */
export type PbsJobState = keyof typeof pbsJobStates;

/** The entry of `pbsJobStates` for a letter, or undefined if unknown. */
export function pbsJobState(letter: string): JobState | 'finished' | undefined {
  return Object.hasOwn(pbsJobStates, letter) ? pbsJobStates[letter as PbsJobState] : undefined;
}
