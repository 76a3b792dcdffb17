import { Link } from 'react-router';
import { ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import { useMe } from '../auth';
import { PageHeading } from '../components/page-heading';
import { StateBadge } from '../components/state-badge';
import { formatDateTime } from '../format';
import { useAsync } from '../use-async';

/** The sweeps the user may see (all of the gateway's for admins), newest first, with their experiments per state. */
export function SweepListPage() {
  const me = useMe();
  const list = useAsync(() => ok(api.GET('/api/v1/sweeps', { params: { query: { limit: 100 } } })), []);
  const items = list.data?.items ?? [];
  return (
    <>
      <PageHeading title="Sweeps" />
      <p className="hint">
        A parameter sweep runs one experiment per combination of the values you vary. Start one from{' '}
        <Link to="/experiments/new">New experiment</Link> by giving an input several values.
      </p>
      {list.error !== undefined && (
        <p className="error" role="alert">
          The sweeps could not be loaded: {errorMessage(list.error)}
        </p>
      )}
      {list.loading && !list.data && <p role="status">Loading…</p>}
      {list.data && items.length === 0 && <p>No sweeps yet.</p>}
      {items.length > 0 && (
        <table className="experiments">
          <caption className="visually-hidden">Sweeps, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Experiments</th>
              <th scope="col">Application</th>
              <th scope="col">Resource</th>
              <th scope="col">Created</th>
              {me.user.role === 'admin' && <th scope="col">Owner</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((sweep) => (
              <tr key={sweep.id}>
                <th scope="row" data-label="Name">
                  <Link to={`/sweeps/${sweep.id}`}>{sweep.name}</Link>
                </th>
                <td data-label="Experiments">
                  {sweep.finished} of {sweep.elementCount} ended{' '}
                  {Object.entries(sweep.counts).map(([state, count]) => (
                    <StateBadge key={state} state={state} label={`${count} ${state}`} />
                  ))}
                </td>
                <td data-label="Application">{sweep.application}</td>
                <td data-label="Resource">{sweep.resource}</td>
                <td data-label="Created">
                  <time dateTime={sweep.createdAt}>{formatDateTime(sweep.createdAt)}</time>
                </td>
                {me.user.role === 'admin' && <td data-label="Owner">{sweep.owner}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
