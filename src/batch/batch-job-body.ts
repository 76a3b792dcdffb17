/**
 * What the Slurm and PBS adapters share: the bash body of a job script (everything after
 * the scheduler's directives), the files that body leaves in the job directory, and one
 * batched remote command that reads those files back for many jobs at once.
 *
 * Everything from the user (argv, environment values, paths) is one `scriptWord` (quoted
 * whole, line breaks escaped), so no user character begins a line where the scheduler
 * would read it as a directive; only the deployment's environment setup lines, which
 * admins write and the catalogue checked, are copied verbatim.
 */
import type { JobObservation, JobSpec, SubmittedJob } from './port.ts';
import type { CommandResult, Shell } from '../shell/port.ts';
import type { ResourceUnreachableError } from '../domain/errors.ts';
import { finalFailure, retryableFailure } from '../domain/failure.ts';
import { scriptWord } from './shell-quote.ts';
import {
  checkEarlierSubmissionKeys,
  checkEnvironmentSetup,
  checkKeyAndJobName,
  environmentNamePattern,
  isPlainSubmissionKey,
  jobDirectoryOf,
  schedulerNamePattern,
  walltimeSeconds,
  workdirPattern,
} from './job-values.ts';

/** The files the job writes beside its working directory's other content. */
export const batchJobOutputFiles = {
  /** The command's standard output, in the workdir. */
  stdout: 'stdout.txt',
  /** The command's standard error (and the scheduler's messages), in the workdir. */
  stderr: 'stderr.txt',
} as const;

/**
 * Names of the files in a batch job's directory, `<workdir>/.drover-job/<submissionKey>/`.
 * `exit-code` is written last, so a reader that sees it sees the others too.
 */
export const batchJobFiles = {
  /** The rendered job script, as submitted. */
  script: 'job.sh',
  /** The scheduler's job id, written by submit right after the scheduler accepted the job. */
  nativeId: 'native-id',
  /** The host the job ran on (`$HOSTNAME`). */
  node: 'node',
  /** Epoch seconds when the job script started. */
  startedAt: 'started-at',
  /** Epoch seconds when the job script ended. */
  endedAt: 'ended-at',
  /** The command's exit status (128 + n for signal n), written atomically when the script ends. */
  exitCode: 'exit-code',
  /** Present when a signal stopped the command after it had run for at least its walltime. */
  walltimeExceeded: 'walltime-exceeded',
  /** Written by a PBS cancel before it calls `qdel`. */
  canceled: 'canceled',
} as const;

/**
 * The submit lock, `<workdir>/.drover-job/submit.lock` (beside the job directories, not in
 * one): one per workdir, so one per experiment and so per submit task, whatever the attempt.
 * Every submit of the task takes it (flock) from its lookup to the end of sbatch/qsub.
 */
export const batchSubmitLockFile = 'submit.lock';

/** How long a submit waits for the lock before it gives up (exit 6, retried later). */
export const batchSubmitLockWaitSeconds = 90;
/** The submit command's time limit: the lock wait plus a slow sbatch/qsub of its own. */
const batchSubmitTimeoutMs = 180_000;
/** The find command's time limit: the lock wait plus the lookup. */
export const batchFindTimeoutMs = 150_000;

/**
 * The start of the Slurm and PBS find commands, run as `bash -c <script> drover-find
 * <workdir> ...` (the rest of the arguments are left in "$@"): it takes the task's submit
 * lock, shared, so it waits while a submit of the task (one whose worker died or lost its
 * lease meanwhile) still runs its sbatch/qsub, and holds it through the lookup that
 * follows: that lookup sees whatever job such a submit made. A workdir with no lock file
 * has seen no submit. Exit 6: a submit still held the lock after the wait.
 */
export const batchFindPrelude = `
set -u
workdir=$1; shift
lock=$workdir/.drover-job/${batchSubmitLockFile}
if [ -e "$lock" ]; then
  exec 9< "$lock" && flock -s -w ${batchSubmitLockWaitSeconds} 9 ||
    { echo "a submit of this task still runs after ${batchSubmitLockWaitSeconds} s" >&2; exit 6; }
fi
`;

/**
 * The part of the Slurm and PBS submit commands before the scheduler is asked anything.
 * The commands run as `bash -c <script> drover-submit <key> <script path> <earlier key>...`.
 *
 * Why a lock per task and not per key: a retry gets a new key, so a lock per key let a
 * retry look its task's earlier keys up while an earlier attempt's sbatch was still running
 * (slow login node; its worker killed, cut off, or alive past its lease), find nothing, and
 * submit a second job. Here every attempt of the task takes the same lock and holds it from
 * the lookup to the end of its sbatch/qsub, so the lookup sees every earlier submit that
 * could have made a job. sbatch/qsub inherit the locked descriptor: when this shell dies
 * (SSH connection cut, command timed out) while they run, the lock stays taken until they
 * end. flock works across login nodes that share the workdir's file system (NFSv4; Lustre
 * with `-o flock`). Before sbatch/qsub, the submit points the task's claim (`taskClaimOf`)
 * at its key, so that an attempt that comes later, even an older one whose worker lost its
 * lease, looks there first.
 *
 * Under the lock it prints `adopted <key> <id>` and exits when the claimed key or one of
 * the given keys (earlier ones first) has a `native-id` file. Otherwise it leaves in
 * `$candidates` those keys whose job directory holds a script but no `native-id`: their
 * submit died around its sbatch/qsub, so a job of that name may exist, and only then does
 * the scheduler need asking. `adopt <key> <id>` records and prints such a job. Exit 3: the
 * job directory cannot be written; 6: another submit of the task still held the lock after
 * the wait.
 */
export const batchSubmitPrelude = `
set -u
key=$1 script=$2; shift 2
dir=\${script%/*} jobs=\${script%/*/*} workdir=\${script%/.drover-job/*}
claim=$jobs/\${1:-$key}.task
write_id() { printf '%s\\n' "$2" > "$jobs/$1/${batchJobFiles.nativeId}.tmp" && mv -f -- "$jobs/$1/${batchJobFiles.nativeId}.tmp" "$jobs/$1/${batchJobFiles.nativeId}"; }
adopt() { write_id "$1" "$2" && ln -sfn -- "$1" "$claim" || exit 3; printf 'adopted %s %s\\n' "$1" "$2"; exit 0; }
mkdir -p -- "$dir" && exec 9> "$jobs/${batchSubmitLockFile}" || exit 3
flock -w ${batchSubmitLockWaitSeconds} 9 || { echo "another submit of this task still runs after ${batchSubmitLockWaitSeconds} s" >&2; exit 6; }
owner=$(readlink -- "$claim") && [[ $owner =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || owner=
candidates=()
for k in \${owner:+"$owner"} "$@" "$key"; do
  if [ -s "$jobs/$k/${batchJobFiles.nativeId}" ]; then
    IFS= read -r id < "$jobs/$k/${batchJobFiles.nativeId}"; printf 'adopted %s %s\\n' "$k" "$id"; exit 0
  fi
  [ -e "$jobs/$k/${batchJobFiles.script}" ] && candidates+=("$k")
done
`;

/**
 * What the Slurm and PBS submit commands do right before sbatch/qsub: claim the task for
 * this key and save the script (from stdin).
 */
export const batchSubmitClaim = `
ln -sfn -- "$key" "$claim" && cat > "$script.tmp" && mv -f -- "$script.tmp" "$script" || exit 3`;

/** The end of the Slurm and PBS submit commands: `$id` was just submitted under `$key`. */
export const batchSubmitEpilogue = `
write_id "$key" "$id" || exit 3
printf 'submitted %s %s\\n' "$key" "$id"
`;

/**
 * The scheduler's time limit in whole minutes: the walltime's whole seconds rounded up to
 * minutes (so at least 1).
 *
 * @throws {RangeError} when `walltimeMinutes` is not a positive finite number.
 */
export function walltimeLimitMinutes(walltimeMinutes: number): number {
  return Math.ceil(walltimeSeconds(walltimeMinutes) / 60);
}

/**
 * Checks every value of `spec` that a Slurm or PBS script carries, so that no value can
 * change the script's meaning.
 *
 * @throws {RangeError} naming the first value that cannot be used safely.
 */
export function checkBatchJobSpec(spec: JobSpec): void {
  checkKeyAndJobName(spec);
  checkEarlierSubmissionKeys(spec);
  if (!workdirPattern.test(spec.workdir) || spec.workdir.split('/').includes('..')) {
    throw new RangeError(`workdir must be an absolute path of plain characters (${workdirPattern}), got ${JSON.stringify(spec.workdir)}`);
  }
  for (const [field, value] of [['queue', spec.queue], ['account', spec.account]] as const) {
    if (value !== undefined && !schedulerNamePattern.test(value)) {
      throw new RangeError(`${field} must match ${schedulerNamePattern}, got ${JSON.stringify(value)}`);
    }
  }
  for (const [field, value] of [['nodes', spec.nodes], ['coresPerNode', spec.coresPerNode]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`${field} must be a positive integer, got ${value}`);
    }
  }
  if (spec.memoryMb !== undefined && (!Number.isSafeInteger(spec.memoryMb) || spec.memoryMb < 1)) {
    throw new RangeError(`memoryMb must be a positive integer, got ${spec.memoryMb}`);
  }
  walltimeLimitMinutes(spec.walltimeMinutes);
  if (spec.argv.length === 0) {
    throw new RangeError('argv must name a program');
  }
  for (const name of Object.keys(spec.environment ?? {})) {
    if (!environmentNamePattern.test(name)) {
      throw new RangeError(`environment variable name must match ${environmentNamePattern}, got ${JSON.stringify(name)}`);
    }
  }
  checkEnvironmentSetup(spec.environmentSetup);
}

/**
 * Renders the lines that follow a Slurm or PBS script's directives. Call `checkBatchJobSpec`
 * first. The body:
 *
 * - names the job in comments (`# drover-submission-key: <key>`, `# drover-job-name: <name>`);
 * - before anything else, traps EXIT, TERM, INT and HUP: however the script ends it
 *   writes `ended-at`, `walltime-exceeded` when a signal stopped the command after the
 *   time limit, then `exit-code` (each temp file + `mv`), ignoring further signals while
 *   it does; a signal records 143, 130 or 129 instead of an earlier command's status;
 * - `cd`s into the workdir (PBS starts jobs in $HOME) and makes the job directory;
 * - forgets the ending of an earlier run of the same script (Slurm requeues jobs after a
 *   node failure), writes `node` and `started-at`;
 * - exports `spec.environment`, runs the environment setup lines, then the argv in the
 *   foreground, every element one `scriptWord`.
 *
 * Standard output and error are not redirected here: the scheduler writes them to
 * `stdout.txt` and `stderr.txt` (directives or qsub options), along with its own messages.
 * A command that ignores SIGTERM is killed with SIGKILL together with this script, which
 * then records nothing; so is a script signaled before bash has run its first lines (the
 * traps), which the job files then show as a job that never started.
 */
export function renderBatchJobBody(spec: JobSpec): string[] {
  const jobDirectory = jobDirectoryOf(spec.workdir, spec.submissionKey);
  const limitSeconds = walltimeLimitMinutes(spec.walltimeMinutes) * 60;
  const exports = Object.entries(spec.environment ?? {}).map(([name, value]) => `export ${name}=${scriptWord(value)}`);
  const file = (name: string) => `"$drover_job_directory/${name}"`;
  return [
    `# drover-submission-key: ${spec.submissionKey}`,
    `# drover-job-name: ${spec.jobName}`,
    '# Rendered by Drover; every user-given value below is one quoted word.',
    '',
    `drover_job_directory=${scriptWord(jobDirectory)}`,
    `drover_walltime_seconds=${limitSeconds}`,
    'drover_started_at=',
    '',
    '# Writes one line to a job file; tmp + mv so a reader never sees half of it.',
    'drover_write() {',
    '  { printf \'%s\\n\' "$2" > "$drover_job_directory/$1.tmp" &&',
    '    mv -f -- "$drover_job_directory/$1.tmp" "$drover_job_directory/$1"; } 2> /dev/null',
    '}',
    '',
    '# However the script ends (signal, setup failure included), record how, exit-code last.',
    '# Set before anything else runs, so that a signal at any later moment is recorded.',
    '# It first ignores further signals: a scheduler signals every process of the job at',
    '# once, so the command may end first and its TERM reach this script while it records;',
    '# a TERM trap run then would exit before exit-code was written, and the job be lost.',
    'drover_finish() {',
    "  trap '' HUP INT TERM",
    '  trap - EXIT',
    '  local status=$1 ended_at',
    "  printf -v ended_at '%(%s)T' -1",
    `  drover_write ${batchJobFiles.endedAt} "$ended_at"`,
    '  # The scheduler stops a job at its time limit with SIGTERM (SIGKILL later).',
    '  if [ "$status" -gt 128 ] && [ -n "$drover_started_at" ] && [ $((ended_at - drover_started_at)) -ge "$drover_walltime_seconds" ]; then',
    `    : > ${file(batchJobFiles.walltimeExceeded)}`,
    '  fi',
    `  drover_write ${batchJobFiles.exitCode} "$status"`,
    '  exit "$status"',
    '}',
    `trap 'drover_finish "$?"' EXIT`,
    '# A signal records 128 + its number, not the status of an earlier command; bash runs',
    '# these once the command in the foreground has ended.',
    "trap 'drover_finish 129' HUP",
    "trap 'drover_finish 130' INT",
    "trap 'drover_finish 143' TERM",
    '',
    `cd -- ${scriptWord(spec.workdir)} || exit 1`,
    'mkdir -p -- "$drover_job_directory" || exit 1',
    '# A requeued job runs this script again: the previous run\'s ending is not this one\'s.',
    `rm -f -- ${file(batchJobFiles.exitCode)} ${file(batchJobFiles.endedAt)} ${file(batchJobFiles.walltimeExceeded)}`,
    "printf -v drover_started_at '%(%s)T' -1",
    `drover_write ${batchJobFiles.node} "$HOSTNAME"`,
    `drover_write ${batchJobFiles.startedAt} "$drover_started_at"`,
    '',
    ...exports,
    '',
    '# Environment setup from the application deployment (trusted, verbatim).',
    ...spec.environmentSetup,
    '',
    spec.argv.map(scriptWord).join(' '),
    '',
  ];
}

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
    throw new Error(`reading ${jobDirectories.length} job directories failed (exit ${result.code}): ${result.stderr.trim()}`);
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
  if (exitCode !== null) return { ...base, state: 'failed', nativeState, exitCode };
  return {
    ...base,
    state: 'lost',
    nativeState: 'vanished',
    exitCode: null,
    reason: record.startedAt ? 'the job script was killed before it recorded an exit code' : 'the job ended without running',
  };
}

/** How one scheduler's submit answers read (see `runBatchSubmit`). */
export interface BatchSubmitAnswers {
  /** True when a failure says the scheduler's server did not answer. */
  isUnreachable(message: string): boolean;
  unreachable(message: string): ResourceUnreachableError;
  /** The scheduler's reason for refusing the job, from the failed command. */
  refusal(result: CommandResult): string;
  /** The job id in the scheduler's answer, or null when it is not one. */
  parseId(word: string): string | null;
}

/**
 * Runs a scheduler's submit script (`batchSubmitPrelude`, its own lookup and submit, then
 * `batchSubmitEpilogue`) in one remote command,
 * `bash -c <submitScript> drover-submit <key> <script path> <earlier key>...` with the job
 * script on stdin, and reads its answer: `adopted <key> <id>` or `submitted <key> <id>`.
 * Exit 5 means the scheduler refused the job (final `submit-rejected`); any other failure,
 * the lock wait and the command's time limit (3 minutes) included, is retryable
 * `submit-failed`: the next attempt adopts whatever this one's sbatch/qsub made.
 *
 * @throws {ResourceUnreachableError} when the answers say the server did not answer.
 */
export async function runBatchSubmit(
  shell: Shell,
  spec: JobSpec,
  script: string,
  submitScript: string,
  answers: BatchSubmitAnswers,
): Promise<SubmittedJob> {
  const scriptPath = `${jobDirectoryOf(spec.workdir, spec.submissionKey)}/${batchJobFiles.script}`;
  const earlierKeys = spec.earlierSubmissionKeys ?? [];
  const result = await shell.run(['bash', '-c', submitScript, 'drover-submit', spec.submissionKey, scriptPath, ...earlierKeys], {
    input: script,
    timeoutMs: batchSubmitTimeoutMs,
  });
  const message = result.stderr.trim();
  if (result.code !== 0) {
    if (answers.isUnreachable(message)) throw answers.unreachable(message);
    if (result.code === 5) throw finalFailure('submit-rejected', answers.refusal(result));
    throw retryableFailure('submit-failed', `submitting ${spec.submissionKey} failed (exit ${result.code}): ${message}`);
  }
  const match = /^(adopted|submitted) (\S+) (\S+)$/m.exec(result.stdout);
  const nativeId = match ? answers.parseId(match[3]) : null;
  if (!match || !nativeId || !isPlainSubmissionKey(match[2])) {
    throw retryableFailure('submit-failed', `unreadable answer from the submit of ${spec.submissionKey}: ${JSON.stringify(result.stdout)}`);
  }
  return { nativeId, adopted: match[1] === 'adopted', submissionKey: match[2], details: {} };
}

