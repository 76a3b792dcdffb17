/**
 * What a job script may hold and what it leaves behind, for every renderer (local, Slurm,
 * PBS): the checks on the values a script carries, the job directory and its file names,
 * the walltime, the lines that record how a script ended, and the bash body that Slurm and
 * PBS scripts share (everything after the scheduler's directives). The catalogue checks
 * admin-given values with the same rules when they are registered, so a job never meets
 * them first.
 *
 * Everything from the user (argv, environment values, paths) is one `scriptWord` (quoted
 * whole, line breaks escaped), so no user character begins a line where the scheduler
 * would read it as a directive; only the deployment's environment setup lines, which
 * admins write and the catalogue checked, are copied verbatim.
 *
 * A spec that breaks these rules can never be submitted: the checks throw a final
 * `TaskError` (`invalid-job-spec`), so the task fails at once instead of being retried.
 */
import type { JobSpec } from './port.ts';
import { finalFailure, type TaskError } from '../domain/failure.ts';
import { isOneScriptLine, scriptWord } from '../shell/shell-quote.ts';
import { jobOutputFiles } from '../domain/job.ts';

/**
 * The error for a value no script may carry: final (`retryable: false`), because the same
 * spec fails the same way on every attempt.
 */
export function invalidJobSpec(message: string): TaskError {
  return finalFailure('invalid-job-spec', message);
}

/** Keys become a job name, a directory name and a header line, so they must be one plain word. */
export const submissionKeyPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;
export const jobNamePattern = /^[A-Za-z0-9_.-]{1,200}$/;
export const environmentNamePattern = /^[A-Z_][A-Z0-9_]*$/;
/** Partition, queue and account names, as they appear unquoted in directives. */
export const schedulerNamePattern = /^[A-Za-z0-9_.-]{1,100}$/;
/**
 * Workdirs appear unquoted in scheduler directives (`#SBATCH --chdir=...`) and in the
 * command line the Torque `qsub` wrapper hands to a shell, so only plain path characters
 * pass: no white space, quotes, `$`, `%` (a Slurm file-name pattern) or backslash.
 */
export const workdirPattern = /^\/[A-Za-z0-9_./+=@,:-]*$/;

/**
 * Why `line` cannot be an environment setup line of a job script (they are copied
 * verbatim), or null when it can: it must be exactly one line (no control character or
 * line separator) and must not begin with `#`, which schedulers read as a directive
 * (`#SBATCH`, `#PBS`, `#BSUB`...) and bash as a comment.
 */
export function environmentSetupLineProblem(line: string): string | null {
  if (!isOneScriptLine(line)) return 'must be one line, without control characters: give each command as its own line';
  if (/^\s*#/.test(line)) return 'must not begin with "#": schedulers read such lines as directives';
  return null;
}

/**
 * Checks the environment setup lines a renderer copies verbatim.
 *
 * @throws {TaskError} `invalid-job-spec` naming the first line that `environmentSetupLineProblem` refuses.
 */
export function checkEnvironmentSetup(lines: readonly string[]): void {
  lines.forEach((line, index) => {
    const problem = environmentSetupLineProblem(line);
    if (problem) throw invalidJobSpec(`environmentSetup[${index}] ${problem}, got ${JSON.stringify(line)}`);
  });
}

/** True when `submissionKey` can name a job: one plain word that the renderers accept. */
export function isPlainSubmissionKey(submissionKey: string): boolean {
  return submissionKeyPattern.test(submissionKey);
}

/** The job directory of a job: `<workdir>/.drover-job/<submissionKey>`. */
export function jobDirectoryOf(workdir: string, submissionKey: string): string {
  return `${workdir.replace(/\/+$/, '')}/.drover-job/${submissionKey}`;
}

/**
 * The task's claim, `<workdir>/.drover-job/<first key>.task`: a symbolic link whose target
 * is the key of the one attempt that submits (or submitted) the task's job. Named after the
 * task's first key (`earlierSubmissionKeys[0]`, else `submissionKey`), which every attempt
 * knows, so that an attempt also finds a job a LATER attempt submitted (a worker that lost
 * its lease and went on after another took the task over). A link, because creating one is
 * atomic and carries its owner's name in one step.
 */
export function taskClaimOf(spec: {
  workdir: string;
  submissionKey: string;
  earlierSubmissionKeys?: string[];
}): string {
  const firstKey = spec.earlierSubmissionKeys?.[0] ?? spec.submissionKey;
  return `${jobDirectoryOf(spec.workdir, firstKey)}.task`;
}

/**
 * Checks the values every job script writes verbatim into a header or a directive.
 *
 * @throws {TaskError} `invalid-job-spec` when the submission key or the job name is not one plain word.
 */
export function checkKeyAndJobName(spec: { submissionKey: string; jobName: string }): void {
  if (!isPlainSubmissionKey(spec.submissionKey)) {
    throw invalidJobSpec(
      `submission key must match ${submissionKeyPattern}, got ${JSON.stringify(spec.submissionKey)}`,
    );
  }
  if (!jobNamePattern.test(spec.jobName)) {
    throw invalidJobSpec(`job name must match ${jobNamePattern}, got ${JSON.stringify(spec.jobName)}`);
  }
}

/**
 * Checks the keys of a task's earlier attempts, which submit passes on as arguments and
 * looks up as job names and directory names.
 *
 * @throws {TaskError} `invalid-job-spec` when one of `earlierSubmissionKeys` is not one plain word.
 */
export function checkEarlierSubmissionKeys(spec: { earlierSubmissionKeys?: string[] }): void {
  for (const key of spec.earlierSubmissionKeys ?? []) {
    if (!isPlainSubmissionKey(key)) {
      throw invalidJobSpec(`earlier submission key must match ${submissionKeyPattern}, got ${JSON.stringify(key)}`);
    }
  }
}

/**
 * Walltime in whole seconds: `ceil(walltimeMinutes * 60)`, rounded to the millisecond
 * first so that float noise (0.1 * 60 = 6.000000000000001) does not add a second.
 *
 * @throws {TaskError} `invalid-job-spec` when `walltimeMinutes` is not a positive finite number.
 */
export function walltimeSeconds(walltimeMinutes: number): number {
  if (!Number.isFinite(walltimeMinutes) || walltimeMinutes <= 0) {
    throw invalidJobSpec(`walltimeMinutes must be a positive number, got ${walltimeMinutes}`);
  }
  return Math.max(1, Math.ceil(Math.round(walltimeMinutes * 60_000) / 1000));
}

/**
 * The scheduler's time limit in whole minutes: the walltime's whole seconds rounded up to
 * minutes (so at least 1).
 *
 * @throws {TaskError} `invalid-job-spec` when `walltimeMinutes` is not a positive finite number.
 */
export function walltimeLimitMinutes(walltimeMinutes: number): number {
  return Math.ceil(walltimeSeconds(walltimeMinutes) / 60);
}

/**
 * The files that say how a job ended, the same in every job directory
 * (`<workdir>/.drover-job/<submissionKey>/`), local or batch.
 */
export const jobEndingFiles = {
  /** The command's exit status (128 + n for signal n), written atomically (and last) when the script ends. */
  exitCode: 'exit-code',
  /** Present when the command was stopped because it ran past its walltime. */
  walltimeExceeded: 'walltime-exceeded',
  /** Written by a cancel before it signals the job (local) or calls `qdel` (PBS). */
  canceled: 'canceled',
} as const;

/**
 * Names of the files in a Slurm or PBS job's directory, `<workdir>/.drover-job/<submissionKey>/`.
 * `exit-code` is written last, so a reader that sees it sees the others too.
 */
export const batchJobFiles = {
  ...jobEndingFiles,
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
  /**
   * `<array name> <index>` of a job submitted as an array element, written before the
   * array's sbatch/qsub: a later attempt's lookup finds the element in the array by it.
   */
  arrayElement: 'array-element',
} as const;

/**
 * Checks every value of `spec` that a Slurm or PBS script carries, so that no value can
 * change the script's meaning.
 *
 * @throws {TaskError} `invalid-job-spec` naming the first value that cannot be used safely.
 */
export function checkBatchJobSpec(spec: JobSpec): void {
  checkKeyAndJobName(spec);
  checkEarlierSubmissionKeys(spec);
  if (spec.arrayGroup !== undefined && !submissionKeyPattern.test(spec.arrayGroup)) {
    throw invalidJobSpec(`array group must match ${submissionKeyPattern}, got ${JSON.stringify(spec.arrayGroup)}`);
  }
  if (!workdirPattern.test(spec.workdir) || spec.workdir.split('/').includes('..')) {
    throw invalidJobSpec(
      `workdir must be an absolute path of plain characters (${workdirPattern}), got ${JSON.stringify(spec.workdir)}`,
    );
  }
  for (const [field, value] of [
    ['queue', spec.queue],
    ['account', spec.account],
  ] as const) {
    if (value !== undefined && !schedulerNamePattern.test(value)) {
      throw invalidJobSpec(`${field} must match ${schedulerNamePattern}, got ${JSON.stringify(value)}`);
    }
  }
  for (const [field, value] of [
    ['nodes', spec.nodes],
    ['coresPerNode', spec.coresPerNode],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw invalidJobSpec(`${field} must be a positive integer, got ${value}`);
    }
  }
  if (spec.memoryMb !== undefined && (!Number.isSafeInteger(spec.memoryMb) || spec.memoryMb < 1)) {
    throw invalidJobSpec(`memoryMb must be a positive integer, got ${spec.memoryMb}`);
  }
  walltimeLimitMinutes(spec.walltimeMinutes);
  if (spec.argv.length === 0) {
    throw invalidJobSpec('argv must name a program');
  }
  for (const name of Object.keys(spec.environment ?? {})) {
    if (!environmentNamePattern.test(name)) {
      throw invalidJobSpec(
        `environment variable name must match ${environmentNamePattern}, got ${JSON.stringify(name)}`,
      );
    }
  }
  checkEnvironmentSetup(spec.environmentSetup);
}

/**
 * `drover_write <file> <line>`: writes one line to a file of `$drover_job_directory`
 * (temp file + `mv`, errors silenced), for every job script.
 */
export const jobFileWriterLines: readonly string[] = [
  '# Writes one line to a job file; tmp + mv so a reader never sees half of it.',
  'drover_write() {',
  '  { printf \'%s\\n\' "$2" > "$drover_job_directory/$1.tmp" &&',
  '    mv -f -- "$drover_job_directory/$1.tmp" "$drover_job_directory/$1"; } 2> /dev/null',
  '}',
];

/**
 * `drover_finish <status>` and the traps that call it, for every job script (needs
 * `jobFileWriterLines` above it): however the script ends (a signal, a failing setup line,
 * the command's own status) it ignores further signals, runs `ending` (the batch body
 * writes `ended-at` and `walltime-exceeded` there), writes `exit-code` and exits with the
 * status. A signal records 143, 130 or 129 instead of an earlier command's status.
 *
 * Why signals are ignored first: a scheduler or a cancel signals every process of the job
 * at once, so the command may end first and its TERM reach the script while it records; a
 * TERM trap run then would exit before `exit-code` was written, and the job be lost.
 *
 * @param ending lines run before `exit-code` is written, with `$status` set.
 * @param endingLocals names `ending` declares `local`, after `status`.
 */
export function exitRecordingLines(ending: readonly string[] = [], endingLocals: readonly string[] = []): string[] {
  return [
    'drover_finish() {',
    "  trap '' HUP INT TERM",
    '  trap - EXIT',
    `  local ${['status=$1', ...endingLocals].join(' ')}`,
    ...ending,
    `  drover_write ${jobEndingFiles.exitCode} "$status"`,
    '  exit "$status"',
    '}',
    `trap 'drover_finish "$?"' EXIT`,
    '# A signal records 128 + its number, not the status of an earlier command; bash runs',
    '# these once the command in the foreground has ended.',
    "trap 'drover_finish 129' HUP",
    "trap 'drover_finish 130' INT",
    "trap 'drover_finish 143' TERM",
  ];
}

/**
 * How much sooner than the limit, by the script's own clock, a signal still counts as the
 * walltime kill. The scheduler starts its clock when it starts the job, a moment before
 * the script records `started-at`, and the script reads its clock in whole seconds: CI once
 * saw a 1-minute PBS job killed at its limit recorded as failed by SIGTERM, not timed out.
 * A job signaled for another reason within these seconds of its limit is reported as timed
 * out.
 */
const walltimeMarginSeconds = 10;

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
    ...jobFileWriterLines,
    '',
    '# However the script ends (signal, setup failure included), record how, exit-code last.',
    '# Set before anything else runs, so that a signal at any later moment is recorded.',
    '# It first ignores further signals: a scheduler signals every process of the job at',
    '# once, so the command may end first and its TERM reach this script while it records;',
    '# a TERM trap run then would exit before exit-code was written, and the job be lost.',
    ...exitRecordingLines(
      [
        "  printf -v ended_at '%(%s)T' -1",
        `  drover_write ${batchJobFiles.endedAt} "$ended_at"`,
        '  # The scheduler stops a job at its time limit with SIGTERM (SIGKILL later), counted',
        "  # from its own start: before this script's, and in whole seconds here. Hence the margin.",
        `  if [ "$status" -gt 128 ] && [ -n "$drover_started_at" ] && [ $((ended_at - drover_started_at + ${walltimeMarginSeconds})) -ge "$drover_walltime_seconds" ]; then`,
        `    : > ${file(batchJobFiles.walltimeExceeded)}`,
        '  fi',
      ],
      ['ended_at'],
    ),
    '',
    `cd -- ${scriptWord(spec.workdir)} || exit 1`,
    'mkdir -p -- "$drover_job_directory" || exit 1',
    "# A requeued job runs this script again: the previous run's ending is not this one's.",
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

/** The line of an array's wrapper script that the batch submit replaces with its table of job scripts. */
export const arrayJobScriptsPlaceholder = '# drover-job-scripts';

/**
 * The body of a job array's wrapper script, after its directives: element i (the value of
 * `indexExpression`, such as `$SLURM_ARRAY_TASK_ID`) becomes element i's own saved job
 * script (`<workdir>/.drover-job/<key>/job.sh`, run with `exec`, so the scheduler's signals
 * reach it as they reach a lone job's script), in its workdir, with its stdout and stderr in
 * `stdout.txt` and `stderr.txt` there: everything a lone job leaves, the element leaves in
 * its own workdir. The table of job scripts, `drover_job_scripts[i]=<path>` lines, takes the
 * place of the line `arrayJobScriptsPlaceholder` at submit time (the batch command numbers
 * the elements it submits; paths are plain, `checkBatchJobSpec`, and quoted with `%q`).
 */
export function renderArrayWrapperBody(indexExpression: string): string[] {
  return [
    '# Rendered by Drover: a job array whose element i runs the i-th job script below as its',
    '# own job, in its own workdir; the directives above are the same for every element.',
    'drover_job_scripts=()',
    arrayJobScriptsPlaceholder,
    `drover_index=${indexExpression}`,
    '[[ $drover_index =~ ^[0-9]+$ ]] && drover_job_script=${drover_job_scripts[drover_index]:-} &&',
    '  [ -n "$drover_job_script" ] || { echo "Drover: no job script for array index $drover_index" >&2; exit 1; }',
    'drover_workdir=${drover_job_script%/.drover-job/*}',
    'cd -- "$drover_workdir" || exit 1',
    `exec bash -- "$drover_job_script" > ${jobOutputFiles.stdout} 2> ${jobOutputFiles.stderr}`,
    '',
  ];
}
