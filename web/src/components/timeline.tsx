import { useState } from 'react';
import type { ExperimentEvent } from '../../../src/api-client/types';
import { formatDateTime, formatTime } from '../format';

/**
 * What an event is about, in words: "experiment", "task submit", "job 12345"; an experiment
 * event's label names a step that is not a plain move: "experiment resumed", "experiment resubmitted".
 */
function subject(event: ExperimentEvent): string {
  if (event.entity === 'experiment') return event.label ? `experiment ${event.label}` : 'experiment';
  return `${event.entity} ${event.label ?? event.entityId}`;
}

/** The run a `resumed` event starts (2, 3, ...), or null for any other event. */
function runStarted(event: ExperimentEvent): number | null {
  if (event.entity !== 'experiment' || event.label !== 'resumed') return null;
  const run = (event.data as { run?: unknown } | undefined)?.run;
  return typeof run === 'number' ? run : null;
}

/**
 * Whether an event is one a scientist follows: the experiment's and the job's changes, and a
 * task that failed, was retried or canceled. A task's routine steps (pending, ready, running,
 * completed) are Drover's plumbing, folded away unless asked for.
 */
export function isMilestone(event: ExperimentEvent): boolean {
  if (event.entity !== 'task') return true;
  if (event.toState === 'failed' || event.toState === 'canceled') return true;
  // A running task that goes back to ready is a retry.
  return event.fromState === 'running' && event.toState === 'ready';
}

/**
 * The events of an experiment in order, with their times: the milestones by default, every
 * event (the audit trail of the experiment, its tasks and its job) on request. New events are
 * appended as they arrive. A resumed experiment's runs are headed "Run 1", "Run 2", ...
 */
export function Timeline({ events }: { events: ExperimentEvent[] }) {
  const [all, setAll] = useState(false);
  if (events.length === 0) return <p>No events yet.</p>;
  const milestones = events.filter(isMilestone);
  const shown = all ? events : milestones;
  const folded = events.length - milestones.length;
  const resumed = events.some((event) => runStarted(event) !== null);
  return (
    <>
      <ol className="timeline">
        {resumed && (
          <li className="timeline-run" key="run-1">
            <strong>Run 1</strong>
          </li>
        )}
        {shown.flatMap((event) => {
          const run = runStarted(event);
          const item = (
            <li
              key={event.seq}
              className={`timeline-${event.entity}${isMilestone(event) ? ' milestone' : ''}`}
              data-seq={event.seq}
            >
              <time dateTime={event.at} title={formatDateTime(event.at)}>
                {formatTime(event.at)}
              </time>
              <span className="timeline-subject">{subject(event)}</span>
              {event.toState && (
                <span className="timeline-move">
                  {event.fromState ? `${event.fromState} → ` : ''}
                  <strong>{event.toState}</strong>
                </span>
              )}
              {event.message && <span className="timeline-message">{event.message}</span>}
            </li>
          );
          return run === null
            ? [item]
            : [
                <li className="timeline-run" key={`run-${run}`}>
                  <strong>Run {run}</strong>
                </li>,
                item,
              ];
        })}
      </ol>
      {folded > 0 && (
        <button type="button" className="link-button" aria-expanded={all} onClick={() => setAll(!all)}>
          {all ? 'Show the milestones only' : `Show all ${events.length} events (${folded} task steps)`}
        </button>
      )}
    </>
  );
}
