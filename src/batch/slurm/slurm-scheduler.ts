/**
 * BatchScheduler adapter for Slurm, through a `Shell` on the cluster's login node. Every
 * method is one remote command (poll: one `squeue`, plus one `sacct` for jobs that have
 * finished), so the cost of a poll does not grow with the number of jobs.
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
import { describeWait, expectStartTimeoutMs, readTestOnlyStart, slurmShapeOptions } from '../expected-start.ts';
import type { CommandResult, Shell } from '../../shell/port.ts';
import { programOf } from '../../shell/program-of.ts';
import { ResourceUnreachableError } from '../../domain/errors.ts';
import {
  batchFindPrelude,
  batchFindTimeoutMs,
  batchSubmitClaim,
  batchSubmitEpilogue,
  batchSubmitPrelude,
  BatchSubmitter,
} from '../remote-submit.ts';
import { readBatchJobRecords } from '../job-files.ts';
import { attachOutputs, withOutputTails } from '../output-tail.ts';
import { renderSlurmArrayScript, renderSlurmScript } from './render-slurm-script.ts';
import { isFinishedSlurmState } from './slurm-states.ts';
import {
  isSlurmAccountingDisabledMessage,
  isSlurmUnreachableMessage,
  observeAccountedJob,
  observeActiveJob,
  observeFromFiles,
  parseArrayElementRecords,
  parseJobNames,
  parseMaxArraySize,
  parseSbatchParsable,
  parseSacct,
  parseSqueue,
  sacctFields,
  sbatchErrorMessage,
  squeueFormat,
  type Accounting,
  type SacctRow,
  type SqueueRow,
} from './slurm-output.ts';
import { batchJobFiles, isPlainSubmissionKey, jobDirectoryOf } from '../job-script.ts';

/** Job ids per `sacct -j` call, to keep the command line short. */
const sacctChunkSize = 500;
/** sacct without `-j` only looks at jobs of today; name lookups must reach further back. */
const sacctNameSearchStart = '2000-01-01';
/** Slurm's default `MaxArraySize`. */
const defaultMaxArraySize = 1001;
/** Job ids as Slurm prints them (`42`, or `42_3` for an array task): never an option. */
const slurmJobIdPattern = /^\d+(_\d+)?$/;

/**
 * One job's submit (see `batchSubmitPrelude`, which takes the task's lock and adopts a
 * job whose `native-id` was recorded; `batchSubmitCommand` runs it for each job of a
 * batch). For keys whose submit died around its sbatch it asks squeue, then sacct (the
 * job may have left squeue), for a job of the names those keys' jobs carry (the key, or
 * the array's name of an array element), and adopts the oldest (an element: its index in
 * that array, `<array id>_<index>`). Else it saves the script and calls sbatch, still under
 * the lock (an array element stops before sbatch: `batchSubmitClaim`). Exit 4 means squeue
 * or sacct failed, 5 that sbatch refused (their messages on stderr).
 */
const submitOne = `${batchSubmitPrelude}
if [ \${#candidates[@]} -gt 0 ]; then
  names=$(IFS=,; printf '%s' "\${cand_names[*]}")
  found=$(set -o pipefail; squeue --me -h -t all --name="$names" -o '%i %j' | sort -n) || return 4
  if [ -z "$found" ]; then
    accounting=$(sacct -X -P -n --name="$names" -S ${sacctNameSearchStart} -o JobID,JobName 2>&1) ||
      case $accounting in
        *'accounting storage is disabled'*) accounting= ;;
        *) printf '%s\\n' "$accounting" >&2; return 4 ;;
      esac
    found=$(printf '%s\\n' "$accounting" | grep -E '^[0-9]+(_[][0-9,-]*)?[|]' | tr '|' ' ' | sort -n)
  fi
  found=\${found%%$'\\n'*}
  [ -n "$found" ] && { adopt_named "\${found#* }" "\${found%% *}"; return; }
fi
${batchSubmitClaim}
answer=$(sbatch --parsable --ignore-pbs "$script") || return 5
id=\${answer%%;*}${batchSubmitEpilogue}`;

/** Submits a job array: `submit_array <wrapper> <indices>` (see `ArraySubmit`). */
const submitArray = `answer=$(sbatch --parsable --ignore-pbs --array="$2" "$1") || return 5
id=\${answer%%;*}`;

/** An element's id from its array's id as squeue lists it (`123`, `123_4`, `123_[0-9]`): `123_<index>`. */
const elementId = `REPLY=\${1%%_*}_$2`;

/**
 * The find command: `bash -c <this> drover-find <workdir> <key>...` prints, under the
 * task's lock, `drover-array-element <key> <array name> <index>` for each key recorded as
 * an array element, then squeue's `%i|%j` lines for the jobs of those keys and arrays.
 */
const findScript = `${batchFindPrelude}
names=()
for key; do
  name=$key
  file=$workdir/.drover-job/$key/${batchJobFiles.arrayElement}
  if [ -s "$file" ] && read -r name index < "$file" && [[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ && $index =~ ^[0-9]+$ ]]; then
    printf 'drover-array-element %s %s %s\\n' "$key" "$name" "$index"
  else
    name=$key
  fi
  names+=("$name")
done
exec squeue --me -h -t all --name="$(IFS=,; printf '%s' "\${names[*]}")" -o '%i|%j'`;

/** Options for `SlurmScheduler`. */
export interface SlurmSchedulerOptions {
  /** Runs commands on the cluster's login node. */
  shell: Shell;
  /** The resource's name, carried by `ResourceUnreachableError`. */
  resource: string;
  /** Called with the job count of each batch submit command (tests and benchmarks). */
  onSubmitBatch?: (jobs: number) => void;
  /**
   * Elements per job array at most. Default: the cluster's `MaxArraySize` (from `scontrol
   * show config`, read once, at the first array; 1001 when it cannot be read).
   */
  maxArraySize?: number;
}

/**
 * Runs jobs on a Slurm cluster with `sbatch`, observes them with `squeue` and `sacct`,
 * cancels them with `scancel`. The job name is the submission key, which is how a job is
 * found again after a crash. `nativeId` is Slurm's job id.
 */
export class SlurmScheduler implements BatchScheduler {
  readonly kind = 'slurm' as const;
  private readonly shell: Shell;
  private readonly resource: string;
  private readonly submitter: BatchSubmitter;
  private readonly maxArraySize?: number;
  private maxArraySizeRead?: Promise<number>;

  constructor(options: SlurmSchedulerOptions) {
    this.shell = options.shell;
    this.resource = options.resource;
    this.maxArraySize = options.maxArraySize;
    this.submitter = new BatchSubmitter(
      this.shell,
      submitOne,
      {
        isUnreachable: isSlurmUnreachableMessage,
        unreachable: (message) => this.unreachable('sbatch', message),
        refusal: (result) => sbatchErrorMessage(result.stderr),
        // An element's id (`42_3`) or a job's.
        parseId: (word) => (slurmJobIdPattern.test(word) ? word : parseSbatchParsable(word)),
      },
      {
        arrays: {
          submitArrayBody: submitArray,
          elementIdBody: elementId,
          renderArrayScript: renderSlurmArrayScript,
          maxArraySize: () => this.readMaxArraySize(),
        },
        onBatch: options.onSubmitBatch,
      },
    );
  }

  /**
   * The cluster's `MaxArraySize`: an array's indices go from 0 to one less. Read once (one
   * `scontrol show config`); Slurm's default, 1001, when it cannot be read.
   */
  private readMaxArraySize(): Promise<number> {
    if (this.maxArraySize !== undefined) return Promise.resolve(this.maxArraySize);
    this.maxArraySizeRead ??= this.shell.run(['scontrol', 'show', 'config']).then(
      (result) => parseMaxArraySize(result.stdout) ?? defaultMaxArraySize,
      () => defaultMaxArraySize,
    );
    return this.maxArraySizeRead;
  }

  /** The sbatch script `submit` sends; see `renderSlurmScript`. */
  renderScript(spec: JobSpec): string {
    return renderSlurmScript(spec);
  }

  /**
   * Submits the job once per task: under the task's lock, a job of the key or of an earlier
   * attempt's key (its `native-id` file, or a job of that name in squeue or sacct) is
   * returned with `adopted: true`. The script is saved as `<workdir>/.drover-job/<key>/job.sh`.
   * Submits made while others run travel together, one remote command per batch
   * (`BatchSubmitter`); each job is answered, and fails, on its own.
   *
   * @throws {TaskError} `invalid-job-spec` (final) when the spec cannot be rendered safely.
   * @throws {TaskError} `submit-rejected` (not retryable) with sbatch's message when Slurm
   *   refuses the job (unknown partition, time limit over the maximum...); `submit-failed`
   *   (retryable) when the job directory cannot be written or the answer is unreadable.
   * @throws {ResourceUnreachableError} when slurmctld does not answer.
   */
  async submit(spec: JobSpec): Promise<SubmittedJob> {
    return this.submitter.submit(spec, renderSlurmScript(spec));
  }

  /**
   * The job named after one of `submissionKeys` (an array element: its array's name, which
   * its job directory records, and its index there): one remote command, `squeue`, and when
   * squeue knows none of them (jobs leave it a little after `MinJobAge`) one `sacct` call
   * over all time. Keys come first in the order given; of several jobs with one name, the
   * oldest. squeue runs under the task's submit lock (see `batchFindPrelude`): after any
   * sbatch of the task that was still running has ended.
   *
   * @throws {ResourceUnreachableError} when slurmctld or slurmdbd does not answer.
   * @throws {Error} when a submit of the task still held its lock after 90 s.
   */
  async find(job: { workdir: string; submissionKeys: string[] }): Promise<FoundJob | null> {
    const keys = job.submissionKeys.filter(isPlainSubmissionKey);
    if (keys.length === 0) return null;
    const queued = await this.runSlurm(['bash', '-c', findScript, 'drover-find', job.workdir, ...keys], {
      timeoutMs: batchFindTimeoutMs,
      client: 'squeue',
    });
    const elements = parseArrayElementRecords(queued.stdout);
    const lookups = keys.map((key) => ({ key, name: elements.get(key)?.name ?? key, index: elements.get(key)?.index }));
    let found = pickByName(lookups, parseJobNames(queued.stdout));
    if (!found) {
      const names = [...new Set(lookups.map((lookup) => lookup.name))].join(',');
      const accounted = await this.runSlurm(
        ['sacct', '-X', '-P', '-n', `--name=${names}`, '-S', sacctNameSearchStart, '-o', 'JobID,JobName'],
        { allowDisabledAccounting: true },
      );
      found = pickByName(lookups, parseJobNames(accounted.stdout));
    }
    return found ? { nativeId: found.jobId, adopted: true, submissionKey: found.key, details: {} } : null;
  }

  /**
   * Observes `jobs` with one `squeue` call. Jobs that squeue shows as finished, or no
   * longer shows, are resolved with one `sacct` call (per 500 jobs). When sacct has no
   * final word for a job (accounting disabled, slurmdbd down or behind), the job's own
   * files say how it ended; a job that neither Slurm nor its files know is `lost`, unless
   * sacct failed (slurmdbd down), in which case it is left out until a later poll.
   *
   * @throws {ResourceUnreachableError} when slurmctld does not answer.
   */
  async poll(jobs: TrackedJob[]): Promise<Map<string, JobObservation>> {
    if (jobs.length === 0) return new Map();
    for (const job of jobs) checkJobId(job.nativeId);

    // The same command brings back the end of each job's stdout, for progress.
    const command = withOutputTails(
      // -r: each array element on a line of its own, pending ones too.
      ['env', 'SLURM_TIME_FORMAT=%s', 'squeue', '--me', '-h', '-t', 'all', '-r', '-o', squeueFormat],
      jobs,
    );
    const queue = await this.runSlurm(command.argv, { input: command.input });
    const { statusOutput, tails } = command.split(queue.stdout);
    const squeueRows = new Map(parseSqueue(statusOutput).map((row) => [row.jobId, row]));
    const observations = new Map<string, JobObservation>();

    const unresolved: TrackedJob[] = [];
    for (const job of jobs) {
      const row = squeueRows.get(job.nativeId);
      if (row && !isFinishedSlurmState(row.state)) {
        const observation = observeActiveJob(row);
        if (observation) observations.set(job.nativeId, observation);
      } else {
        unresolved.push(job);
      }
    }
    if (unresolved.length > 0) await this.observeFinished(unresolved, squeueRows, observations);
    return attachOutputs(observations, tails);
  }

  /** Observes jobs squeue shows as finished or no longer shows: sacct, then their job files. */
  private async observeFinished(
    unresolved: TrackedJob[],
    squeueRows: Map<string, SqueueRow>,
    observations: Map<string, JobObservation>,
  ): Promise<void> {
    const accounting = await this.readAccounting(unresolved.map((job) => job.nativeId));
    const needFiles: TrackedJob[] = [];
    for (const job of unresolved) {
      const row = accounting.rows.get(job.nativeId);
      if (row && isFinishedSlurmState(row.state)) {
        observations.set(job.nativeId, observeAccountedJob(row, squeueRows.get(job.nativeId)));
      } else {
        needFiles.push(job);
      }
    }
    if (needFiles.length === 0) return;

    const records = await readBatchJobRecords(
      this.shell,
      needFiles.map((job) => jobDirectoryOf(job.workdir, job.submissionKey)),
    );
    needFiles.forEach((job, index) => {
      const observation = observeFromFiles(job, records[index], squeueRows.get(job.nativeId), accounting);
      if (observation) observations.set(job.nativeId, observation);
    });
  }

  /**
   * `scancel <id>`: Slurm sends SIGTERM to every process of the job, SIGKILL after
   * KillWait. Succeeds for jobs that already ended or that Slurm has forgotten (scancel
   * exits 0 for those).
   *
   * @throws {ResourceUnreachableError} when slurmctld does not answer.
   */
  async cancel(job: TrackedJob): Promise<void> {
    checkJobId(job.nativeId);
    await this.runSlurm(['scancel', job.nativeId]);
  }

  /**
   * Slurm's own forecast: `sbatch --test-only` with the shape's options (and `--wrap=true`:
   * no script, nothing submitted) answers with the time the backfill scheduler expects to
   * start such a job, given what is queued and running.
   *
   * @throws {ResourceUnreachableError} when slurmctld does not answer.
   * @throws {Error} with sbatch's message when Slurm refuses the shape, or the answer has no time.
   */
  async expectStart(shape: JobShape): Promise<StartOutlook> {
    const result = await this.runSlurm(
      [
        'bash',
        '-c',
        'date +%s && SLURM_TIME_FORMAT=%s exec sbatch --test-only "$@" --wrap=true',
        'drover-expect-start',
        ...slurmShapeOptions(shape),
      ],
      { timeoutMs: expectStartTimeoutMs, client: 'sbatch --test-only' },
    );
    const seconds = readTestOnlyStart(result.stdout, result.stderr);
    if (seconds === null)
      throw new Error(`sbatch --test-only on ${this.resource} gave no start time: ${result.stderr.trim()}`);
    return { startsInSeconds: seconds, basis: `Slurm expects a start ${describeWait(seconds)}` };
  }

  /**
   * sacct's rows for `jobIds` (chunked). `final` says whether a job sacct does not show is
   * really forgotten: true when sacct answered, or when accounting is disabled (the job
   * files are then the only record); false when sacct failed (slurmdbd down), so a later
   * poll may know more.
   */
  private async readAccounting(jobIds: string[]): Promise<Accounting> {
    const rows = new Map<string, SacctRow>();
    for (let start = 0; start < jobIds.length; start += sacctChunkSize) {
      const ids = jobIds.slice(start, start + sacctChunkSize).join(',');
      const result = await this.shell.run([
        'env',
        'SLURM_TIME_FORMAT=%s',
        'sacct',
        '-X',
        '-P',
        '-n',
        '-j',
        ids,
        '-o',
        sacctFields,
      ]);
      if (result.code !== 0) return { rows, final: isSlurmAccountingDisabledMessage(result.stderr) };
      for (const row of parseSacct(result.stdout)) rows.set(row.jobId, row);
    }
    return { rows, final: true };
  }

  /**
   * Runs a Slurm client; a failure that means the controller did not answer becomes
   * ResourceUnreachableError, any other failure an Error with the client's message.
   * With `allowDisabledAccounting`, sacct's "accounting storage is disabled" is an empty answer.
   */
  private async runSlurm(
    argv: string[],
    options: { allowDisabledAccounting?: boolean; timeoutMs?: number; input?: string; client?: string } = {},
  ): Promise<CommandResult> {
    const result = await this.shell.run(argv, {
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
    if (result.code === 0) return result;
    const message = result.stderr.trim() || result.stdout.trim();
    if (options.allowDisabledAccounting && isSlurmAccountingDisabledMessage(message)) {
      return { code: 0, stdout: '', stderr: result.stderr };
    }
    // The Slurm client named, past `bash -c <script> <name> <workdir>`, else what `env` runs.
    const client = options.client ?? argv.find((word) => ['squeue', 'sacct', 'scancel'].includes(word));
    const command = client ?? programOf(argv);
    if (isSlurmUnreachableMessage(message)) throw this.unreachable(command, message);
    throw new Error(`${command} on ${this.resource} failed (exit ${result.code}): ${message}`);
  }

  private unreachable(command: string, message: string): ResourceUnreachableError {
    return new ResourceUnreachableError(
      this.resource,
      `Slurm on ${this.resource} did not answer ${command}: ${message}`,
    );
  }
}

/** Rejects ids that a Slurm client could read as an option. */
function checkJobId(nativeId: string): void {
  if (!slurmJobIdPattern.test(nativeId)) {
    throw new RangeError(`not a Slurm job id: ${JSON.stringify(nativeId)}`);
  }
}

/**
 * The first lookup (in the order given) whose name a job carries, with that job: the oldest
 * (lowest id) of that name; for an array element, its index in that array (`123_4`).
 */
function pickByName(
  lookups: Array<{ key: string; name: string; index?: number }>,
  rows: Array<{ jobId: string; name: string }>,
): { jobId: string; key: string } | null {
  for (const lookup of lookups) {
    const matches = rows
      .filter((row) => row.name === lookup.name)
      .sort((a, b) => Number.parseInt(a.jobId, 10) - Number.parseInt(b.jobId, 10));
    if (matches.length === 0) continue;
    const jobId =
      lookup.index === undefined ? matches[0].jobId : `${Number.parseInt(matches[0].jobId, 10)}_${lookup.index}`;
    return { jobId, key: lookup.key };
  }
  return null;
}
