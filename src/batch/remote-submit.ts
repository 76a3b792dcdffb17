/**
 * The submit and find commands Slurm and PBS share: one remote bash command each, under the
 * task's submit lock, so that one task makes one cluster job whatever overlaps (a slow
 * sbatch/qsub, a dropped connection, a killed worker, an expired lease). Each adapter puts
 * its own lookup and sbatch/qsub between `batchSubmitPrelude` and `batchSubmitEpilogue`,
 * and reads the answer with `runBatchSubmit`.
 */
import type { JobSpec, SubmittedJob } from './port.ts';
import type { CommandResult, Shell } from '../shell/port.ts';
import type { ResourceUnreachableError } from '../domain/errors.ts';
import { finalFailure, retryableFailure } from '../domain/failure.ts';
import { batchJobFiles, isPlainSubmissionKey, jobDirectoryOf } from './job-script.ts';

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
  const result = await shell.run(
    ['bash', '-c', submitScript, 'drover-submit', spec.submissionKey, scriptPath, ...earlierKeys],
    {
      input: script,
      timeoutMs: batchSubmitTimeoutMs,
    },
  );
  const message = result.stderr.trim();
  if (result.code !== 0) {
    if (answers.isUnreachable(message)) throw answers.unreachable(message);
    if (result.code === 5) throw finalFailure('submit-rejected', answers.refusal(result));
    throw retryableFailure(
      'submit-failed',
      `submitting ${spec.submissionKey} failed (exit ${result.code}): ${message}`,
    );
  }
  const match = /^(adopted|submitted) (\S+) (\S+)$/m.exec(result.stdout);
  const nativeId = match ? answers.parseId(match[3]) : null;
  if (!match || !nativeId || !isPlainSubmissionKey(match[2])) {
    throw retryableFailure(
      'submit-failed',
      `unreadable answer from the submit of ${spec.submissionKey}: ${JSON.stringify(result.stdout)}`,
    );
  }
  return { nativeId, adopted: match[1] === 'adopted', submissionKey: match[2], details: {} };
}
