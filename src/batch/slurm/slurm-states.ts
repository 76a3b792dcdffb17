/**
 * Slurm's words and Drover's: the state table, and parsers for the exact output of the
 * commands the Slurm adapter runs (measured on Slurm 22.05; times are printed as epoch
 * seconds because the adapter sets `SLURM_TIME_FORMAT=%s`).
 */
import type { JobState } from '../../domain/job.ts';

/**
 * Slurm job state (as `squeue -o %T` and `sacct -o State` print it) → Drover job state.
 * sacct adds words after some states (`CANCELLED by 1001`): look up the first word, as
 * `slurmJobState` does. A state missing here is unknown and the job is left unreported.
 */
export const slurmJobStates = {
  PENDING: 'queued',
  CONFIGURING: 'queued', // nodes allocated and booting: not running yet
  REQUEUED: 'queued',
  REQUEUE_FED: 'queued',
  REQUEUE_HOLD: 'queued',
  RESV_DEL_HOLD: 'queued',
  SPECIAL_EXIT: 'queued', // requeued and held by site policy
  RUNNING: 'running',
  COMPLETING: 'running', // the script ended; the epilog and clean-up are still going
  SUSPENDED: 'running',
  STOPPED: 'running',
  SIGNALING: 'running',
  STAGE_OUT: 'running',
  RESIZING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  NODE_FAIL: 'failed',
  BOOT_FAIL: 'failed',
  OUT_OF_MEMORY: 'failed',
  PREEMPTED: 'failed',
  REVOKED: 'failed', // another cluster of a federation runs it
  DEADLINE: 'timed-out',
  TIMEOUT: 'timed-out',
  CANCELLED: 'canceled',
} as const satisfies Record<string, JobState>;

/** A state Slurm reports, by its first word. */
export type SlurmJobState = keyof typeof slurmJobStates;

/** The Drover state for a Slurm state word (`CANCELLED by 1001` counts as `CANCELLED`), or undefined if unknown. */
export function slurmJobState(nativeState: string): JobState | undefined {
  const word = slurmStateWord(nativeState);
  return Object.hasOwn(slurmJobStates, word) ? slurmJobStates[word as SlurmJobState] : undefined;
}

/** The first word of a Slurm state, without the `+` sacct adds when it truncates. */
export function slurmStateWord(nativeState: string): string {
  return nativeState.trim().split(/\s+/)[0].replace(/\+$/, '');
}

/** True for the states after which a job never runs again. */
export function isFinishedSlurmState(nativeState: string): boolean {
  const state = slurmJobState(nativeState);
  return state === 'completed' || state === 'failed' || state === 'timed-out' || state === 'canceled';
}

/** `squeue -o` format: the reason goes last because it is free text. */
export const squeueFormat = '%i|%T|%N|%S|%e|%r';

/** One job as `squeue -h -o '%i|%T|%N|%S|%e|%r'` prints it. */
export interface SqueueRow {
  jobId: string;
  state: string;
  /** Empty while pending. */
  nodeList: string;
  /** Epoch seconds; the expected start while pending, or `N/A`. */
  start: string;
  /** Epoch seconds; the expected end (start + time limit) while running, or `N/A`. */
  end: string;
  /** `None`, `Priority`, `Resources`, `NonZeroExitCode`, `TimeLimit`, or a sentence. */
  reason: string;
}

/** Parses `squeue -h -o squeueFormat` output; lines that do not fit are skipped. */
export function parseSqueue(stdout: string): SqueueRow[] {
  const rows: SqueueRow[] = [];
  for (const line of stdout.split('\n')) {
    const fields = splitFields(line, 6);
    if (!fields) continue;
    const [jobId, state, nodeList, start, end, reason] = fields;
    rows.push({ jobId, state, nodeList, start, end, reason });
  }
  return rows;
}

/** `sacct -o` fields: the reason goes last because it is free text. */
export const sacctFields = 'JobID,State,ExitCode,NodeList,Start,End,Reason';

/** One job row as `sacct -X -P -n -o JobID,State,ExitCode,NodeList,Start,End,Reason` prints it. */
export interface SacctRow {
  jobId: string;
  /** `COMPLETED`, `FAILED`, `TIMEOUT`, `CANCELLED by 1001`, `RUNNING`... */
  state: string;
  /** `code:signal`, such as `3:0` or `0:15`. */
  exitCode: string;
  /** `None assigned` when the job never ran. */
  nodeList: string;
  /** Epoch seconds or `Unknown`. */
  start: string;
  end: string;
  reason: string;
}

/** Parses `sacct -P -n -o sacctFields` output; step rows (`12.batch`) and odd lines are skipped. */
export function parseSacct(stdout: string): SacctRow[] {
  const rows: SacctRow[] = [];
  for (const line of stdout.split('\n')) {
    const fields = splitFields(line, 7);
    if (!fields || fields[0].includes('.')) continue;
    const [jobId, state, exitCode, nodeList, start, end, reason] = fields;
    rows.push({ jobId, state, exitCode, nodeList, start, end, reason });
  }
  return rows;
}

/** Parses `%i|%j` lines (squeue) or `JobID|JobName` lines (sacct) into id and name. */
export function parseJobNames(stdout: string): Array<{ jobId: string; name: string }> {
  const rows: Array<{ jobId: string; name: string }> = [];
  for (const line of stdout.split('\n')) {
    const fields = splitFields(line, 2);
    if (!fields || fields[0].includes('.')) continue;
    rows.push({ jobId: fields[0], name: fields[1] });
  }
  return rows;
}

/**
 * The exit code in a `code:signal` pair: the code, or 128 + the signal when a signal
 * ended the job (`0:15` → 143). Null when unreadable.
 */
export function parseSlurmExitCode(text: string): number | null {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (!match) return null;
  const [code, signal] = [Number(match[1]), Number(match[2])];
  return signal !== 0 ? 128 + signal : code;
}

/** A time printed with `SLURM_TIME_FORMAT=%s`; `Unknown`, `N/A`, `None` and empty are absent. */
export function parseSlurmTime(text: string): Date | undefined {
  const value = text.trim();
  if (!/^\d+$/.test(value) || value === '0') return undefined;
  return new Date(Number(value) * 1000);
}

/** A node list, or undefined for the words Slurm uses for none (``, `None assigned`, `(null)`). */
export function parseSlurmNodeList(text: string): string | undefined {
  const value = text.trim();
  return value === '' || value === 'None assigned' || value === '(null)' ? undefined : value;
}

/** A reason, or undefined for `None` and empty. */
export function parseSlurmReason(text: string): string | undefined {
  const value = text.trim();
  return value === '' || value === 'None' || value === '(null)' ? undefined : value;
}

/** The job id in `sbatch --parsable` output (`42` or `42;cluster`), or null. */
export function parseSbatchParsable(stdout: string): string | null {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const id = line.split(';')[0].trim();
  return /^\d+$/.test(id) ? id : null;
}

/**
 * True when a Slurm client's message means the controller or the database did not answer
 * (as opposed to a refusal): `Unable to contact slurm controller (connect failure)`,
 * `Socket timed out on send/recv operation`, `Connection refused`...
 */
export function isSlurmUnreachableMessage(message: string): boolean {
  return /unable to contact slurm controller|socket timed out|connection refused|connection timed out|zero bytes were transmitted|communication connection failure|slurm_receive_msg|transport endpoint is not connected|problem talking to the database|could not establish a configuration source/i
    .test(message);
}

/** True when sacct says that this cluster keeps no accounting (`Slurm accounting storage is disabled`). */
export function isSlurmAccountingDisabledMessage(message: string): boolean {
  return /accounting storage is disabled/i.test(message);
}

/**
 * The message of a refused `sbatch`: its `error:` lines without the `sbatch: error: `
 * prefix, joined with `; `, such as `Batch job submission failed: Invalid partition name specified`.
 */
export function sbatchErrorMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim().replace(/^sbatch: error: /, ''))
    .filter((line) => line !== '');
  return lines.join('; ') || 'sbatch failed without a message';
}

/** Splits a `|`-separated line into exactly `count` fields, the last one keeping any further `|`. */
function splitFields(line: string, count: number): string[] | null {
  if (line.trim() === '') return null;
  const parts = line.split('|');
  if (parts.length < count) return null;
  return [...parts.slice(0, count - 1), parts.slice(count - 1).join('|')];
}
