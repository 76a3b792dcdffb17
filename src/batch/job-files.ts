/**
 * Reading back what Slurm and PBS job scripts leave in their job directories
 * (`batchJobFiles`): one batched remote command for many jobs, and what those files say
 * about a job the scheduler no longer runs.
 */
import type { JobObservation } from './port.ts';
import type { Shell } from '../shell/port.ts';
import { batchJobFiles } from './job-script.ts';

/** What a job directory says about one job, read by `readBatchJobRecords`. */
export interface BatchJobRecord {
  /** False when the job directory does not exist. */
  exists: boolean;
  /** The recorded exit status, or null when the script has not recorded one. */
  exitCode: number | null;
  walltimeExceeded: boolean;
  canceled: boolean;
  node?: string;
  startedAt?: Date;
  endedAt?: Date;
  nativeId?: string;
}

/**
 * Reads the job files of every directory given on stdin (one path a line) and prints one
 * tab-separated record a line, in the same order: exists, exit-code, walltime-exceeded,
 * canceled, node, started-at, ended-at, native-id. Only bash builtins run per directory,
 * so hundreds of jobs cost one round trip and no extra processes.
 */
const readRecordsScript = `
first_line() { REPLY=; [ -f "$1" ] && IFS= read -r REPLY < "$1"; REPLY=\${REPLY//$'\\t'/ }; }
while IFS= read -r dir; do
  exists=0; [ -d "$dir" ] && exists=1
  walltime=0; [ -e "$dir/${batchJobFiles.walltimeExceeded}" ] && walltime=1
  canceled=0; [ -e "$dir/${batchJobFiles.canceled}" ] && canceled=1
  first_line "$dir/${batchJobFiles.exitCode}"; exit_code=$REPLY
  first_line "$dir/${batchJobFiles.node}"; node=$REPLY
  first_line "$dir/${batchJobFiles.startedAt}"; started_at=$REPLY
  first_line "$dir/${batchJobFiles.endedAt}"; ended_at=$REPLY
  first_line "$dir/${batchJobFiles.nativeId}"; native_id=$REPLY
  printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$exists" "$exit_code" "$walltime" "$canceled" \\
    "$node" "$started_at" "$ended_at" "$native_id"
done
`;

/**
 * Reads the job files of many job directories in one remote command.
 *
 * @returns one record per directory, in the order given.
 * @throws {Error} when the command fails or its answer does not have one line per directory.
 */
export async function readBatchJobRecords(shell: Shell, jobDirectories: string[]): Promise<BatchJobRecord[]> {
  if (jobDirectories.length === 0) return [];
  for (const directory of jobDirectories) {
    if (directory.includes('\n')) throw new RangeError(`job directory holds a newline: ${JSON.stringify(directory)}`);
  }
  const result = await shell.run(['bash', '-c', readRecordsScript, 'drover-read'], {
    input: `${jobDirectories.join('\n')}\n`,
  });
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  if (result.code !== 0 || lines.length !== jobDirectories.length) {
    throw new Error(
      `reading ${jobDirectories.length} job directories failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
  return lines.map(parseBatchJobRecord);
}

/** Parses one line printed by the record reader. */
export function parseBatchJobRecord(line: string): BatchJobRecord {
  const [exists, exitCode, walltimeExceeded, canceled, node, startedAt, endedAt, nativeId] = line.split('\t');
  const code = /^\d+$/.test(exitCode ?? '') ? Number(exitCode) : null;
  return {
    exists: exists === '1',
    exitCode: code,
    walltimeExceeded: walltimeExceeded === '1',
    canceled: canceled === '1',
    ...(node ? { node } : {}),
    ...optionalDate('startedAt', startedAt),
    ...optionalDate('endedAt', endedAt),
    ...(nativeId ? { nativeId } : {}),
  };
}

function optionalDate<K extends string>(key: K, epochSeconds: string | undefined): Partial<Record<K, Date>> {
  if (!epochSeconds || !/^\d+$/.test(epochSeconds)) return {};
  return { [key]: new Date(Number(epochSeconds) * 1000) } as Record<K, Date>;
}

/**
 * What the job files say about a job the scheduler no longer runs, in this order: exit 0
 * is `completed`; a `canceled` marker is `canceled`; `walltime-exceeded` is `timed-out`;
 * another exit code is `failed`; no exit code and no marker is `lost` (`vanished`: the
 * script was killed before it could record, or never started).
 *
 * @param nativeState the scheduler's last word for the job (`C`, `COMPLETED`...), used
 *   unless the job is lost.
 */
export function observeFinishedJob(nativeId: string, record: BatchJobRecord, nativeState: string): JobObservation {
  const base = {
    nativeId,
    ...(record.startedAt ? { startedAt: record.startedAt } : {}),
    ...(record.endedAt ? { endedAt: record.endedAt } : {}),
    ...(record.node ? { nodeList: record.node } : {}),
  };
  const { exitCode } = record;
  if (exitCode === 0) return { ...base, state: 'completed', nativeState, exitCode };
  if (record.canceled) return { ...base, state: 'canceled', nativeState, exitCode, reason: 'canceled' };
  if (exitCode !== null && record.walltimeExceeded) {
    return { ...base, state: 'timed-out', nativeState, exitCode, reason: 'walltime exceeded' };
  }
  if (exitCode !== null) {
    const signal = signalOf(exitCode);
    return { ...base, state: 'failed', nativeState, exitCode, ...(signal ? { reason: signal } : {}) };
  }
  return {
    ...base,
    state: 'lost',
    nativeState: 'vanished',
    exitCode: null,
    reason: record.startedAt
      ? 'the job script was killed before it recorded an exit code'
      : 'the job ended without running',
  };
}

/** Names of the signals that usually stop a job: a cancel, the system, an out-of-memory kill. */
const signalNames: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/**
 * "stopped by signal 15 (SIGTERM)" for the exit code a shell gives a program a signal
 * stopped (128 + n), else undefined. A scientist cannot be expected to know that 143 is
 * SIGTERM, which is what an outside qdel (or the system) looks like through qstat: the job
 * files cannot tell it from a program killed that way, so it stays `failed`, with this reason.
 */
function signalOf(exitCode: number): string | undefined {
  if (exitCode <= 128 || exitCode >= 160) return undefined;
  const signal = exitCode - 128;
  return `stopped by signal ${signal}${signalNames[signal] ? ` (${signalNames[signal]})` : ''}`;
}
