import type { Job, Task } from '../../../src/api-client/types';
import { formatDuration } from '../format';
import { jobEndedBadly } from './job-panel';
import { StateBadge } from './state-badge';

/** Tasks grouped by depth: a task sits one layer after the deepest task it depends on. */
export function layersOf(tasks: Task[]): Task[][] {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const depth = new Map<number, number>();
  const depthOf = (task: Task, seen: Set<number>): number => {
    const known = depth.get(task.id);
    if (known !== undefined) return known;
    if (seen.has(task.id)) return 0; // a cycle would be a server bug; do not loop forever
    seen.add(task.id);
    const parents = (task.dependsOn ?? [])
      .map((id) => byId.get(id))
      .filter((parent): parent is Task => parent !== undefined);
    const value = parents.length === 0 ? 0 : 1 + Math.max(...parents.map((parent) => depthOf(parent, seen)));
    depth.set(task.id, value);
    return value;
  };
  const layers: Task[][] = [];
  for (const task of tasks) (layers[depthOf(task, new Set())] ??= []).push(task);
  return layers.filter(Boolean);
}

/** How the job ended, for the monitor task's node when it did not end well: "job failed, exit code 7". */
export function jobOutcome(job: Job | null): string | null {
  if (!job || !jobEndedBadly(job)) return null;
  return `job ${job.state}${job.exitCode !== null ? `, exit code ${job.exitCode}` : ''}`;
}

/**
 * The experiment's task DAG, drawn as layers from left to right (top to bottom on a
 * narrow screen). Each node shows its kind, state, attempts and time; for screen readers
 * each also says which tasks it waits for. The monitor task completes when it has seen the
 * job end, however the job ended: a job that failed marks its node as failed too, so a
 * failed run never shows as a row of green tasks.
 */
export function TaskDag({ tasks, job = null }: { tasks: Task[]; job?: Job | null }) {
  if (tasks.length === 0) return <p>No tasks yet: the experiment has not been launched.</p>;
  const kindOf = new Map(tasks.map((task) => [task.id, task.kind]));
  return (
    <ol className="dag" aria-label="Task graph, in order of execution">
      {layersOf(tasks).map((layer, index) => (
        <li key={index} className="dag-layer">
          {index > 0 && (
            <span className="dag-arrow" aria-hidden="true">
              →
            </span>
          )}
          <ul>
            {layer.map((task) => {
              const outcome = task.kind === 'monitor' && task.state === 'completed' ? jobOutcome(job) : null;
              return (
                <li key={task.id} className={`dag-node task-${outcome ? 'failed' : task.state}`} data-task={task.kind}>
                  <span className="dag-kind">{task.kind}</span>
                  {outcome ? <StateBadge state="failed" label={outcome} /> : <StateBadge state={task.state} />}
                  {task.attempt > 1 && <span className="dag-detail">attempt {task.attempt}</span>}
                  {task.startedAt && (
                    <span className="dag-detail">{formatDuration(task.startedAt, task.finishedAt)}</span>
                  )}
                  {task.failure && <span className="dag-detail error-text">{task.failure.message}</span>}
                  {task.dependsOn.length > 0 && (
                    <span className="visually-hidden">
                      , after {task.dependsOn.map((id) => kindOf.get(id) ?? `task ${id}`).join(' and ')}
                    </span>
                  )}
                </li>
              );
            })}
          </ul>
        </li>
      ))}
    </ol>
  );
}
