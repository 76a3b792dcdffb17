import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import { useEventStream } from '../api/live';
import type { ExperimentSummary } from '../../../src/api-client/types';
import { ConnectionStatus } from '../components/connection-status';
import { useMe } from '../auth';
import { ConfirmDialog } from '../components/confirm-dialog';
import { CsvPlot } from '../components/csv-plot';
import { PageHeading } from '../components/page-heading';
import { ProgressBar } from '../components/progress-bar';
import { StateBadge } from '../components/state-badge';
import { formatDateTime, formatHeadline, formatValue } from '../format';
import { elementTable } from '../sweep-model';
import { useAsync } from '../use-async';

/** The least time between two reads of a sweep while its experiments change: more for a larger sweep (its answer is larger). */
function reloadGapMs(elements: number): number {
  return elements > 200 ? 3000 : 1000;
}

/**
 * One parameter sweep: its elements as a table (the varied inputs, state, progress and
 * headline values of the newest experiment at each index, each linking to it), a plot of a
 * headline value against a varied input, counts per state, and the bulk actions: cancel
 * all and resubmit the failed ones (each confirmed), and clone into a new sweep.
 */
export function SweepPage() {
  const { id = '' } = useParams();
  const me = useMe();
  const navigate = useNavigate();
  const detail = useAsync(() => ok(api.GET('/api/v1/sweeps/{id}', { params: { path: { id } } })), [id]);
  const sweep = detail.data?.id === id ? detail.data : undefined;
  const [confirming, setConfirming] = useState<'cancel' | 'resubmit' | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const unfinished = sweep ? sweep.finished < sweep.elementCount : false;
  // The plot is drawn again only when the sweep read changes, not on every render.
  const table = useMemo(() => (sweep ? elementTable(Object.keys(sweep.vary), sweep.elements) : null), [sweep]);

  // The sweep is read again when one of its experiments changes (the live list stream), at
  // most once per gap however many change: one request for all its elements.
  const reloadTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const lastReload = useRef(0);
  const elementCount = sweep?.elementCount ?? 0;
  const { reload } = detail;
  const reloadSoon = useCallback(() => {
    if (reloadTimer.current) return;
    const wait = Math.max(250, reloadGapMs(elementCount) - (Date.now() - lastReload.current));
    reloadTimer.current = setTimeout(() => {
      reloadTimer.current = undefined;
      lastReload.current = Date.now();
      reload();
    }, wait);
  }, [reload, elementCount]);
  useEffect(() => () => clearTimeout(reloadTimer.current), []);
  const streamStatus = useEventStream(
    sweep ? '/api/v1/experiments/changes' : null,
    {
      experiment: (data) => {
        if ((data as ExperimentSummary).sweep?.id === id) reloadSoon();
      },
    },
    // Whatever changed while the stream was down is read once it is back.
    { onOpen: reloadSoon },
  );

  const act = async (action: 'cancel' | 'resubmit' | 'launch') => {
    setBusy(true);
    setMessage(null);
    try {
      const path = { params: { path: { id } } };
      const done =
        action === 'cancel'
          ? await ok(api.POST('/api/v1/sweeps/{id}/cancel', path))
          : action === 'launch'
            ? await ok(api.POST('/api/v1/sweeps/{id}/launch', path))
            : await ok(api.POST('/api/v1/sweeps/{id}/resubmit-failed', path));
      const count = `${done.count} experiment${done.count === 1 ? '' : 's'}`;
      const verb = { cancel: 'Canceled', launch: 'Launched', resubmit: 'Resubmitted' }[action];
      setMessage({ text: `${verb} ${count}.`, error: false });
      detail.reload();
    } catch (error) {
      setMessage({ text: `That did not work: ${errorMessage(error)}`, error: true });
    } finally {
      setConfirming(null);
      setBusy(false);
    }
  };

  if (!sweep) {
    return (
      <>
        <PageHeading title="Sweep" />
        {detail.error !== undefined ? (
          <p className="error" role="alert">
            This sweep could not be loaded: {errorMessage(detail.error)}. <Link to="/sweeps">Back to the sweeps</Link>.
          </p>
        ) : (
          <p role="status">Loading…</p>
        )}
      </>
    );
  }

  const varied = Object.keys(sweep.vary);
  const failed = sweep.counts.failed ?? 0;
  const drafts = sweep.counts.created ?? 0;
  const cancelable = sweep.elements.filter(
    (element) => !['completed', 'failed', 'canceled', 'canceling'].includes(element.experiment.state),
  ).length;
  const headlines = [
    ...new Map(
      sweep.elements.flatMap((element) => element.experiment.headlineValues.map((value) => [value.name, value])),
    ).values(),
  ];
  return (
    <article className="sweep">
      <PageHeading title={sweep.name} />
      <p className="meta">
        Sweep of <span>{sweep.application}</span> on <span>{sweep.resource}</span> · by {sweep.owner} · created{' '}
        <time dateTime={sweep.createdAt}>{formatDateTime(sweep.createdAt)}</time> ·{' '}
        <code className="experiment-id">{sweep.id}</code>
      </p>
      {sweep.parentId && (
        <p className="lineage">
          Cloned from <Link to={`/sweeps/${sweep.parentId}`}>another sweep</Link>.
        </p>
      )}
      <p>
        {sweep.elementCount} experiments (
        {varied.length > 1 ? `${sweep.combine === 'zip' ? 'in step' : 'every combination'} of ` : ''}
        {varied.join(', ')}
        {Object.keys(sweep.inputs).length > 0 &&
          `; fixed: ${Object.entries(sweep.inputs)
            .map(([name, value]) => `${name} = ${formatValue(value)}`)
            .join(', ')}`}
        ).
      </p>
      <ul className="sweep-counts" aria-label="Experiments per state">
        {Object.entries(sweep.counts).map(([state, count]) => (
          <li key={state}>
            <StateBadge state={state} label={`${count} ${state}`} />
          </li>
        ))}
      </ul>
      <ProgressBar
        compact
        progress={{
          fraction: sweep.finished / sweep.elementCount,
          current: sweep.finished,
          total: sweep.elementCount,
          message: null,
          jobStartedAt: null,
          jobEndedAt: unfinished ? null : sweep.createdAt,
          walltimeMinutes: null,
          updatedAt: sweep.createdAt,
        }}
      />
      <ConnectionStatus status={streamStatus} finished={!unfinished} />
      <p className="visually-hidden" aria-live="polite">
        {message && !message.error ? message.text : ''}
      </p>

      <div className="actions">
        {drafts > 0 && (
          <button type="button" className="primary" onClick={() => act('launch')} disabled={busy}>
            Launch all ({drafts})
          </button>
        )}
        {cancelable > 0 && (
          <button type="button" className="danger" onClick={() => setConfirming('cancel')} disabled={busy}>
            Cancel all ({cancelable})
          </button>
        )}
        {failed > 0 && sweep.owner === me.user.name && (
          <button type="button" onClick={() => setConfirming('resubmit')} disabled={busy}>
            Resubmit failed ({failed})
          </button>
        )}
        <button type="button" onClick={() => navigate(`/experiments/new?sweep=${sweep.id}`)}>
          Clone sweep
        </button>
      </div>
      {message && (
        <p className={message.error ? 'error' : 'notice'} role={message.error ? 'alert' : undefined}>
          {message.text}
        </p>
      )}
      <ConfirmDialog
        open={confirming === 'cancel'}
        title="Cancel every unfinished experiment of this sweep?"
        confirmLabel={`Cancel ${cancelable} experiment${cancelable === 1 ? '' : 's'}`}
        dismissLabel="Keep them running"
        busy={busy}
        onConfirm={() => act('cancel')}
        onDismiss={() => setConfirming(null)}
      >
        <p>
          The {cancelable} experiments of <strong>{sweep.name}</strong> that have not ended will stop: their jobs are
          asked to stop, then killed. Their logs and the outputs written by then are brought back. Finished experiments
          are kept as they are. This cannot be undone.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirming === 'resubmit'}
        title="Resubmit the failed experiments?"
        confirmLabel={`Resubmit ${failed}`}
        dismissLabel="Not now"
        busy={busy}
        onConfirm={() => act('resubmit')}
        onDismiss={() => setConfirming(null)}
      >
        <p>
          Each of the {failed} failed experiments is run again as a new experiment with the same inputs, in the same
          place of the sweep. The failed ones stay visible from their new experiment.
        </p>
      </ConfirmDialog>

      {headlines.length > 0 && table && table.numeric.some(Boolean) && (
        <section aria-labelledby="plot-title" className="panel">
          <h2 id="plot-title">Results against the varied inputs</h2>
          <CsvPlot table={table} title={`Plot of the results of ${sweep.name}`} scatter />
        </section>
      )}

      <section aria-labelledby="elements-title">
        <h2 id="elements-title">Experiments</h2>
        <table className="experiments sweep-elements">
          <caption className="visually-hidden">The experiments of the sweep, in order</caption>
          <thead>
            <tr>
              <th scope="col" className="number">
                #
              </th>
              {varied.map((name) => (
                <th key={name} scope="col" className="number">
                  {name}
                </th>
              ))}
              <th scope="col">State</th>
              {headlines.map((headline) => (
                <th key={headline.name} scope="col" className="number">
                  {headline.label}
                  {headline.unit && <span className="hint"> ({headline.unit})</span>}
                </th>
              ))}
              <th scope="col">Experiment</th>
            </tr>
          </thead>
          <tbody>
            {sweep.elements.map((element) => (
              <tr key={element.index} data-index={element.index}>
                <td className="number" data-label="#">
                  {element.index}
                </td>
                {varied.map((name) => (
                  <td key={name} className="number" data-label={name}>
                    {formatValue(element.inputs[name])}
                  </td>
                ))}
                <td data-label="State">
                  <StateBadge state={element.experiment.state} />
                  {element.experiment.progress && element.experiment.progress.jobEndedAt === null && (
                    <ProgressBar progress={element.experiment.progress} compact />
                  )}
                  {element.experiment.waiting && (
                    <span className="hint" title={element.experiment.waiting.reason}>
                      {' '}
                      waiting, #{element.experiment.waiting.place} in line
                    </span>
                  )}
                  {element.previous.length > 0 && (
                    <span className="hint">
                      {' '}
                      (resubmitted; earlier:{' '}
                      {element.previous.map((previous, at) => (
                        <span key={previous}>
                          {at > 0 && ', '}
                          <Link to={`/experiments/${previous}`}>try {element.previous.length - at}</Link>
                        </span>
                      ))}
                      )
                    </span>
                  )}
                </td>
                {headlines.map((headline) => {
                  const value = element.experiment.headlineValues.find((candidate) => candidate.name === headline.name);
                  return (
                    <td key={headline.name} className="number" data-label={headline.label}>
                      {formatHeadline(value?.value ?? null)}
                    </td>
                  );
                })}
                <td data-label="Experiment">
                  <Link to={`/experiments/${element.experiment.id}`}>{element.experiment.name}</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </article>
  );
}
