/**
 * The submit and find commands Slurm and PBS share. Submits to one resource go to its login
 * node in batches: one remote bash command runs each job's submit in turn (its own lock,
 * adoption check and sbatch/qsub, exactly as a lone submit would) and answers each job on a
 * line of its own. Each adapter writes its lookup and sbatch/qsub between
 * `batchSubmitPrelude` and `batchSubmitEpilogue`, and submits through a `BatchSubmitter`.
 * Jobs of one array group (`JobSpec.arrayGroup`) in a batch go as one job array instead
 * (`ArraySubmit`): each element still takes its own lock and lookup, and stops short of
 * sbatch/qsub, which the batch then runs once for all of them.
 */
import { randomBytes } from 'node:crypto';
import type { JobSpec, SubmittedJob } from './port.ts';
import type { CommandResult, Shell } from '../shell/port.ts';
import { ResourceUnreachableError } from '../domain/errors.ts';
import { finalFailure, retryableFailure } from '../domain/failure.ts';
import {
  arrayJobScriptsPlaceholder,
  batchJobFiles,
  isPlainSubmissionKey,
  jobDirectoryOf,
  walltimeLimitMinutes,
} from './job-script.ts';

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
/** Units (a job, or the jobs of one array group) per remote command at most: a batch's time limit is shared by its jobs. */
export const maxSubmitBatchSize = 100;
/**
 * Batch commands running at once per resource. Two: while one runs, the next gathers the
 * submits that arrive meanwhile, and the login node's two sbatch/qsub streams overlap.
 */
const maxBatchesInFlight = 2;
/** A queue is split among the command slots only into batches at least this large. */
const minSplitBatchSize = 16;
/**
 * How long the jobs of an array group wait in the queue for more of their group while
 * their submits still arrive: until none came for `arrayGatherQuietMs`, at most
 * `arrayGatherMaxMs` after the first. A sweep's submit tasks reach the batcher as workers
 * claim them, over some hundreds of milliseconds; without the wait the first few went as an
 * array of their own (bench/README.md, Job arrays).
 *
 * A group whose size is known (`JobSpec.arrayGroupSize`) waits longer while some of it has
 * not arrived, `sizedGroupQuietMs` and at most `sizedGroupMaxMs`, and goes the moment all of
 * it has: a 1,000-element sweep's submits trickle in over seconds on a busy worker, and the
 * short window sent them as 15-20 arrays (bench/README.md). The quiet still ends the wait
 * when the rest will not come (elements canceled, or claimed by other workers).
 */
export const arrayGatherQuietMs = 200;
export const arrayGatherMaxMs = 2_000;
export const sizedGroupQuietMs = 1_000;
export const sizedGroupMaxMs = 10_000;
/** How long the batcher remembers how many jobs of a sized group it sent (see `sizedGroupQuietMs`). */
const sentMemoryMs = 60_000;
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
if [ -n "$prelocked" ]; then
  # An array element whose lock the batch took with the others' (see \`batchSubmitCommand\`).
  [ "$prelocked" != busy ] || { echo "another submit of this task still runs" >&2; return ${lockBusyCode}; }
  exec 9>&"$prelocked" || return 3
else
  exec 9> "$jobs/${batchSubmitLockFile}" || return 3
  flock -w "$lock_wait" 9 || { echo "another submit of this task still runs after $lock_wait s" >&2; return ${lockBusyCode}; }
fi
owner=
[ -L "$claim" ] && { owner=$(readlink -- "$claim") && [[ $owner =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || owner=; }
candidates=()
for k in \${owner:+"$owner"} "$@" "$key"; do
  if [ -s "$jobs/$k/${batchJobFiles.nativeId}" ]; then
    IFS= read -r id < "$jobs/$k/${batchJobFiles.nativeId}"; out="adopted $k $id"; return 0
  fi
  [ -e "$jobs/$k/${batchJobFiles.script}" ] && candidates+=("$k")
done
# The name each candidate's job carries: its key, or its array's name (with its index).
cand_names=() cand_indexes=()
for k in "\${candidates[@]}"; do
  name=$k index=
  if [ -s "$jobs/$k/${batchJobFiles.arrayElement}" ]; then
    read -r name index < "$jobs/$k/${batchJobFiles.arrayElement}"
    [[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ && $index =~ ^[0-9]+$ ]] || name=$k index=
  fi
  cand_names+=("$name") cand_indexes+=("$index")
done
`;

/**
 * `adopt_named <job name> <job id>`, for the Slurm and PBS lookups: adopts the job the
 * scheduler lists under a candidate's name (`$cand_names`, see `batchSubmitPrelude`): for
 * an array element, the element of that index in the listed array (`element_id`).
 */
const adoptNamed = `
adopt_named() {
  local i
  for i in "\${!cand_names[@]}"; do
    [ "\${cand_names[i]}" = "$1" ] || continue
    if [ -n "\${cand_indexes[i]}" ]; then element_id "$2" "\${cand_indexes[i]}"; adopt "\${candidates[i]}" "$REPLY"
    else adopt "\${candidates[i]}" "$2"; fi
    return
  done
  return 3
}`;

/**
 * What the Slurm and PBS submits do right before sbatch/qsub: claim the task for this key
 * and save the script (from `$body`). No temporary file and rename: a script cut short by
 * a dying shell only makes the next attempt ask the scheduler for a job of this key, which
 * it would ask anyway, since no `native-id` was written.
 */
export const batchSubmitClaim = `
if [ -n "$array_name" ] && [ -n "$fast_claims" ]; then
  # Made with the other elements' claims in one process, before the array's sbatch/qsub.
  claims+=("$key" "$claim")
else
  ln -sfn -- "$key" "$claim" || return 3
fi
printf '%s' "$body" > "$script" || return 3
if [ -n "$array_name" ]; then
  # An array element: its lock stays held (on a descriptor of its own) through the array's
  # sbatch/qsub (see \`batchSubmitCommand\`, which records the element's place first).
  exec {held_lock}>&9 || return 3
  out=pending; return 0
fi
[ ! -e "$dir/${batchJobFiles.arrayElement}" ] || rm -f -- "$dir/${batchJobFiles.arrayElement}" || return 3`;

/** The end of the Slurm and PBS submits: `$id` was just submitted under `$key`. */
export const batchSubmitEpilogue = `
write_id "$key" "$id" || return 3
out="submitted $key $id"
`;

/**
 * How one scheduler submits a job array, for `batchSubmitCommand`: two bash function bodies
 * and the wrapper script's renderer.
 */
export interface ArraySubmit {
  /**
   * Body of `submit_array <wrapper path> <index range>` (`0-<n - 1>`): submits the array
   * job whose script is the wrapper; sets `$id` to the id the scheduler printed. Status 5
   * (its message on stderr): the scheduler refused it.
   */
  submitArrayBody: string;
  /** Body of `element_id <array id> <index>`: sets `$REPLY` to the element's job id (`123_4`). */
  elementIdBody: string;
  /**
   * The wrapper script of an array named `name` of jobs with `spec`'s directives (see
   * `JobSpec.arrayGroup`): the batch command puts the table of its elements' job scripts
   * in place of its line `arrayJobScriptsPlaceholder` (`renderArrayWrapperBody`).
   */
  renderArrayScript(name: string, spec: JobSpec): string;
  /** Elements per array at most (Slurm: MaxArraySize). */
  maxArraySize(): Promise<number>;
}

/**
 * The batch command around one scheduler's `submit_one` body (`batchSubmitPrelude`, its
 * lookup and sbatch/qsub, `batchSubmitEpilogue`), run as `bash -c <command> drover-submit
 * <lock wait seconds>`. The jobs come on stdin as data, never as shell text: per job a
 * header line `job <key> <script path bytes> <script bytes> <earlier key>...` (keys are
 * plain: `isPlainSubmissionKey`), then the script path and the job script, each exactly as
 * many bytes as announced. A job array is a header `array <name> <wrapper bytes> <elements>`
 * and its wrapper script, followed by its elements' `job` entries. It makes every job
 * directory with one `mkdir`, then runs each job's submit in turn, stdin and stdout on
 * /dev/null, stderr captured, closes the job's lock, and prints `drover-result <n>
 * <status>\t<answer>\t<stderr>` for the n-th job (from 0), with backslash, newline,
 * carriage return and tab escaped (`\\\\`, `\\n`, `\\r`, `\\t`): a line per job, which no
 * job's output or scheduler message can forge or split. A job that got no line did not
 * finish its submit (the command was cut off): it either made a job whose `native-id` is
 * recorded, or is in the state the next attempt's lookup adopts.
 *
 * An array element's submit stops before sbatch/qsub (`batchSubmitClaim`, its lock held);
 * after the array's last element, the elements still to submit (n of them) are numbered 0
 * to n - 1, each records `<array name> <number>` (`array-element`), and they go as one array
 * job of indices 0 to n - 1 (`submit_array`, the wrapper with their table of job scripts
 * saved as `array.sh` in the first one's job directory); each element's `native-id` is
 * written and answered, and their locks closed.
 */
export function batchSubmitCommand(submitOneBody: string, arrays?: ArraySubmit): string {
  return `
set -u
export LC_ALL=C
# bash 5.2 reads & in a replacement as the match: the wrapper's table is put in literally.
shopt -u patsub_replacement 2> /dev/null
lock_wait=$1
# An array holds one lock per element through its sbatch/qsub: as many open files as allowed.
ulimit -n hard 2> /dev/null
submit_one() {
${submitOneBody}
}
submit_array() {
${arrays?.submitArrayBody ?? 'return 3'}
}
element_id() {
${arrays?.elementIdBody ?? 'return 3'}
}
${adoptNamed}
escape() { REPLY=\${1//\\\\/\\\\\\\\}; REPLY=\${REPLY//$'\\n'/\\\\n}; REPLY=\${REPLY//$'\\r'/\\\\r}; REPLY=\${REPLY//$'\\t'/\\\\t}; }
report() { escape "$3"; local answer=$REPLY; escape "$4"; printf 'drover-result %d %d\\t%s\\t%s\\n' "$1" "$2" "$answer" "$REPLY"; }
# With perl on the login node, an array's element locks are taken by one process (it locks
# the descriptors this shell opened, which keep the locks after it exits) and their claims
# made by one more, instead of a flock and an ln per element: 2 forks per array, not 2 per
# element (1,000 elements: 16-26 s of forks on a loaded 2-core login node). Sets $prelock[m]
# to the descriptor holding element m's lock, or "busy".
fast_claims=
command -v perl > /dev/null && fast_claims=1
lock_elements() {
  local a=$1 m fd fds=() taken j=0
  [ -n "$fast_claims" ] || return 0
  for ((m = array_last[a] - array_counts[a] + 1; m <= array_last[a]; m++)); do
    fd=-1; exec {fd}> "\${paths[m]%/*/*}/${batchSubmitLockFile}" || fd=-1
    prelock[m]=$fd fds+=("$fd")
  done
  taken=$(perl -MFcntl=:flock -e 'for my $fd (@ARGV) { my $h; print(($fd >= 0 && open($h, ">&=", $fd) && flock($h, LOCK_EX | LOCK_NB)) ? 1 : 0) }' -- "\${fds[@]}")
  for ((m = array_last[a] - array_counts[a] + 1; m <= array_last[a]; m++, j++)); do
    [ "\${taken:j:1}" = 1 ] && continue
    fd=\${prelock[m]}; [ "$fd" -lt 0 ] || exec {fd}>&-
    prelock[m]=busy
  done
}
# Submits the pending elements of array $1 as one array job; answers each of them.
submit_pending() {
  local a=$1 m j code=0 err= table= line wrapper nl=$'\\n'
  [ \${#pending[@]} -gt 0 ] || return 0
  # Element j of the array is the j-th pending job: recorded in its job directory before the
  # sbatch/qsub (a later attempt's lookup finds it by the array's name and j), and the j-th
  # line of the wrapper's table of job scripts.
  for j in "\${!pending[@]}"; do
    m=\${pending[j]}
    printf '%s %s\\n' "\${array_names[a]}" "$j" > "\${paths[m]%/*}/${batchJobFiles.arrayElement}" ||
      { code=3; echo "cannot record \${keys[m]} as an element of its array" > "$errors"; }
    printf -v line 'drover_job_scripts[%d]=%q\\n' "$j" "\${paths[m]}"; table+=$line
  done
  if [ "$code" -eq 0 ] && [ \${#claims[@]} -gt 0 ]; then
    perl -e 'while (my ($target, $link) = splice(@ARGV, 0, 2)) { unlink $link; symlink($target, $link) or die "cannot claim $link: $!\\n" }' -- "\${claims[@]}" 2> "$errors" || code=3
  fi
  wrapper=\${paths[pending[0]]%/*}/array.sh id=
  [ "$code" -ne 0 ] || printf '%s' "\${array_scripts[a]/$nl${arrayJobScriptsPlaceholder}$nl/$nl$table}" 2> "$errors" > "$wrapper" || code=3
  [ "$code" -ne 0 ] || { submit_array "$wrapper" "0-$((\${#pending[@]} - 1))" < /dev/null > /dev/null 2> "$errors"; code=$?; }
  [ "$code" -eq 0 ] || { IFS= read -r -d '' err < "$errors"; }
  for j in "\${!pending[@]}"; do
    m=\${pending[j]}
    if [ "$code" -ne 0 ]; then report "$m" "$code" "" "$err"
    else
      element_id "$id" "$j"
      if printf '%s\\n' "$REPLY" > "\${paths[m]%/*}/${batchJobFiles.nativeId}"; then report "$m" 0 "submitted \${keys[m]} $REPLY" ""
      else report "$m" 3 "" "cannot write the native-id of \${keys[m]}"; fi
    fi
    held_lock=\${held[m]}; exec {held_lock}>&-
  done
  # What sbatch/qsub printed on stderr is no later job's message.
  : > "$errors"
  pending=() claims=()
}
errors=$(mktemp) || exit 3
trap 'rm -f -- "$errors"' EXIT
set -f
keys=() paths=() bodies=() earliers=() member_of=() member_index=() held=() pending=() prelock=() claims=()
array_names=() array_scripts=() array_last=() array_counts=() elements=0 array_count=0
while IFS=' ' read -r tag key path_bytes script_bytes earlier; do
  if [[ $tag == array && $path_bytes =~ ^[0-9]+$ && $script_bytes =~ ^[1-9][0-9]*$ && $elements -eq 0 ]]; then
    IFS= read -r -N "$path_bytes" wrapper || { echo "the input ended inside array \${#array_names[@]}" >&2; exit 3; }
    array_names+=("$key") array_scripts+=("$wrapper") array_last+=($((\${#keys[@]} + script_bytes - 1))) array_counts+=("$script_bytes")
    elements=$script_bytes array_count=$script_bytes
    continue
  fi
  [[ $tag == job && $path_bytes =~ ^[0-9]+$ && $script_bytes =~ ^[0-9]+$ ]] || { echo "unreadable job header: $tag" >&2; exit 3; }
  IFS= read -r -N "$path_bytes" script_path && IFS= read -r -N "$script_bytes" body ||
    { echo "the input ended inside job \${#keys[@]}" >&2; exit 3; }
  if [ "$elements" -gt 0 ]; then
    a=$((\${#array_names[@]} - 1))
    member_of+=("$a") member_index+=($((array_count - elements)))
    elements=$((elements - 1))
  else
    member_of+=("") member_index+=("")
  fi
  keys+=("$key") paths+=("$script_path") bodies+=("$body") earliers+=("$earlier")
done
[ "$elements" -eq 0 ] || { echo "the input ended inside array \${#array_names[@]}" >&2; exit 3; }
# The job directories, <workdir>/.drover-job/<key>: two mkdir calls per job (env-setup made
# the workdir), not mkdir -p's one per component of the path; then mkdir -p for any missing.
if [ \${#paths[@]} -gt 0 ]; then
  mkdir -- "\${paths[@]%/*/*}" 2> /dev/null; mkdir -- "\${paths[@]%/*}" 2> /dev/null
  missing=(); for dir in "\${paths[@]%/*}"; do [ -d "$dir" ] || missing+=("$dir"); done
  [ \${#missing[@]} -eq 0 ] || mkdir -p -- "\${missing[@]}" 2> /dev/null
fi
for n in "\${!keys[@]}"; do
  body=\${bodies[n]} out= a=\${member_of[n]} array_name= array_index= prelocked=
  if [ -n "$a" ]; then
    array_name=\${array_names[a]} array_index=\${member_index[n]}
    [ "$array_index" -ne 0 ] || lock_elements "$a"
    prelocked=\${prelock[n]:-}
  fi
  earlier_keys=(\${earliers[n]})
  # Appended, and emptied only when a job wrote to it: truncating it for every job cost an
  # open that changes the file system (0.3 ms each on a loaded login node).
  submit_one "\${keys[n]}" "\${paths[n]}" "\${earlier_keys[@]}" < /dev/null > /dev/null 2>> "$errors"; code=$?
  exec 9>&-
  # The batch's own descriptor of a prelocked element: the element keeps its lock on $held_lock.
  [ -z "$prelocked" ] || [ "$prelocked" = busy ] || exec {prelocked}>&-
  err=; [ ! -s "$errors" ] || { IFS= read -r -d '' err < "$errors"; : > "$errors"; }
  if [ "$code" -eq 0 ] && [ "$out" = pending ]; then pending+=("$n") held[n]=$held_lock
  else report "$n" "$code" "$out" "$err"; fi
  [ -z "$a" ] || [ "$n" -ne "\${array_last[a]}" ] || submit_pending "$a"
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

/** One job of a batch, as `encodeSubmitBatch` sends it. */
export interface SubmitBatchJob {
  spec: JobSpec;
  script: string;
}

/** A job array of a batch: its name, wrapper script and elements (element i: `jobs[i]`). */
export interface SubmitBatchArray {
  arrayName: string;
  arrayScript: string;
  jobs: SubmitBatchJob[];
}

/**
 * The stdin of a batch command (see `batchSubmitCommand`): each job's header, script path
 * and script, lengths in UTF-8 bytes; an array's header and wrapper before its elements.
 * Results are numbered by job, arrays flattened, in the order given.
 *
 * @throws {RangeError} when a key or an array name is not plain or the path or script
 *   holds a NUL byte (bash cannot carry one; the renderers refuse such values before this).
 */
export function encodeSubmitBatch(entries: Array<SubmitBatchJob | SubmitBatchArray>): string {
  return entries
    .map((entry) => {
      if (!('arrayName' in entry)) return encodeJob(entry);
      if (!isPlainSubmissionKey(entry.arrayName))
        throw new RangeError(`not a plain array name: ${JSON.stringify(entry.arrayName)}`);
      if (entry.arrayScript.includes('\0')) throw new RangeError('an array script holds a NUL byte');
      const header = `array ${entry.arrayName} ${Buffer.byteLength(entry.arrayScript)} ${entry.jobs.length}\n`;
      return `${header}${entry.arrayScript}${entry.jobs.map(encodeJob).join('')}`;
    })
    .join('');
}

function encodeJob({ spec, script }: SubmitBatchJob): string {
  const keys = [spec.submissionKey, ...(spec.earlierSubmissionKeys ?? [])];
  const bad = keys.find((key) => !isPlainSubmissionKey(key));
  if (bad !== undefined) throw new RangeError(`not a plain submission key: ${JSON.stringify(bad)}`);
  const scriptPath = `${jobDirectoryOf(spec.workdir, spec.submissionKey)}/${batchJobFiles.script}`;
  if (scriptPath.includes('\0') || script.includes('\0')) throw new RangeError('a job script or path holds a NUL byte');
  const header = ['job', spec.submissionKey, Buffer.byteLength(scriptPath), Buffer.byteLength(script)];
  return `${[...header, ...(spec.earlierSubmissionKeys ?? [])].join(' ')}\n${scriptPath}${script}`;
}

/**
 * The per-job results in a batch command's output, by job index: lines
 * `drover-result <n> <code>\t<answer>\t<stderr>` (see `batchSubmitCommand`), unescaped.
 */
export function parseSubmitBatchOutput(stdout: string): Map<number, CommandResult> {
  const results = new Map<number, CommandResult>();
  for (const line of stdout.split('\n')) {
    const match = /^drover-result (\d+) (\d+)\t([^\t]*)\t([^\t]*)$/.exec(line);
    // The command prints one line per job, and nothing else on stdout.
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
 * The key under which jobs may share a job array: their `arrayGroup` and every value the
 * array's directives carry (queue, nodes, cores, memory, time limit, account); null for a
 * job without a group.
 */
export function arrayGroupKey(spec: JobSpec): string | null {
  if (spec.arrayGroup === undefined) return null;
  const { arrayGroup, queue, nodes, coresPerNode, memoryMb, walltimeMinutes, account } = spec;
  return JSON.stringify([
    arrayGroup,
    queue,
    nodes,
    coresPerNode,
    memoryMb,
    walltimeLimitMinutes(walltimeMinutes),
    account,
  ]);
}

/** What one slot of a batch holds: a job, or the jobs of one array group (one array job, or a few). */
type SubmitUnit = PendingSubmit[];

/**
 * The queue as units, in the order their first job came: a job without a group, or the
 * jobs of one array group (`arrayGroupKey`), however many.
 */
function unitsOf(queue: PendingSubmit[]): SubmitUnit[] {
  const units: SubmitUnit[] = [];
  const groups = new Map<string, SubmitUnit>();
  for (const job of queue) {
    const key = arrayGroupKey(job.spec);
    const group = key === null ? undefined : groups.get(key);
    if (group) {
      group.push(job);
      continue;
    }
    const unit = [job];
    units.push(unit);
    if (key !== null) groups.set(key, unit);
  }
  return units;
}

/** Options of `BatchSubmitter`. */
export interface BatchSubmitterOptions {
  /** How the scheduler submits job arrays; without it every job is submitted alone. */
  arrays?: ArraySubmit;
  /** Called with each batch command's job count (tests and benchmarks). */
  onBatch?: (jobs: number) => void;
}

/**
 * Submits one resource's jobs in batches: `submit` queues the job, and the queue goes to the
 * login node as one remote command (`batchSubmitCommand`) as soon as fewer than two batch
 * commands are running, up to `maxSubmitBatchSize` units at a time (a queue of more than 16
 * units is split in halves, one per command slot, so two commands run side by side: a slot
 * that frees while the other runs takes half of what waits and leaves the rest to the
 * other). A unit is a job, or all the queued jobs of one array group (`JobSpec.arrayGroup`,
 * `arrayGroupKey`): two or more go as job arrays of at most `maxArraySize` elements, all in
 * the unit's command. A lone submit goes at once (after the current event-loop turn, which
 * lets submits made together travel together); submits that arrive while commands run wait
 * for the next one. Each job is answered on its own (`readSubmitAnswer`): one job's refusal
 * or failure is its own.
 *
 * In a batch, a job takes its task's lock without waiting: a job whose lock another submit
 * of its task holds (an earlier attempt's slow sbatch) is sent again alone, and that command
 * waits for the lock (90 s), as a lone submit always did, without holding up the batch.
 */
export class BatchSubmitter {
  private readonly command: string;
  private readonly arrays?: ArraySubmit;
  private readonly onBatch?: (jobs: number) => void;
  private queue: PendingSubmit[] = [];
  private inFlight = 0;
  private flushScheduled = false;
  /** When the first and the last queued job of each array group came (`arrayGroupKey`). */
  private readonly arrivals = new Map<string, { first: number; last: number }>();
  /** Jobs of each sized array group sent so far, and when last (`JobSpec.arrayGroupSize`). */
  private readonly sent = new Map<string, { jobs: number; at: number }>();
  private gatherTimer: NodeJS.Timeout | null = null;

  /** @param submitOneBody the scheduler's per-job submit (see `batchSubmitCommand`). */
  constructor(
    private readonly shell: Shell,
    submitOneBody: string,
    private readonly answers: BatchSubmitAnswers,
    options: BatchSubmitterOptions = {},
  ) {
    this.command = batchSubmitCommand(submitOneBody, options.arrays);
    this.arrays = options.arrays;
    this.onBatch = options.onBatch;
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
      const group = this.arrays ? arrayGroupKey(spec) : null;
      if (group !== null) {
        const now = Date.now();
        this.arrivals.set(group, { first: this.arrivals.get(group)?.first ?? now, last: now });
      }
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
    const now = Date.now();
    const all = this.arrays ? unitsOf(this.queue) : this.queue.map((job) => [job]);
    const gathering = all.filter((unit) => this.gatherUntil(unit, now) > now);
    let units = all.filter((unit) => !gathering.includes(unit));
    const share = Math.max(minSplitBatchSize, Math.ceil(units.length / maxBatchesInFlight));
    while (this.inFlight < maxBatchesInFlight && units.length > 0) {
      // The last free slot takes along what its share would leave for a busy one, when that
      // is too few for a batch of its own.
      const last = this.inFlight === maxBatchesInFlight - 1;
      const size = last && units.length - share < minSplitBatchSize ? units.length : share;
      const batch = units.slice(0, Math.min(maxSubmitBatchSize, size));
      units = units.slice(batch.length);
      for (const unit of batch) this.noteSent(unit, now);
      this.inFlight += 1;
      void this.runBatch(batch, 0).finally(() => {
        this.inFlight -= 1;
        this.flush();
      });
    }
    this.queue = [...units, ...gathering].flat();
    if (gathering.length > 0 && this.gatherTimer === null) {
      const wait = Math.min(...gathering.map((unit) => this.gatherUntil(unit, now))) - now;
      this.gatherTimer = setTimeout(() => {
        this.gatherTimer = null;
        this.flush();
      }, wait);
    }
  }

  /** Until when an array group's unit waits for more of its jobs (see `arrayGatherQuietMs`); 0 for a job. */
  private gatherUntil(unit: SubmitUnit, now: number): number {
    const group = arrayGroupKey(unit[0].spec);
    const arrival = group === null ? undefined : this.arrivals.get(group);
    if (group === null || !arrival) return 0;
    const size = unit[0].spec.arrayGroupSize;
    let until: number;
    if (size === undefined) until = Math.min(arrival.last + arrayGatherQuietMs, arrival.first + arrayGatherMaxMs);
    else if (unit.length + (this.sent.get(group)?.jobs ?? 0) >= size) return 0;
    else until = Math.min(arrival.last + sizedGroupQuietMs, arrival.first + sizedGroupMaxMs);
    return until > now ? until : 0;
  }

  /** Ends a unit's gathering, and counts a sized group's jobs sent (forgotten after `sentMemoryMs`). */
  private noteSent(unit: SubmitUnit, now: number): void {
    const group = arrayGroupKey(unit[0].spec);
    if (group === null) return;
    this.arrivals.delete(group);
    for (const [key, sent] of this.sent) if (now - sent.at > sentMemoryMs) this.sent.delete(key);
    if (unit[0].spec.arrayGroupSize !== undefined)
      this.sent.set(group, { jobs: (this.sent.get(group)?.jobs ?? 0) + unit.length, at: now });
  }

  /** The batch's entries: a unit of two or more jobs as arrays of at most `maxArraySize`. */
  private async entriesOf(batch: SubmitUnit[]): Promise<Array<PendingSubmit | PendingArray>> {
    const arrays = this.arrays;
    if (!arrays || batch.every((unit) => unit.length < 2)) return batch.flat();
    const maxArraySize = Math.max(1, await arrays.maxArraySize());
    return batch.flatMap<PendingSubmit | PendingArray>((unit) => {
      if (unit.length < 2) return unit;
      const chunks: PendingArray[] = [];
      for (let start = 0; start < unit.length; start += maxArraySize) {
        const jobs = unit.slice(start, start + maxArraySize);
        const arrayName = `drover-array-${randomBytes(8).toString('hex')}`;
        const arrayScript = arrays.renderArrayScript(arrayName, jobs[0].spec);
        chunks.push({ arrayName, arrayScript, jobs });
      }
      return chunks;
    });
  }

  /** Runs one batch command; settles every job's promise. Never rejects. */
  private async runBatch(batch: SubmitUnit[], lockWaitSeconds: number): Promise<void> {
    const jobs = batch.flat();
    let result: CommandResult;
    try {
      const input = encodeSubmitBatch(await this.entriesOf(batch));
      this.onBatch?.(jobs.length);
      result = await this.shell.run(['bash', '-c', this.command, 'drover-submit', String(lockWaitSeconds)], {
        input,
        timeoutMs: batchSubmitTimeoutMs,
      });
    } catch (error) {
      for (const job of jobs) job.reject(error);
      return;
    }
    const results = parseSubmitBatchOutput(result.stdout);
    // Results are numbered in the order the jobs were sent: each unit's, arrays flattened.
    jobs.forEach((job, index) => {
      const own = results.get(index);
      if (!own) {
        job.reject(this.unanswered(job.spec, result));
        return;
      }
      if (own.code === lockBusyCode && lockWaitSeconds === 0) {
        // Outside the batch slots: this command may wait up to 90 s for the lock.
        void this.runBatch([[job]], batchSubmitLockWaitSeconds);
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

/** A job array of pending submits, as `encodeSubmitBatch` sends it. */
interface PendingArray {
  arrayName: string;
  arrayScript: string;
  jobs: PendingSubmit[];
}
