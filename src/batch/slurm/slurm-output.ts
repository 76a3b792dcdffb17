/**
 * Slurm's output, read: parsers for the exact output of the commands the Slurm adapter
 * runs (measured on Slurm 22.05; times are printed as epoch seconds because the adapter
 * sets `SLURM_TIME_FORMAT=%s`), and the observations the adapter builds from those rows.
 */
import type { JobObservation, TrackedJob } from '../port.ts';
import { observeFinishedJob, type BatchJobRecord } from '../job-files.ts';
import { slurmJobState, slurmStateWord } from './slurm-states.ts';

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
 * The `drover-array-element <key> <array name> <index>` lines of the find command: which
 * keys' jobs were submitted as array elements, by key.
 */
export function parseArrayElementRecords(stdout: string): Map<string, { name: string; index: number }> {
  const records = new Map<string, { name: string; index: number }>();
  for (const line of stdout.split('\n')) {
    const match = /^drover-array-element (\S+) (\S+) (\d+)$/.exec(line);
    if (match && !records.has(match[1])) records.set(match[1], { name: match[2], index: Number(match[3]) });
  }
  return records;
}

/** `MaxArraySize` in `scontrol show config` output (`MaxArraySize            = 1001`), or null. */
export function parseMaxArraySize(stdout: string): number | null {
  const match = /^MaxArraySize\s*=\s*(\d+)\s*$/m.exec(stdout);
  return match ? Number(match[1]) : null;
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
  return /unable to contact slurm controller|socket timed out|connection refused|connection timed out|zero bytes were transmitted|communication connection failure|slurm_receive_msg|transport endpoint is not connected|problem talking to the database|could not establish a configuration source/i.test(
    message,
  );
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

/** What sacct said about the jobs asked for; see `SlurmScheduler.readAccounting`. */
export interface Accounting {
  rows: Map<string, SacctRow>;
  final: boolean;
}

/** A pending or running job as squeue shows it, or null for a state the table does not know. */
export function observeActiveJob(row: SqueueRow): JobObservation | null {
  const state = slurmJobState(row.state);
  if (!state) return null;
  const reason = parseSlurmReason(row.reason);
  const nodeList = parseSlurmNodeList(row.nodeList);
  // While pending, %S is only the scheduler's estimate of the start.
  const startedAt = state === 'queued' ? undefined : parseSlurmTime(row.start);
  return toObservation({ nativeId: row.jobId, state, nativeState: row.state, reason, startedAt, nodeList });
}

/**
 * A finished job from its sacct row. squeue's reason is the better one while the job is
 * still listed there (`NonZeroExitCode`, `TimeLimit`; sacct says `None`), except for a
 * canceled job, where squeue keeps the last pending reason.
 */
export function observeAccountedJob(row: SacctRow, squeueRow: SqueueRow | undefined): JobObservation {
  const state = slurmJobState(row.state)!;
  const word = slurmStateWord(row.state);
  let exitCode = parseSlurmExitCode(row.exitCode);
  // Slurm records 0:0 for the job itself when it cancels it or stops it at the time limit.
  if ((state === 'canceled' || state === 'timed-out') && exitCode === 0) exitCode = null;
  const canceledBy = /^CANCELLED by (\S+)/.exec(row.state);
  const reason = canceledBy
    ? `canceled by uid ${canceledBy[1]}`
    : (parseSlurmReason(squeueRow && state !== 'canceled' ? squeueRow.reason : row.reason) ??
      parseSlurmReason(row.reason));
  const nodeList = parseSlurmNodeList(row.nodeList);
  // A job canceled before it ran has a Start (the cancel time) but no node.
  const startedAt = nodeList ? parseSlurmTime(row.start) : undefined;
  const endedAt = parseSlurmTime(row.end);
  return toObservation({
    nativeId: row.jobId,
    state,
    nativeState: word,
    exitCode,
    reason,
    startedAt,
    endedAt,
    nodeList,
  });
}

/** How long after a job's end (squeue's) the poll waits for sacct to record a cancel. */
const accountingLagMs = 60_000;

/**
 * A job sacct could not settle, from its job files. When squeue still lists it as
 * finished, squeue's state stands and the files give the exit code. Otherwise the files
 * decide; a job without an exit code is `lost` only when Slurm really forgot it (sacct
 * answered without it, or accounting is disabled), else it is left out (null).
 */
export function observeFromFiles(
  job: TrackedJob,
  record: BatchJobRecord,
  squeueRow: SqueueRow | undefined,
  accounting: Accounting,
  now = Date.now(),
): JobObservation | null {
  if (squeueRow) {
    const state = slurmJobState(squeueRow.state);
    if (!state) return null;
    const endedAt = parseSlurmTime(squeueRow.end);
    // Only sacct says who canceled a job, and slurmdbd records the end a moment after
    // squeue shows it (under load, past the next poll): while sacct still has the job
    // running, wait for it, a while.
    const accountingBehind = accounting.rows.has(job.nativeId);
    if (state === 'canceled' && accountingBehind && endedAt && now - endedAt.getTime() < accountingLagMs) return null;
    const reason = parseSlurmReason(state === 'canceled' ? '' : squeueRow.reason);
    const nodeList = parseSlurmNodeList(squeueRow.nodeList);
    const startedAt = nodeList ? parseSlurmTime(squeueRow.start) : undefined;
    return toObservation({
      nativeId: job.nativeId,
      state,
      nativeState: squeueRow.state,
      exitCode: record.exitCode,
      reason,
      startedAt,
      endedAt,
      nodeList,
    });
  }
  const settled = record.exitCode !== null || record.canceled;
  if (!settled && (!accounting.final || accounting.rows.has(job.nativeId))) return null;
  if (!settled && !record.exists) return null;
  return observeFinishedJob(job.nativeId, record, 'vanished');
}

/**
 * The observation of one job from the values read off a squeue or sacct row: the optional
 * fields Slurm left empty (`undefined`, or an empty reason or node list) are left out, so
 * an observation carries only what Slurm said. `exitCode` is kept when given, null included.
 */
export function toObservation(row: {
  nativeId: string;
  state: JobObservation['state'];
  nativeState: string;
  exitCode?: number | null;
  reason?: string;
  startedAt?: Date;
  endedAt?: Date;
  nodeList?: string;
}): JobObservation {
  const { nativeId, state, nativeState, exitCode, reason, startedAt, endedAt, nodeList } = row;
  return {
    nativeId,
    state,
    nativeState,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(reason ? { reason } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(endedAt ? { endedAt } : {}),
    ...(nodeList ? { nodeList } : {}),
  };
}
