import { useEffect } from 'react';
import { Link } from 'react-router';
import { ok } from '../../../src/api-client/client';
import type { WorkerListing } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';
import { PageHeading } from '../components/page-heading';
import { StateBadge } from '../components/state-badge';
import { formatDateTime, formatSpan, formatTime } from '../format';
import { useAsync } from '../use-async';

/** How often the page asks again: a worker is lost after three missed heartbeats (15 s by default). */
const refreshMs = 2000;

/** The badge colour of each worker state, among the task and job states' colours. */
const badgeOf: Record<WorkerListing['state'], string> = {
  active: 'running',
  stopping: 'canceling',
  stopped: 'canceled',
  lost: 'lost',
};

/** The experiment DAG's kinds: a worker that runs them all is shown as running every kind. */
const allKinds = ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out'];

/**
 * The workers, live (platform operator): each worker process with its state, host, what it
 * can run (task kinds, resources), what it runs now and its last heartbeat. Asks again
 * every two seconds.
 */
export function WorkersPage() {
  const workers = useAsync(() => ok(api.GET('/api/v1/workers')), []);
  const { reload } = workers;
  useEffect(() => {
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [reload]);
  const items = workers.data?.items;
  const live = items?.filter((worker) => worker.state === 'active' || worker.state === 'stopping').length ?? 0;

  return (
    <>
      <PageHeading title="Workers" />
      <p>
        The worker processes of this Drover, updated every two seconds. A worker that misses three heartbeats is lost,
        and the tasks it ran go back to the queue at once.
      </p>
      {workers.error !== undefined && (
        <p className="error" role="alert">
          The workers could not be loaded: {errorMessage(workers.error)}
        </p>
      )}
      {items && (
        <p className="subtle">
          {live} live of {items.length} · updated {formatTime(new Date())}
        </p>
      )}
      {items && items.length === 0 && (
        <p className="empty">No worker has registered. Start one with drover worker (or drover up).</p>
      )}
      {items && items.length > 0 && (
        <div className="deliveries-scroll" tabIndex={0} role="region" aria-label="Workers">
          <table className="experiments workers">
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">State</th>
                <th scope="col">Can run</th>
                <th scope="col">Running</th>
                <th scope="col">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {items.map((worker) => (
                <tr key={worker.id}>
                  <th scope="row">
                    {worker.id}
                    <span className="subtle">
                      {worker.host} · pid {worker.pid} · Drover {worker.version}
                    </span>
                    <span className="subtle">started {formatDateTime(worker.startedAt)}</span>
                  </th>
                  <td>
                    <StateBadge state={badgeOf[worker.state]} label={worker.state} />
                    {worker.stoppedAt && <span className="subtle">since {formatDateTime(worker.stoppedAt)}</span>}
                  </td>
                  <td>
                    {allKinds.every((kind) => worker.kinds.includes(kind))
                      ? 'every task kind'
                      : worker.kinds.join(', ')}
                    <span className="subtle">
                      on {worker.resources === null ? 'every resource' : worker.resources.join(', ')}
                    </span>
                  </td>
                  <td>
                    {worker.runningTasks} of {worker.concurrency}
                    {worker.tasks.length > 0 && (
                      <ul className="worker-tasks">
                        {worker.tasks.map((task) => (
                          <li key={task.id}>
                            {task.kind} of{' '}
                            <Link to={`/experiments/${task.experimentId}`}>{task.experimentId.slice(0, 8)}</Link>
                            <span className="visually-hidden"> (gateway {task.gatewayId})</span>
                            {task.attempt > 1 && <span className="subtle"> attempt {task.attempt}</span>}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>
                    {formatSpan(worker.heartbeatAgeMs)} ago
                    <span className="subtle">every {formatSpan(worker.heartbeatMs)}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
