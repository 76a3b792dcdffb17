import type { ExperimentEvent } from '../../../src/api-client/types';
import { formatDateTime, formatTime } from '../format';

/** What an event is about, in words: "experiment", "task submit", "job 12345". */
function subject(event: ExperimentEvent): string {
  if (event.entity === 'experiment') return 'experiment';
  return `${event.entity} ${event.label ?? event.entityId}`;
}

/**
 * Every event of an experiment in order, with its time: the audit trail of the
 * experiment, its tasks and its job. New events are appended as they arrive.
 */
export function Timeline({ events }: { events: ExperimentEvent[] }) {
  if (events.length === 0) return <p>No events yet.</p>;
  return (
    <ol className="timeline">
      {events.map((event) => (
        <li key={event.seq} className={`timeline-${event.entity}`} data-seq={event.seq}>
          <time dateTime={event.at} title={formatDateTime(event.at)}>
            {formatTime(event.at)}
          </time>
          <span className="timeline-subject">{subject(event)}</span>
          <span className="timeline-move">
            {event.fromState ? `${event.fromState} → ` : ''}
            <strong>{event.toState ?? '—'}</strong>
          </span>
          {event.message && <span className="timeline-message">{event.message}</span>}
        </li>
      ))}
    </ol>
  );
}
