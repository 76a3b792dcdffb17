/**
 * Human-readable output for the CLI (`--json` prints the API's JSON instead).
 */
import type { ExperimentDetail, ExperimentEvent, ExperimentSummary, HeadlineValue } from '../api-client/types.ts';
import { formatPercent, progressTimes, type ProgressTimesInput } from '../api-client/progress.ts';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * `value` as one POSIX shell word, for a command the user may copy: bare when it holds only
 * characters no shell treats specially, else in single quotes (each `'` written `'\''`).
 */
export function shellWord(value: string): string {
  return /^[\w.,:@%+=/-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A plain text table with a header row; columns as wide as their widest cell. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, column) => (cell ?? '').padEnd(widths[column]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function time(value: string | null | undefined): string {
  if (!value) return '-';
  return new Date(value).toISOString().replace('T', ' ').slice(0, 19);
}

/** One event as a line: `12:00:01  #7  task submit  ready -> running  message`. */
export function eventLine(event: ExperimentEvent): string {
  const at = new Date(event.at).toISOString().slice(11, 19);
  const what = event.entity === 'experiment' ? 'experiment' : `${event.entity} ${event.label ?? event.entityId}`;
  const move = event.toState ? `${event.fromState ?? 'new'} -> ${event.toState}` : '';
  return `${at}  #${String(event.seq).padEnd(3)} ${what.padEnd(20)} ${move.padEnd(24)} ${event.message ?? ''}`.trimEnd();
}

/** What `progressText` needs: a summary's progress, or a job's with its times. */
export type ProgressShown = ProgressTimesInput & {
  current: number | null;
  total: number | null;
  message: string | null;
  values?: Record<string, number | string>;
};

/** A text progress bar: `[##########..........]`. */
export function progressBar(fraction: number | null, width = 24): string {
  const filled = Math.round((fraction ?? 0) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * A job's progress as one line: `42% (34 of 80)`, then `estimated end 10:42:07 UTC, elapsed
 * 1 min 3 s, walltime left 8 min` `withTimes`, then its message and named values when `detailed`.
 */
export function progressText(
  progress: ProgressShown,
  { detailed, withTimes }: { detailed: boolean; withTimes: boolean },
  now = new Date(),
): string {
  const times = withTimes
    ? progressTimes(progress, now)
    : { elapsedMs: null, walltimeLeftMs: null, estimatedEnd: null, overrunsWalltime: false };
  const parts = [
    (progress.fraction !== null ? formatPercent(progress.fraction) : 'running') +
      (progress.current !== null && progress.total !== null ? ` (${progress.current} of ${progress.total})` : ''),
  ];
  // The estimated end first: a terminal's line is cut to its width.
  if (times.estimatedEnd)
    parts.push(
      `estimated end ${times.estimatedEnd.toISOString().slice(11, 19)} UTC${times.overrunsWalltime ? ' (after its walltime)' : ''}`,
    );
  if (times.elapsedMs !== null)
    parts.push(`${progress.jobEndedAt ? 'ran' : 'elapsed'} ${durationText(times.elapsedMs)}`);
  if (times.walltimeLeftMs !== null) parts.push(`walltime left ${durationText(times.walltimeLeftMs)}`);
  if (detailed && progress.message) parts.push(progress.message);
  if (detailed && progress.values)
    parts.push(...Object.entries(progress.values).map(([name, value]) => `${name}=${value}`));
  return parts.join(', ');
}

/** `1 h 2 min`, `3 min 4 s`, `5 s`. */
function durationText(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** A summary of one experiment for `drover show`. */
export function experimentText(experiment: ExperimentDetail): string {
  const lines = [
    `${experiment.name}`,
    `  id           ${experiment.id}`,
    `  state        ${experiment.state}${experiment.blockedReason ? ` (${experiment.blockedReason}${experiment.blockedUntil ? `; next try ${time(experiment.blockedUntil)}` : ''})` : ''}${experiment.waiting ? ` (${experiment.waiting.reason}; place ${experiment.waiting.place} in line)` : ''}${experiment.failure ? ` - ${experiment.failure.message}` : ''}`,
    `  application  ${experiment.application} ${experiment.applicationVersion}`,
    `  resource     ${experiment.resource} (queue ${experiment.settings.queue}, ${experiment.settings.nodes}x${experiment.settings.coresPerNode} cores, ${experiment.settings.walltimeMinutes} min)`,
    ...(experiment.resourceChoice ? [`  chosen       ${experiment.resourceChoice}`] : []),
    `  owner        ${experiment.owner}`,
    `  created      ${time(experiment.createdAt)}   finished ${time(experiment.finishedAt)}`,
  ];
  if (experiment.headlineValues.length > 0) {
    lines.push('  results');
    const width = Math.max(...experiment.headlineValues.map((headline) => headline.label.length));
    for (const headline of experiment.headlineValues)
      lines.push(`    ${headline.label.padEnd(width)}  ${headlineText(headline)}`);
  }
  if (experiment.parentId)
    lines.push(`  cloned from  ${experiment.parentId} (changed: ${experiment.changedInputs.join(', ') || 'nothing'})`);
  lines.push('  inputs');
  for (const [name, value] of Object.entries(experiment.inputs)) {
    const file = experiment.inputFiles[name];
    lines.push(
      `    ${name} = ${file !== undefined ? `${JSON.stringify(file)} (upload ${value})` : JSON.stringify(value)}`,
    );
  }
  lines.push('  tasks');
  for (const task of experiment.tasks) {
    lines.push(
      `    ${task.kind.padEnd(10)} ${task.state.padEnd(10)} attempt ${task.attempt}${task.failure ? `  ${task.failure.message}` : ''}`,
    );
  }
  const job = experiment.job;
  if (job) {
    lines.push(
      `  job          ${job.nativeId} ${job.state}, scheduler says ${job.nativeState ?? '-'}${job.reason ? ` (${job.reason})` : ''}` +
        `${job.exitCode !== null ? `, exit code ${job.exitCode}` : ''}`,
      `               queue ${job.queue ?? '-'}, nodes ${job.nodeList ?? '-'}, started ${time(job.startedAt)}, ended ${time(job.endedAt)}`,
    );
    if (job.progress)
      lines.push(
        `  progress     ${progressText(
          {
            ...job.progress,
            jobStartedAt: job.startedAt,
            jobEndedAt: job.endedAt,
            walltimeMinutes: experiment.settings.walltimeMinutes,
          },
          { detailed: true, withTimes: true },
        )}`,
      );
  }
  return lines.join('\n') + '\n';
}

/** A headline value as text: the value as the program wrote it, then its unit; `-` when there is none. */
export function headlineText(headline: HeadlineValue): string {
  if (headline.value === null) return '-';
  return headline.unit ? `${headline.value} ${headline.unit}` : String(headline.value);
}

/**
 * The headline value columns of a list (`drover ls --app`): a header per value the page's
 * experiments have, in the order they first appear (one application's declared order), and
 * each experiment's cells, `-` where it has none (not finished, or an older run).
 */
export function headlineColumns(items: readonly ExperimentSummary[]): { headers: string[]; cells: string[][] } {
  const columns = new Map<string, HeadlineValue>();
  for (const item of items)
    for (const headline of item.headlineValues) if (!columns.has(headline.name)) columns.set(headline.name, headline);
  const names = [...columns.keys()];
  return {
    headers: names.map((name) => {
      const { label, unit } = columns.get(name)!;
      return (unit ? `${label} (${unit})` : label).toUpperCase();
    }),
    cells: items.map((item) =>
      names.map((name) => {
        const value = item.headlineValues.find((headline) => headline.name === name)?.value;
        return value === null || value === undefined ? '-' : String(value);
      }),
    ),
  };
}
