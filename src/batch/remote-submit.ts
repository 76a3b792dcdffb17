/**
 * The submit and find commands Slurm and PBS share. Submits to one resource go to its login
 * node in batches: one remote bash command runs each job's submit in turn (its own lock,
 * adoption check and sbatch/qsub, exactly as a lone submit would) and answers each job on a
 * line of its own. Each adapter writes its lookup and sbatch/qsub between
 * `batchSubmitPrelude` and `batchSubmitEpilogue`, and submits through a `BatchSubmitter`.
 */
import type { JobSpec, SubmittedJob } from './port.ts';
import type { CommandResult, Shell } from '../shell/port.ts';
import { ResourceUnreachableError } from '../domain/errors.ts';
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
/** A submit command's time limit: the lock wait plus a slow sbatch/qsub of its own. */
const batchSubmitTimeoutMs = 180_000;
/** The find command's time limit: the lock wait plus the lookup. */
export const batchFindTimeoutMs = 150_000;
/** Submits per remote command at most: a batch's time limit is shared by its jobs. */
export const maxSubmitBatchSize = 100;
/**
 * Batch commands running at once per resource. Two: while one runs, the next gathers the
 * submits that arrive meanwhile, and the login node's two sbatch/qsub streams overlap.
 */
const maxBatchesInFlight = 2;
/** A queue is split among the command slots only into batches at least this large. */
const minSplitBatchSize = 16;
/** Exit code of a job's submit that found its task's lock taken (see `batchSubmitPrelude`). */
const lockBusyCode = 6;

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
 * The start of one job's submit, the body of the shell function `submit_one <key> <script
 * path> <earlier key>...`, which the batch command (`batchSubmitCommand`) calls for each
 * job in turn, with the job script in `$body` and the lock wait in `$lock_wait`. It runs in
 * the batch command's own shell (no subshell: a fork per job is what a busy login node
 * feels), so it ends with `return`, sets its answer in `$out`, and leaves the lock on
 * descriptor 9 for the batch command to close.
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
 * Under the lock it answers `adopted <key> <id>` and returns when the claimed key or one of
 * the given keys (earlier ones first) has a `native-id` file. Otherwise it leaves in
 * `$candidates` those keys whose job directory holds a script but no `native-id`: their
 * submit died around its sbatch/qsub, so a job of that name may exist, and only then does
 * the scheduler need asking. `adopt <key> <id>` records and answers such a job. Status 3:
 * the job directory cannot be written; 6: another submit of the task held the lock for
 * longer than `$lock_wait` seconds (0 in a batch: the job is then sent again alone, to wait).
 * The `native-id` file is written in place, not renamed into place: it is written and read
 * only under the lock (`readBatchJobRecords` reads it for display only).
 */
export const batchSubmitPrelude = `
key=$1 script=$2; shift 2
dir=\${script%/*} jobs=\${script%/*/*} workdir=\${script%/.drover-job/*}
claim=$jobs/\${1:-$key}.task
write_id() { printf '%s\\n' "$2" > "$jobs/$1/${batchJobFiles.nativeId}"; }
adopt() { write_id "$1" "$2" && ln -sfn -- "$1" "$claim" || return 3; out="adopted $1 $2"; }
# The batch made every job directory at once; this makes it again only to report why not.
[ -d "$dir" ] || mkdir -p -- "$dir" || return 3
exec 9> "$jobs/${batchSubmitLockFile}" || return 3
flock -w "$lock_wait" 9 || { echo "another submit of this task still runs after $lock_wait s" >&2; return ${lockBusyCode}; }
owner=
[ -L "$claim" ] && { owner=$(readlink -- "$claim") && [[ $owner =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || owner=; }
candidates=()
for k in \${owner:+"$owner"} "$@" "$key"; do
  if [ -s "$jobs/$k/${batchJobFiles.nativeId}" ]; then
    IFS= read -r id < "$jobs/$k/${batchJobFiles.nativeId}"; out="adopted $k $id"; return 0
  fi
  [ -e "$jobs/$k/${batchJobFiles.script}" ] && candidates+=("$k")
done
`;

/**
 * What the Slurm and PBS submits do right before sbatch/qsub: claim the task for this key
 * and save the script (from `$body`). No temporary file and rename: a script cut short by
 * a dying shell only makes the next attempt ask the scheduler for a job of this key, which
 * it would ask anyway, since no `native-id` was written.
 */
export const batchSubmitClaim = `
ln -sfn -- "$key" "$claim" && printf '%s' "$body" > "$script" || return 3`;

/** The end of the Slurm and PBS submits: `$id` was just submitted under `$key`. */
export const batchSubmitEpilogue = `
write_id "$key" "$id" || return 3
out="submitted $key $id"
`;

/**
 * The batch command around one scheduler's `submit_one` body (`batchSubmitPrelude`, its
 * lookup and sbatch/qsub, `batchSubmitEpilogue`), run as `bash -c <command> drover-submit
 * <lock wait seconds>`. The jobs come on stdin as data, never as shell text: per job a
 * header line `job <key> <script path bytes> <script bytes> <earlier key>...` (keys are
 * plain: `isPlainSubmissionKey`), then the script path and the job script, each exactly as
 * many bytes as announced. It makes every job directory with one `mkdir`, then runs each
 * job's submit in turn, stdin and stdout on /dev/null, stderr captured, closes the job's
 * lock, and prints `drover-result <n> <status>\t<answer>\t<stderr>` for the n-th job (from
 * 0), with backslash, newline, carriage return and tab escaped (`\\\\`, `\\n`, `\\r`,
 * `\\t`): a line per job, which no job's output or scheduler message can forge or split. A
 * job that got no line did not finish its submit (the command was cut off): it either made
 * a job whose `native-id` is recorded, or is in the state the next attempt's lookup adopts.
 */
export function batchSubmitCommand(submitOneBody: string): string {
  return `
set -u
export LC_ALL=C
lock_wait=$1
submit_one() {
${submitOneBody}
}
escape() { REPLY=\${1//\\\\/\\\\\\\\}; REPLY=\${REPLY//$'\\n'/\\\\n}; REPLY=\${REPLY//$'\\r'/\\\\r}; REPLY=\${REPLY//$'\\t'/\\\\t}; }
errors=$(mktemp) || exit 3
trap 'rm -f -- "$errors"' EXIT
set -f
keys=() paths=() bodies=() earliers=()
while IFS=' ' read -r tag key path_bytes script_bytes earlier; do
  [[ $tag == job && $path_bytes =~ ^[0-9]+$ && $script_bytes =~ ^[0-9]+$ ]] || { echo "unreadable job header: $tag" >&2; exit 3; }
  IFS= read -r -N "$path_bytes" script_path && IFS= read -r -N "$script_bytes" body ||
    { echo "the input ended inside job \${#keys[@]}" >&2; exit 3; }
  keys+=("$key") paths+=("$script_path") bodies+=("$body") earliers+=("$earlier")
done
[ \${#paths[@]} -eq 0 ] || mkdir -p -- "\${paths[@]%/*}" 2> /dev/null
for n in "\${!keys[@]}"; do
  body=\${bodies[n]} out=
  earlier_keys=(\${earliers[n]})
  submit_one "\${keys[n]}" "\${paths[n]}" "\${earlier_keys[@]}" < /dev/null > /dev/null 2> "$errors"; code=$?
  exec 9>&-
  err=; IFS= read -r -d '' err < "$errors"
  escape "$out"; out=$REPLY; escape "$err"; err=$REPLY
  printf 'drover-result %d %d\\t%s\\t%s\\n' "$n" "$code" "$out" "$err"
done
`;
}

/**
 * True when a scheduler refused a job for a limit on how many jobs its user or account may
 * have queued or running: Slurm's `QOSMaxSubmitJobPerUserLimit`, `AssocMaxSubmitJobLimit`
 * and their kin (`Job violates accounting/QOS policy (job submit limit...)`), PBS Pro's
 * `would exceed ... per-user limit`, Torque's `Maximum number of jobs already in queue`.
 * Such a job is fine: it is submitted again later instead of failing.
 */
export function isSubmitLimitMessage(message: string): boolean {
  return /MaxSubmitJob|job submit limit|would exceed [^;]*limit|maximum number of jobs already in queue/i.test(message);
}

/** How one scheduler's submit answers read (see `readSubmitAnswer`). */
export interface BatchSubmitAnswers {
  /** True when a failure says the scheduler's server did not answer. */
  isUnreachable(message: string): boolean;
  unreachable(message: string): ResourceUnreachableError;
  /** The scheduler's reason for refusing the job, from the failed submit. */
  refusal(result: CommandResult): string;
  /** The job id in the scheduler's answer, or null when it is not one. */
  parseId(word: string): string | null;
}

/**
 * Reads one job's answer from its submit (`batchSubmitPrelude` ... `batchSubmitEpilogue`):
 * `adopted <key> <id>` or `submitted <key> <id>`. Exit 5 means the scheduler refused the
 * job: for a submit limit (`isSubmitLimitMessage`) retryable `submit-limit`, else final
 * `submit-rejected`; any other failure is retryable `submit-failed`: the next attempt
 * adopts whatever this one's sbatch/qsub made.
 *
 * @throws {ResourceUnreachableError} when the answer says the server did not answer.
 */
export function readSubmitAnswer(spec: JobSpec, result: CommandResult, answers: BatchSubmitAnswers): SubmittedJob {
  const message = result.stderr.trim();
  if (result.code !== 0) {
    if (answers.isUnreachable(message)) throw answers.unreachable(message);
    if (result.code === 5) {
      const refusal = answers.refusal(result);
      if (isSubmitLimitMessage(refusal)) {
        throw retryableFailure(
          'submit-limit',
          `the cluster takes no more of your jobs for now (${refusal}); Drover submits again later`,
        );
      }
      throw finalFailure('submit-rejected', refusal);
    }
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

/** One job waiting for its batch. */
interface PendingSubmit {
  spec: JobSpec;
  script: string;
  resolve(job: SubmittedJob): void;
  reject(error: unknown): void;
}

/**
 * The stdin of a batch command (see `batchSubmitCommand`): each job's header, script path
 * and script, lengths in UTF-8 bytes.
 *
 * @throws {RangeError} when a key is not plain or the path or script holds a NUL byte
 *   (bash cannot carry one; the renderers refuse such values before this).
 */
export function encodeSubmitBatch(jobs: Array<{ spec: JobSpec; script: string }>): string {
  return jobs
    .map(({ spec, script }) => {
      const keys = [spec.submissionKey, ...(spec.earlierSubmissionKeys ?? [])];
      const bad = keys.find((key) => !isPlainSubmissionKey(key));
      if (bad !== undefined) throw new RangeError(`not a plain submission key: ${JSON.stringify(bad)}`);
      const scriptPath = `${jobDirectoryOf(spec.workdir, spec.submissionKey)}/${batchJobFiles.script}`;
      if (scriptPath.includes('\0') || script.includes('\0'))
        throw new RangeError('a job script or path holds a NUL byte');
      const header = ['job', spec.submissionKey, Buffer.byteLength(scriptPath), Buffer.byteLength(script)];
      return `${[...header, ...(spec.earlierSubmissionKeys ?? [])].join(' ')}\n${scriptPath}${script}`;
    })
    .join('');
}

/**
 * The per-job results in a batch command's output, by job index: lines
 * `drover-result <n> <code>\t<answer>\t<stderr>` (see `batchSubmitCommand`), unescaped.
 */
export function parseSubmitBatchOutput(stdout: string): Map<number, CommandResult> {
  const results = new Map<number, CommandResult>();
  for (const line of stdout.split('\n')) {
    const match = /^drover-result (\d+) (\d+)\t([^\t]*)\t([^\t]*)$/.exec(line);
    // The first line for a job is its own: the command prints them in order.
    if (!match || results.has(Number(match[1]))) continue;
    results.set(Number(match[1]), {
      code: Number(match[2]),
      stdout: unescapeField(match[3]),
      stderr: unescapeField(match[4]),
    });
  }
  return results;
}

function unescapeField(text: string): string {
  return text.replace(/\\([\\nrt])/g, (_, character: string) =>
    character === 'n' ? '\n' : character === 'r' ? '\r' : character === 't' ? '\t' : '\\',
  );
}

/**
 * Submits one resource's jobs in batches: `submit` queues the job, and the queue goes to the
 * login node as one remote command (`batchSubmitCommand`) as soon as fewer than two batch
 * commands are running, up to `maxSubmitBatchSize` jobs at a time (a queue of more than 16
 * is split in halves, one per command slot, so two commands run side by side: a slot that
 * frees while the other runs takes half of what waits and leaves the rest to the other). A
 * lone submit goes at once (after the current event-loop turn, which lets submits made
 * together travel together); submits that arrive while commands run wait for the next one. Each job is
 * answered on its own (`readSubmitAnswer`): one job's refusal or failure is its own.
 *
 * In a batch, a job takes its task's lock without waiting: a job whose lock another submit
 * of its task holds (an earlier attempt's slow sbatch) is sent again alone, and that command
 * waits for the lock (90 s), as a lone submit always did, without holding up the batch.
 */
export class BatchSubmitter {
  private readonly command: string;
  private queue: PendingSubmit[] = [];
  private inFlight = 0;
  private flushScheduled = false;

  /**
   * @param submitOneBody the scheduler's per-job submit (see `batchSubmitCommand`).
   * @param onBatch called with each batch command's job count (tests and benchmarks).
   */
  constructor(
    private readonly shell: Shell,
    submitOneBody: string,
    private readonly answers: BatchSubmitAnswers,
    private readonly onBatch?: (jobs: number) => void,
  ) {
    this.command = batchSubmitCommand(submitOneBody);
  }

  /**
   * Submits one job (with its rendered script) in the next batch.
   *
   * @throws {TaskError} `submit-rejected` (final) when the scheduler refuses the job;
   *   `submit-failed` (retryable) for any other failure of this job or of its batch.
   * @throws {ResourceUnreachableError} when the login node or the scheduler does not answer.
   */
  submit(spec: JobSpec, script: string): Promise<SubmittedJob> {
    return new Promise<SubmittedJob>((resolve, reject) => {
      this.queue.push({ spec, script, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    // The queue is shared out among all the command slots, busy ones included, so that their
    // sbatch/qsub calls overlap to the end: a free slot that took the whole queue while the
    // other was busy ran on alone after it (100 jobs, 40 s, in a loaded bench run).
    const share = Math.max(minSplitBatchSize, Math.ceil(this.queue.length / maxBatchesInFlight));
    while (this.inFlight < maxBatchesInFlight && this.queue.length > 0) {
      // The last free slot takes along what its share would leave for a busy one, when that
      // is too few for a batch of its own.
      const last = this.inFlight === maxBatchesInFlight - 1;
      const size = last && this.queue.length - share < minSplitBatchSize ? this.queue.length : share;
      const batch = this.queue.splice(0, Math.min(maxSubmitBatchSize, size));
      this.inFlight += 1;
      void this.runBatch(batch, 0).finally(() => {
        this.inFlight -= 1;
        this.flush();
      });
    }
  }

  /** Runs one batch command; settles every job's promise. Never rejects. */
  private async runBatch(batch: PendingSubmit[], lockWaitSeconds: number): Promise<void> {
    let result: CommandResult;
    try {
      const input = encodeSubmitBatch(batch);
      this.onBatch?.(batch.length);
      result = await this.shell.run(['bash', '-c', this.command, 'drover-submit', String(lockWaitSeconds)], {
        input,
        timeoutMs: batchSubmitTimeoutMs,
      });
    } catch (error) {
      for (const job of batch) job.reject(error);
      return;
    }
    const results = parseSubmitBatchOutput(result.stdout);
    batch.forEach((job, index) => {
      const own = results.get(index);
      if (!own) {
        job.reject(this.unanswered(job.spec, result));
        return;
      }
      if (own.code === lockBusyCode && lockWaitSeconds === 0) {
        // Outside the batch slots: this command may wait up to 90 s for the lock.
        void this.runBatch([job], batchSubmitLockWaitSeconds);
        return;
      }
      try {
        job.resolve(readSubmitAnswer(job.spec, own, this.answers));
      } catch (error) {
        job.reject(error);
      }
    });
  }

  /** Why a job of the batch got no answer: the command ended (or was cut off) before it. */
  private unanswered(spec: JobSpec, result: CommandResult): Error {
    const message = result.stderr.trim();
    if (message && this.answers.isUnreachable(message)) return this.answers.unreachable(message);
    return retryableFailure(
      'submit-failed',
      `the batch submit command ended before the submit of ${spec.submissionKey} (exit ${result.code}): ${message}`,
    );
  }
}
