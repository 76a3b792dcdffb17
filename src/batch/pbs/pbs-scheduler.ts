/**
 * BatchScheduler adapter for PBS/Torque-style clusters (`qsub`, `qstat`, `qdel`), through
 * a `Shell` on the login node. qstat shows no exit code, so how a job ended is read from
 * the files its script leaves in its job directory (see job-files.ts).
 */
import type {
  BatchScheduler,
  FoundJob,
  JobObservation,
  JobShape,
  JobSpec,
  StartOutlook,
  SubmittedJob,
  TrackedJob,
} from '../port.ts';
import { countQueued, expectStartTimeoutMs } from '../expected-start.ts';
import type { CommandResult, Shell } from '../../shell/port.ts';
import { ResourceUnreachableError } from '../../domain/errors.ts';
import {
  batchFindPrelude,
  batchFindTimeoutMs,
  batchSubmitClaim,
  batchSubmitEpilogue,
  batchSubmitPrelude,
  BatchSubmitter,
} from '../remote-submit.ts';
import { observeFinishedJob, readBatchJobRecords } from '../job-files.ts';
import { attachOutputs, withOutputTails } from '../output-tail.ts';
import { renderPbsArrayScript, renderPbsScript } from './render-pbs-script.ts';
import { pbsJobState } from './pbs-states.ts';
import {
  isPbsUnreachableMessage,
  parseQstat,
  parseQstatFullNames,
  type QstatRow,
  parsePbsArrayElementId,
  parseQsubOutput,
  pbsArrayElementId,
  pbsJobIdPattern,
  qsubErrorMessage,
} from './pbs-output.ts';
import { batchJobFiles, isPlainSubmissionKey, jobDirectoryOf } from '../job-script.ts';
import { jobOutputFiles } from '../../domain/job.ts';

/** Elements per job array at most, by default (see `PbsSchedulerOptions.maxArraySize`). */
const defaultMaxArraySize = 1001;
/** qstat's exit status when it lists nothing (the Slurm wrapper also uses it for "no jobs at all"). */
const qstatFoundNothing = 153;

/**
 * Lists `qstat -f` into $listing; qstat's "no jobs" exit is not an error. Leaves (`exit`
 * in a script, `return` in a function) with status 4 when qstat fails (its message on stderr).
 */
const listFullJobs = (leave: 'exit' | 'return') => `listing=$(qstat -f); rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq ${qstatFoundNothing} ] || ${leave} 4`;

/**
 * One job's submit (see `batchSubmitPrelude`, which takes the task's lock and adopts a
 * job whose `native-id` was recorded; `batchSubmitCommand` runs it for each job of a
 * batch). For keys whose submit died around its qsub it reads
 * the (long) `qstat -f` listing for a job of the names those keys' jobs carry (the key, or
 * an array element's array name) and adopts the oldest (an element: its index in that array). Else it
 * saves the script and calls qsub from the workdir, still under the lock, with `-o`/`-e`
 * on the command line (the Slurm wrapper ignores them as directives). Exit 4 means qstat
 * failed, 5 that qsub refused (qsub's output on stderr).
 */
const submitOne = `${batchSubmitPrelude}
if [ \${#candidates[@]} -gt 0 ]; then
  ${listFullJobs('return')}
  found=$(printf '%s\\n' "$listing" | awk -v keys="\${cand_names[*]}" '
    BEGIN { count = split(keys, names, " "); for (i = 1; i <= count; i++) wanted[names[i]] = 1 }
    /^Job Id:/ { id = $3 }
    /^[ \\t]+Job_Name = / { sub(/^[ \\t]+Job_Name = /, ""); if ($0 in wanted) print id, $0 }' | sort -n)
  found=\${found%%$'\\n'*}
  [ -n "$found" ] && { adopt_named "\${found#* }" "\${found%% *}"; return; }
fi
${batchSubmitClaim}
# qsub runs from the workdir; the batch's own shell stays where it is.
[ -d "$workdir" ] || return 3
answer=$(cd -- "$workdir" && exec qsub -o "$workdir/${jobOutputFiles.stdout}" -e "$workdir/${jobOutputFiles.stderr}" "$script" 2>&1) ||
  { printf '%s\\n' "$answer" >&2; return 5; }
id=\${answer##*[[:space:]]}${batchSubmitEpilogue}`;

/** Submits a job array: `submit_array <wrapper> <indices>` (see `ArraySubmit`). */
const submitArray = `answer=$(qsub -J "$2" -o /dev/null -e /dev/null "$1" 2>&1) || { printf '%s\\n' "$answer" >&2; return 5; }
id=\${answer##*[[:space:]]}`;

/** An element's id from its array's (\`616\`, \`616[]\`, \`616[].server\`): \`616[<index>].server\` (see \`pbsArrayElementId\`). */
const elementId = `local base=\${1%%[[.]*}; local rest=\${1#"$base"}; rest=\${rest#\\[*\\]}; REPLY=$base[$2]$rest`;

/**
 * The find command: `bash -c <this> drover-find <workdir> <key>...`. Under the task's
 * lock (`batchFindPrelude`), prints `found<TAB><key><TAB><id>` for the first key with a
 * `native-id` file, else a `drover-array-element <key> <array name> <index>` line for each
 * key recorded as an array element, `qstat` and then the `qstat -f` listing.
 */
const findScript = `${batchFindPrelude}
for key in "$@"; do
  file="$workdir/.drover-job/$key/${batchJobFiles.nativeId}"
  if [ -s "$file" ]; then IFS= read -r id < "$file"; printf 'found\\t%s\\t%s\\n' "$key" "$id"; exit 0; fi
done
for key in "$@"; do
  file=$workdir/.drover-job/$key/${batchJobFiles.arrayElement}
  if [ -s "$file" ] && read -r name index < "$file" && [[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ && $index =~ ^[0-9]+$ ]]; then
    printf 'drover-array-element %s %s %s\\n' "$key" "$name" "$index"
  fi
done
${listFullJobs('exit')}
printf 'qstat\\n%s\\n' "$listing"
`;

/**
 * The cancel command: `bash -c <this> drover-cancel <job directory> <id>`. Marks the job
 * `canceled` unless it has already recorded an exit code, then calls qdel; exit 5 and
 * qdel's output on stderr when qdel fails. An element of an array that Slurm's qsub wrapper
 * submitted (`616[3]`, no server: PBS Pro and Torque name theirs `616[3].server`) is
 * canceled with `scancel 616_3`: the wrapper's qdel reads `616[3]` as 616, the whole array.
 */
const cancelScript = `
dir=$1 id=$2
if [ -d "$dir" ] && [ ! -e "$dir/${batchJobFiles.exitCode}" ]; then : > "$dir/${batchJobFiles.canceled}"; fi
if [[ $id =~ ^([0-9]+)\\[([0-9]+)\\]$ ]] && command -v scancel > /dev/null; then
  answer=$(scancel "\${BASH_REMATCH[1]}_\${BASH_REMATCH[2]}" 2>&1) || { printf '%s\\n' "$answer" >&2; exit 5; }
  exit 0
fi
answer=$(qdel "$id" 2>&1) || { printf '%s\\n' "$answer" >&2; exit 5; }
`;

/** Options for `PbsScheduler`. */
export interface PbsSchedulerOptions {
  /** Runs commands on the cluster's login node. */
  shell: Shell;
  /** The resource's name, carried by `ResourceUnreachableError`. */
  resource: string;
  /** Called with the job count of each batch submit command (tests and benchmarks). */
  onSubmitBatch?: (jobs: number) => void;
  /**
   * Elements per job array at most. Default 1001, Slurm's default `MaxArraySize` (the test
   * cluster's qsub is Slurm's); PBS Pro's `max_array_size` defaults to 10000.
   */
  maxArraySize?: number;
}

/**
 * Runs jobs with `qsub`, observes them with one bare `qstat` per poll, cancels them with
 * `qdel`. The job name is the submission key. `nativeId` is the id qsub printed.
 */
export class PbsScheduler implements BatchScheduler {
  readonly kind = 'pbs' as const;
  private readonly shell: Shell;
  private readonly resource: string;
  private readonly submitter: BatchSubmitter;

  constructor(options: PbsSchedulerOptions) {
    this.shell = options.shell;
    this.resource = options.resource;
    this.submitter = new BatchSubmitter(
      this.shell,
      submitOne,
      {
        isUnreachable: isPbsUnreachableMessage,
        unreachable: (message) => this.unreachable('qsub', message),
        refusal: (result) => qsubErrorMessage(result.stderr.trim()),
        parseId: parseQsubOutput,
      },
      {
        arrays: {
          submitArrayBody: submitArray,
          elementIdBody: elementId,
          renderArrayScript: renderPbsArrayScript,
          maxArraySize: () => Promise.resolve(options.maxArraySize ?? defaultMaxArraySize),
        },
        onBatch: options.onSubmitBatch,
      },
    );
  }

  /** The qsub script `submit` sends; see `renderPbsScript`. */
  renderScript(spec: JobSpec): string {
    return renderPbsScript(spec);
  }

  /**
   * Submits the job once per task: under the task's lock, a job of the key or of an earlier
   * attempt's key (its `native-id` file, or, after a submit that died around its qsub, a
   * job of that name in `qstat -f`) is returned with `adopted: true`. The script is saved
   * as `<workdir>/.drover-job/<key>/job.sh`. Submits made while others run travel
   * together, one remote command per batch (`BatchSubmitter`); each job is answered, and
   * fails, on its own.
   *
   * @throws {TaskError} `invalid-job-spec` (final) when the spec cannot be rendered safely.
   * @throws {TaskError} `submit-rejected` (not retryable) with the scheduler's message when
   *   qsub refuses the job; `submit-failed` (retryable) when the job directory cannot be
   *   written or the answer is unreadable.
   * @throws {ResourceUnreachableError} when the PBS server does not answer.
   */
  async submit(spec: JobSpec): Promise<SubmittedJob> {
    return this.submitter.submit(spec, renderPbsScript(spec));
  }

  /**
   * The job of one of `submissionKeys`, in one remote command: the first key (in the order
   * given) with a `native-id` file in `workdir`, else the first key that names a job in
   * `qstat -f` (jobs whose submit died before it wrote the file). It looks under the
   * task's submit lock (see `batchFindPrelude`): after any qsub of the task that was still
   * running has ended.
   *
   * @throws {ResourceUnreachableError} when the PBS server does not answer.
   * @throws {Error} when a submit of the task still held its lock after 90 s.
   */
  async find(job: { workdir: string; submissionKeys: string[] }): Promise<FoundJob | null> {
    const keys = job.submissionKeys.filter(isPlainSubmissionKey);
    if (keys.length === 0) return null;
    const result = await this.runPbs('qstat', ['bash', '-c', findScript, 'drover-find', job.workdir, ...keys], {
      timeoutMs: batchFindTimeoutMs,
    });
    const found = /^found\t(\S+)\t(\S+)$/m.exec(result.stdout);
    if (found) return { nativeId: found[2], adopted: true, submissionKey: found[1], details: {} };
    const elements = new Map(
      [...result.stdout.matchAll(/^drover-array-element (\S+) (\S+) (\d+)$/gm)].map((match) => [
        match[1],
        { name: match[2], index: Number(match[3]) },
      ]),
    );
    const jobs = parseQstatFullNames(result.stdout).sort(
      (a, b) => Number.parseInt(a.jobId, 10) - Number.parseInt(b.jobId, 10),
    );
    for (const key of keys) {
      const element = elements.get(key);
      const match = jobs.find((candidate) => candidate.name === (element?.name ?? key));
      if (!match) continue;
      const nativeId = element ? pbsArrayElementId(match.jobId, element.index) : match.jobId;
      return { nativeId, adopted: true, submissionKey: key, details: {} };
    }
    return null;
  }

  /**
   * Observes `jobs` with one bare `qstat` (it lists every job, finished ones as `C` until
   * the server forgets them). Queued and running jobs are reported from it; jobs that are
   * finished or no longer listed are resolved from their job files, all in one more remote
   * command (see `observeFinishedJob`). Jobs without a job directory that qstat does not
   * list are left out. An array element qstat does not list as itself (Slurm's qsub wrapper
   * lists a started element under an id of its own, and waiting ones as their array) is
   * read from its files in that command too: running once it recorded its start, queued
   * while its array is listed unfinished, else as its files say it ended.
   *
   * @throws {ResourceUnreachableError} when the PBS server does not answer.
   */
  async poll(jobs: TrackedJob[]): Promise<Map<string, JobObservation>> {
    const observations = new Map<string, JobObservation>();
    if (jobs.length === 0) return observations;
    for (const job of jobs) checkJobId(job.nativeId);

    // The same command brings back the end of each job's stdout, for progress.
    const command = withOutputTails(['qstat'], jobs);
    const listing = await this.runPbs('qstat', command.argv, {
      allowedCodes: [qstatFoundNothing],
      input: command.input,
    });
    const { statusOutput, tails } = command.split(listing.stdout);
    const rows = new Map(parseQstat(statusOutput).map((row) => [row.jobId, row]));

    // An array's own row (`616`, `616[]`, `616[].server`) by its id's number: while it is
    // listed unfinished, elements qstat does not list one by one may still wait in it.
    const arrayRows = new Map<string, QstatRow>();
    for (const row of rows.values()) {
      const array = /^(\d+)(\[\])?(\.|$)/.exec(row.jobId);
      if (array) arrayRows.set(array[1], row);
    }
    const ended: TrackedJob[] = [];
    for (const job of jobs) {
      const row = rows.get(job.nativeId);
      const state = row ? pbsJobState(row.state) : 'finished';
      if (state === undefined) continue;
      if (state === 'finished') ended.push(job);
      else observations.set(job.nativeId, { nativeId: job.nativeId, state, nativeState: row!.state });
    }
    if (ended.length === 0) return attachOutputs(observations, tails);

    const records = await readBatchJobRecords(
      this.shell,
      ended.map((job) => jobDirectoryOf(job.workdir, job.submissionKey)),
    );
    ended.forEach((job, index) => {
      const row = rows.get(job.nativeId);
      const record = records[index];
      const element = row ? null : parsePbsArrayElementId(job.nativeId);
      if (element && record.exitCode === null && !record.canceled) {
        // An element qstat does not list as itself (Slurm's qsub wrapper lists started
        // elements under ids of their own): its files say it runs; else it waits while its
        // array is listed unfinished; else it is over, as its files say.
        const arrayRow = arrayRows.get(element.arrayId);
        const arrayState = arrayRow ? pbsJobState(arrayRow.state) : 'finished';
        if (record.startedAt) {
          observations.set(job.nativeId, {
            nativeId: job.nativeId,
            state: 'running',
            nativeState: 'R',
            startedAt: record.startedAt,
            ...(record.node ? { nodeList: record.node } : {}),
          });
          return;
        }
        if (arrayState !== 'finished') {
          if (arrayState) observations.set(job.nativeId, { nativeId: job.nativeId, state: 'queued', nativeState: 'Q' });
          return;
        }
      }
      if (!row && !record.exists) return;
      observations.set(job.nativeId, observeFinishedJob(job.nativeId, record, row?.state ?? 'C'));
    });
    return attachOutputs(observations, tails);
  }

  /**
   * Marks the job `canceled` in its job directory (unless it already recorded an exit
   * code), then `qdel <id>`. Succeeds when the job already ended or is unknown to the server.
   *
   * @throws {ResourceUnreachableError} when the PBS server does not answer.
   * @throws {Error} when qdel refuses for another reason.
   */
  async cancel(job: TrackedJob): Promise<void> {
    checkJobId(job.nativeId);
    const directory = jobDirectoryOf(job.workdir, job.submissionKey);
    const result = await this.shell.run(['bash', '-c', cancelScript, 'drover-cancel', directory, job.nativeId]);
    if (result.code === 0) return;
    const message = result.stderr.trim();
    if (isPbsUnreachableMessage(message)) throw this.unreachable('qdel', message);
    // The Slurm wrapper's qdel exits 1 in silence for a finished job; Torque names the state.
    if (
      message === '' ||
      /unknown job id|invalid job id|invalid state|already (completed|finished|exiting)/i.test(message)
    )
      return;
    throw new Error(`qdel ${job.nativeId} on ${this.resource} failed (exit ${result.code}): ${message}`);
  }

  /**
   * PBS gives no start forecast a plain client can ask for, so the outlook is the queue's
   * length: the jobs bare `qstat` (every user's) shows waiting in the shape's queue.
   *
   * @throws {ResourceUnreachableError} when the PBS server does not answer.
   */
  async expectStart(shape: JobShape): Promise<StartOutlook> {
    const result = await this.runPbs('qstat', ['qstat'], {
      allowedCodes: [qstatFoundNothing],
      timeoutMs: expectStartTimeoutMs,
    });
    const queuedAhead = countQueued(result.stdout, shape.queue);
    const where = shape.queue ? `in ${shape.queue}` : 'in its queues';
    return { queuedAhead, basis: `${queuedAhead} job${queuedAhead === 1 ? '' : 's'} waiting ${where} (qstat)` };
  }

  /**
   * Runs a command; a failure that means the server did not answer becomes
   * ResourceUnreachableError, any other failure (outside `allowedCodes`) an Error.
   */
  private async runPbs(
    command: string,
    argv: string[],
    options: { allowedCodes?: number[]; timeoutMs?: number; input?: string } = {},
  ): Promise<CommandResult> {
    const result = await this.shell.run(argv, {
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
    if (result.code === 0 || options.allowedCodes?.includes(result.code)) return result;
    const message = result.stderr.trim() || result.stdout.trim();
    if (isPbsUnreachableMessage(message)) throw this.unreachable(command, message);
    throw new Error(`${command} on ${this.resource} failed (exit ${result.code}): ${message}`);
  }

  private unreachable(command: string, message: string): ResourceUnreachableError {
    return new ResourceUnreachableError(this.resource, `PBS on ${this.resource} did not answer ${command}: ${message}`);
  }
}

/** Rejects ids that a PBS client could read as an option. */
function checkJobId(nativeId: string): void {
  if (!pbsJobIdPattern.test(nativeId)) {
    throw new RangeError(`not a PBS job id: ${JSON.stringify(nativeId)}`);
  }
}
