import { useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ok } from '../../../src/api-client/client';
import type { ExperimentDetail, ExperimentNotify } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';
import { useAsync } from '../use-async';
import { NotifyChoice } from './notify-choice';

/**
 * An experiment's notifications on its page: its owner follows their defaults or chooses,
 * at any time, for the events still to come; a link to its deliveries in the log.
 */
export function ExperimentNotifications({
  experiment,
  owner,
  onSaved,
}: {
  experiment: ExperimentDetail;
  /** The signed-in user owns it (only the owner chooses: notifications go to them). */
  owner: boolean;
  onSaved(): void;
}) {
  const defaults = useAsync(() => ok(api.GET('/api/v1/notifications/settings')), []);
  const [value, setValue] = useState<ExperimentNotify | null>(experiment.notify);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const stored = JSON.stringify(experiment.notify);
  useEffect(() => setValue(JSON.parse(stored)), [stored]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await ok(
        api.PATCH('/api/v1/experiments/{id}', { params: { path: { id: experiment.id } }, body: { notify: value } }),
      );
      setStatus('Saved: it applies to the events still to come.');
      onSaved();
    } catch (error) {
      setStatus(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      {owner ? (
        <form onSubmit={save}>
          <NotifyChoice id="experiment-notify" value={value} defaults={defaults.data} onChange={setValue} />
          <div className="actions">
            <button type="submit" disabled={busy || JSON.stringify(value) === stored}>
              Save notifications
            </button>
            <p role="status" className="status">
              {status}
            </p>
          </div>
        </form>
      ) : (
        <p>Notifications of this experiment go to its owner, {experiment.owner}.</p>
      )}
      <p>
        <Link to={`/notifications?experiment=${experiment.id}`}>Its deliveries in the log</Link>
      </p>
    </>
  );
}
