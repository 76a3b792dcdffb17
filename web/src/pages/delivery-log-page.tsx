import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ok } from '../../../src/api-client/client';
import type { Delivery } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';
import { PageHeading } from '../components/page-heading';
import { StateBadge } from '../components/state-badge';
import { formatDateTime } from '../format';
import { useAsync } from '../use-async';

/**
 * The delivery log: each of your notifications with its channel, event, where it went, its
 * state, attempts, the last answer or error and when it was delivered; a failed one can be
 * sent again. `?experiment=<id>` shows one experiment's.
 */
export function DeliveryLogPage() {
  const [search] = useSearchParams();
  const experiment = search.get('experiment') ?? undefined;
  const log = useAsync(
    () => ok(api.GET('/api/v1/notifications/deliveries', { params: { query: { experiment, limit: 100 } } })),
    [experiment],
  );
  const [status, setStatus] = useState('');

  const redeliver = async (delivery: Delivery) => {
    try {
      await ok(api.POST('/api/v1/notifications/deliveries/{id}/redeliver', { params: { path: { id: delivery.id } } }));
      setStatus(`The ${delivery.event} ${delivery.channel} of ${delivery.experimentName} is being sent again.`);
      log.reload();
    } catch (error) {
      setStatus(errorMessage(error));
    }
  };

  return (
    <>
      <PageHeading title="Delivery log" />
      <p>
        Every notification Drover sent you, newest first. {experiment && <Link to="/notifications">Show all.</Link>}{' '}
        <Link to="/settings/notifications">Notification settings</Link>
      </p>
      <p role="status" className="status">
        {status}
      </p>
      {log.error !== undefined && !log.data && (
        <p className="error" role="alert">
          The log could not be loaded: {errorMessage(log.error)}
        </p>
      )}
      {log.data && log.data.items.length === 0 && (
        <p className="empty">No notifications yet. Set an email address or a webhook in your settings.</p>
      )}
      {log.data && log.data.items.length > 0 && (
        <div className="deliveries-scroll" tabIndex={0} role="region" aria-label="Deliveries">
          <table className="experiments deliveries">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Experiment</th>
                <th scope="col">Channel</th>
                <th scope="col">State</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col">Delivered</th>
              </tr>
            </thead>
            <tbody>
              {log.data.items.map((delivery) => (
                <tr key={delivery.id}>
                  <th scope="row">
                    {delivery.event}
                    <span className="subtle">{formatDateTime(delivery.occurredAt)}</span>
                  </th>
                  <td>
                    <Link to={`/experiments/${delivery.experimentId}`}>{delivery.experimentName}</Link>
                  </td>
                  <td>
                    {delivery.channel}
                    <span className="subtle target">{delivery.target}</span>
                  </td>
                  <td>
                    <StateBadge
                      state={
                        delivery.state === 'sending'
                          ? 'running'
                          : delivery.state === 'delivered'
                            ? 'completed'
                            : delivery.state === 'pending'
                              ? 'queued'
                              : 'failed'
                      }
                      label={delivery.state}
                    />
                    {delivery.nextAttemptAt && delivery.state === 'pending' && (
                      <span className="subtle">next try {formatDateTime(delivery.nextAttemptAt)}</span>
                    )}
                  </td>
                  <td>{delivery.attempts}</td>
                  <td>
                    {delivery.lastError ?? delivery.lastStatus ?? '—'}
                    {delivery.state === 'failed' && (
                      <button type="button" className="small" onClick={() => redeliver(delivery)}>
                        Send again
                        <span className="visually-hidden">
                          {' '}
                          the {delivery.event} {delivery.channel} of {delivery.experimentName}
                        </span>
                      </button>
                    )}
                  </td>
                  <td>{delivery.deliveredAt ? formatDateTime(delivery.deliveredAt) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
