import type { Job } from '../../../src/api-client/types';
import { formatDateTime, formatDuration } from '../format';
import { StateBadge } from './state-badge';
import { JobProgressView } from './progress-bar';

/** Whether the job ended without finishing well (failed, canceled, out of walltime, lost). */
export function jobEndedBadly(job: Job): boolean {
  return ['failed', 'canceled', 'timed-out', 'lost'].includes(job.state);
}

/**
 * The batch job as the scheduler sees it: native id and state, why it waits, where it
 * runs, its times and exit code; above them, the progress the program reported, if any.
 */
export function JobPanel({ job, walltimeMinutes }: { job: Job | null; walltimeMinutes: number }) {
  if (!job) return <p>No job yet: it is created when the submit task runs.</p>;
  const waiting = job.state === 'queued' || job.state === 'submitting';
  const ended = jobEndedBadly(job);
  const native = [job.nativeState, (waiting || ended) && job.reason ? `(${job.reason})` : ''].filter(Boolean).join(' ');
  return (
    <>
      {job.progress && (
        <JobProgressView
          progress={job.progress}
          jobStartedAt={job.startedAt}
          jobEndedAt={job.endedAt}
          walltimeMinutes={walltimeMinutes}
        />
      )}
      <dl className="facts">
        <dt>State</dt>
        <dd>
          <StateBadge state={job.state} />
          {native && <span className="native-state"> scheduler: {native}</span>}
        </dd>
        <dt>Job id</dt>
        <dd>
          <code>{job.nativeId ?? 'not assigned yet'}</code>
        </dd>
        {/* A reason says why a job waits, or why it ended badly; a finished job's last pending reason is stale. */}
        {job.reason && (waiting || ended) && (
          <>
            <dt>{waiting ? 'Pending reason' : 'Why it ended'}</dt>
            <dd>{job.reason}</dd>
          </>
        )}
        <dt>Queue</dt>
        <dd>{job.queue ?? '—'}</dd>
        <dt>Nodes</dt>
        <dd>{job.nodeList ?? '—'}</dd>
        <dt>Submitted</dt>
        <dd>
          <time dateTime={job.submittedAt}>{formatDateTime(job.submittedAt)}</time>
        </dd>
        <dt>Started</dt>
        <dd>{job.startedAt ? <time dateTime={job.startedAt}>{formatDateTime(job.startedAt)}</time> : '—'}</dd>
        <dt>Ended</dt>
        <dd>{job.endedAt ? <time dateTime={job.endedAt}>{formatDateTime(job.endedAt)}</time> : '—'}</dd>
        {job.startedAt && job.endedAt && (
          <>
            <dt>Run time</dt>
            <dd>{formatDuration(job.startedAt, job.endedAt)}</dd>
          </>
        )}
        <dt>Exit code</dt>
        <dd>{job.exitCode ?? '—'}</dd>
      </dl>
    </>
  );
}
