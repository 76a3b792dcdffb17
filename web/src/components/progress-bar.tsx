import type { JobProgress } from '../../../src/api-client/types';
import { formatNumber, formatSpan, formatTime } from '../format';
import { formatPercent, progressTimes, type ProgressTimesInput } from '../../../src/api-client/progress';

/** What a bar shows: the position the program reported and the job's times. */
export interface ShownProgress extends ProgressTimesInput {
  current: number | null;
  total: number | null;
  message: string | null;
}

/**
 * A progress bar with its percentage (or the count when the program gave no total),
 * and, unless `compact`, elapsed time, walltime left and the estimated end.
 */
export function ProgressBar({ progress, compact = false }: { progress: ShownProgress; compact?: boolean }) {
  const { fraction } = progress;
  const times = progressTimes(progress, new Date());
  const label = fraction !== null ? formatPercent(fraction) : progress.message || 'running';
  const count =
    progress.current !== null && progress.total !== null
      ? `${formatNumber(progress.current)} of ${formatNumber(progress.total)}`
      : null;
  const running = progress.jobEndedAt === null;
  return (
    <div className={compact ? 'progress compact' : 'progress'}>
      <div
        className="progress-track"
        role="progressbar"
        aria-label="Progress reported by the program"
        aria-valuemin={0}
        aria-valuemax={100}
        {...(fraction !== null ? { 'aria-valuenow': Math.round(fraction * 100) } : {})}
        aria-valuetext={[label, count].filter(Boolean).join(', ')}
      >
        <div className="progress-fill" style={{ width: `${Math.round((fraction ?? 0) * 100)}%` }} />
      </div>
      <span className="progress-label">
        {label}
        {!compact && count && <span className="progress-count"> ({count})</span>}
        {compact && times.estimatedEnd && (
          <span className="progress-count"> · ends ~{formatTime(times.estimatedEnd)}</span>
        )}
      </span>
      {!compact && (
        <p className="progress-times">
          {progress.message && fraction !== null && <span className="progress-message">{progress.message}</span>}
          {times.elapsedMs !== null && (
            <span>
              {running ? 'Elapsed' : 'Ran for'} {formatSpan(times.elapsedMs)}
            </span>
          )}
          {times.walltimeLeftMs !== null && <span>walltime left {formatSpan(times.walltimeLeftMs)}</span>}
          {times.estimatedEnd && (
            <span className={times.overrunsWalltime ? 'warning' : undefined}>
              estimated end {formatTime(times.estimatedEnd)}
              {times.overrunsWalltime && ', after its walltime: it would be stopped first'}
            </span>
          )}
        </p>
      )}
    </div>
  );
}

/** The job's progress on the experiment page: the bar and the named values the program reported. */
export function JobProgressView({
  progress,
  jobStartedAt,
  jobEndedAt,
  walltimeMinutes,
}: {
  progress: JobProgress;
  jobStartedAt: string | null;
  jobEndedAt: string | null;
  walltimeMinutes: number;
}) {
  const values = Object.entries(progress.values);
  return (
    <div className="job-progress">
      <ProgressBar progress={{ ...progress, jobStartedAt, jobEndedAt, walltimeMinutes }} />
      {values.length > 0 && (
        <dl className="facts progress-values" aria-label="Values reported by the program">
          {values.map(([name, value]) => (
            <div key={name}>
              <dt>{name}</dt>
              <dd>{typeof value === 'number' && Number.isInteger(value) ? formatNumber(value) : String(value)}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}
