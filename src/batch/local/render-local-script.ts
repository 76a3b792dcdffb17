/**
 * The bash script the local scheduler runs for one job. Everything from the user (argv,
 * environment values, paths) is one `scriptWord` (quoted whole, line breaks escaped), so
 * no user character begins a line; only the deployment's environment setup lines, which
 * admins write and the catalogue checked, are copied verbatim.
 */
import type { JobSpec } from '../port.ts';
import { scriptWord } from '../../shell/shell-quote.ts';
import {
  checkEarlierSubmissionKeys,
  checkEnvironmentSetup,
  checkKeyAndJobName,
  environmentNamePattern,
  exitRecordingLines,
  invalidJobSpec,
  jobDirectoryOf,
  jobEndingFiles,
  jobFileWriterLines,
  taskClaimOf,
  walltimeSeconds,
} from '../job-script.ts';
import { jobOutputFiles } from '../../domain/job.ts';

/** Seconds between the walltime's SIGTERM and the SIGKILL for a command that ignores it. */
export const localKillAfterSeconds = 5;

/**
 * Names of the files a local job keeps in `<workdir>/.drover-job/<submissionKey>/`.
 * The task's claim is the link beside it (`taskClaimOf`).
 */
export const localJobFiles = {
  /** `exit-code`, `walltime-exceeded` (here: when `timeout` stopped the command) and `canceled`. */
  ...jobEndingFiles,
  /** The wrapper's pid (it leads the job's session), written once the key is claimed. */
  pid: 'pid',
  /** Field 22 of the wrapper's /proc/<pid>/stat, so a reused pid is not taken for the job. */
  startTicks: 'start-ticks',
} as const;

/**
 * Renders the bash script that runs `spec` on this machine. The script:
 *
 * - starts with `# drover-submission-key: <key>` and `# drover-job-name: <name>`;
 * - `cd`s into the workdir and claims the task with the link `taskClaimOf(spec)` -> key,
 *   then makes `.drover-job/<key>` (the parent is created by submit); when the link (or,
 *   for a job from before task claims, the directory) already exists, another copy owns
 *   the task and the script exits 0 at once, which is what makes repeated or overlapping
 *   submits of one task, of any attempt, run one job;
 * - writes its pid (`$$`, the session leader) and start ticks into the job directory;
 * - sends its stdout to `stdout.txt` and stderr to `stderr.txt` in the workdir, exports
 *   `spec.environment`, runs the environment setup lines, then the quoted argv under
 *   `timeout --signal=TERM --kill-after=5 <walltime seconds>`;
 * - writes the exit status to `exit-code` (temp file, then `mv`) however the script ends,
 *   with the same lines as the Slurm and PBS body (`exitRecordingLines`), and marks
 *   `walltime-exceeded` when `timeout` stopped the command.
 *
 * @throws {TaskError} `invalid-job-spec` (final) when the key, job name, workdir,
 *   environment names, environment setup lines, walltime or argv cannot be used safely.
 */
export function renderLocalScript(spec: JobSpec): string {
  checkKeyAndJobName(spec);
  checkEarlierSubmissionKeys(spec);
  if (!spec.workdir.startsWith('/')) {
    throw invalidJobSpec(`workdir must be an absolute path, got ${JSON.stringify(spec.workdir)}`);
  }
  if (spec.argv.length === 0) {
    throw invalidJobSpec('argv must name a program');
  }
  checkEnvironmentSetup(spec.environmentSetup);
  const seconds = walltimeSeconds(spec.walltimeMinutes);
  const jobDirectory = jobDirectoryOf(spec.workdir, spec.submissionKey);

  const exports = Object.entries(spec.environment ?? {}).map(([name, value]) => {
    if (!environmentNamePattern.test(name)) {
      throw invalidJobSpec(
        `environment variable name must match ${environmentNamePattern}, got ${JSON.stringify(name)}`,
      );
    }
    return `export ${name}=${scriptWord(value)}`;
  });

  const lines = [
    '#!/bin/bash',
    `# drover-submission-key: ${spec.submissionKey}`,
    `# drover-job-name: ${spec.jobName}`,
    '# Rendered by Drover for the local scheduler; every user-given value below is one quoted word.',
    '',
    `drover_job_directory=${scriptWord(jobDirectory)}`,
    `cd -- ${scriptWord(spec.workdir)} || exit 1`,
    '',
    '# ln -s is atomic: the one copy (of any attempt of the task) that creates the link owns the task.',
    `if ! ln -sT -- ${spec.submissionKey} ${scriptWord(taskClaimOf(spec))} 2>/dev/null; then`,
    "  # Already claimed: another copy runs (or ran) this task's job. Anything else is an error.",
    `  [ -L ${scriptWord(taskClaimOf(spec))} ] && exit 0`,
    '  exit 1',
    'fi',
    '# A job directory made before task claims existed is the claim of its key.',
    'if ! mkdir -- "$drover_job_directory" 2>/dev/null; then',
    '  [ -d "$drover_job_directory" ] && exit 0',
    '  exit 1',
    'fi',
    '',
    '# Start ticks (field 22 of /proc/$$/stat) tell this process apart from a later one with the same pid.',
    'if read -r drover_stat < "/proc/$$/stat" 2>/dev/null; then',
    '  read -r -a drover_stat_fields <<< "${drover_stat##*) }"',
    `  printf '%s\\n' "\${drover_stat_fields[19]}" > "$drover_job_directory/${localJobFiles.startTicks}"`,
    'fi',
    `printf '%s\\n' "$$" > "$drover_job_directory/${localJobFiles.pid}.tmp" &&`,
    `  mv -f -- "$drover_job_directory/${localJobFiles.pid}.tmp" "$drover_job_directory/${localJobFiles.pid}"`,
    '',
    ...jobFileWriterLines,
    '',
    '# However the script ends (signal, setup failure included), record the status; further signals are',
    '# ignored meanwhile, since a cancel signals the whole session at once.',
    ...exitRecordingLines(),
    '',
    `exec > ${jobOutputFiles.stdout} 2> ${jobOutputFiles.stderr} < /dev/null`,
    ...exports,
    '',
    '# Environment setup from the application deployment (trusted, verbatim).',
    ...spec.environmentSetup,
    '',
    `# The command, under the walltime: TERM at ${seconds} s, KILL ${localKillAfterSeconds} s later if it ignores TERM.`,
    'SECONDS=0',
    `timeout --signal=TERM --kill-after=${localKillAfterSeconds} ${seconds} ${spec.argv.map(scriptWord).join(' ')}`,
    'drover_status=$?',
    '# timeout exits 124 (TERM worked) or 137 (KILL needed); the elapsed time rules out a command that chose 124 itself.',
    `if { [ "$drover_status" -eq 124 ] || [ "$drover_status" -eq 137 ]; } && [ "$SECONDS" -ge ${seconds} ]; then`,
    `  : > "$drover_job_directory/${localJobFiles.walltimeExceeded}"`,
    'fi',
    'exit "$drover_status"',
    '',
  ];
  return lines.join('\n');
}
