import { useEffect, useState, type FormEvent } from 'react';
import { ok } from '../../../src/api-client/client';
import type { ExperimentDetail } from '../../../src/api-client/types';
import { api, errorMessage } from '../api/client';

/** How often a waiting experiment's page asks again: its place changes without an event. */
const waitingRefreshMs = 5000;

/**
 * Why a launched experiment has not started and its place in line; its owner may raise or
 * lower it among their own waiting experiments (never past other users': fair share
 * orders those). Refreshes the page while it waits.
 */
export function WaitingNotice({
  experiment,
  owner,
  onChanged,
}: {
  experiment: ExperimentDetail;
  /** The signed-in user owns it: only the owner orders their own line. */
  owner: boolean;
  onChanged(): void;
}) {
  const [priority, setPriority] = useState(experiment.priority);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => setPriority(experiment.priority), [experiment.priority]);
  const waiting = experiment.waiting;
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(onChanged, waitingRefreshMs);
    return () => clearInterval(timer);
  }, [waiting, onChanged]);
  if (!waiting) return null;

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await ok(api.PATCH('/api/v1/experiments/{id}', { params: { path: { id: experiment.id } }, body: { priority } }));
      setStatus('Saved: your waiting experiments are reordered at the next admission pass.');
      onChanged();
    } catch (error) {
      setStatus(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="notice waiting-notice">
      <p>
        Waiting: {waiting.reason}. Number {waiting.place} in line; it starts by itself when a place frees.
      </p>
      {owner && (
        <form onSubmit={save} className="inline-form">
          <label htmlFor="experiment-priority">Your priority for it among your own waiting experiments</label>
          <select
            id="experiment-priority"
            value={priority}
            onChange={(event) => setPriority(Number(event.target.value))}
          >
            {[5, 4, 3, 2, 1, 0, -1, -2, -3, -4, -5].map((value) => (
              <option key={value} value={value}>
                {value === 0 ? '0 (normal)' : value > 0 ? `+${value} (sooner)` : `${value} (later)`}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy || priority === experiment.priority}>
            Save priority
          </button>
          <p role="status" className="status">
            {status}
          </p>
        </form>
      )}
    </div>
  );
}
