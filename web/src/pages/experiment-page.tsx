import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import { useEventStream } from '../api/live';
import type { ExperimentDetail, ExperimentEvent, JobProgress } from '../../../src/api-client/types';
import { ConfirmDialog } from '../components/confirm-dialog';
import { ConnectionStatus } from '../components/connection-status';
import { HeadlineValues } from '../components/headline-values';
import { JobPanel } from '../components/job-panel';
import { LogTail } from '../components/log-tail';
import { OutputsList } from '../components/outputs-list';
import { PageHeading } from '../components/page-heading';
import { StateBadge } from '../components/state-badge';
import { TaskDag } from '../components/task-dag';
import { Timeline } from '../components/timeline';
import { ExperimentNotifications } from '../components/experiment-notifications';
import { WaitingNotice } from '../components/waiting-notice';
import { useMe } from '../auth';
import { terminalExperimentStates } from '../../../src/api-client/constants';
import { formatDateTime, formatValue } from '../format';
import { useAsync, useCatalogue } from '../use-async';
import type { Application } from '../../../src/api-client/types';

/**
 * One experiment, live: its results (headline values), state, the task DAG, the job, a
 * timeline of every event, the logs, outputs (previewed and plotted) and inputs, with
 * Cancel (confirmed), Clone and, for a draft, Launch.
 * The event stream drives it: each event is added to the timeline and reloads the rest.
 */
export function ExperimentPage() {
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const me = useMe();
  const detail = useAsync(() => ok(api.GET('/api/v1/experiments/{id}', { params: { path: { id } } })), [id]);
  const experiment = detail.data?.id === id ? detail.data : undefined;
  const [events, setEvents] = useState<ExperimentEvent[]>([]);
  const [announcement, setAnnouncement] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [actionBusy, setActionBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const terminal = experiment ? (terminalExperimentStates as readonly string[]).includes(experiment.state) : false;
  const catalogue = useCatalogue();
  const application = catalogue.data?.applications.find((candidate) => candidate.name === experiment?.application);
  // Running tasks and jobs show how long they have run: redraw each second until the end.
  useTicking(Boolean(experiment) && !terminal);
  const outputs = useAsync(
    () =>
      terminal
        ? ok(api.GET('/api/v1/experiments/{id}/outputs', { params: { path: { id } } }))
        : Promise.resolve({ items: [] }),
    [id, terminal],
  );
  const parent = useAsync(
    () =>
      experiment?.parentId
        ? ok(api.GET('/api/v1/experiments/{id}', { params: { path: { id: experiment.parentId } } }))
        : Promise.resolve(null),
    [experiment?.parentId],
  );

  useEffect(() => setEvents([]), [id]);
  // Events up to this number were history when the page opened: only later ones are announced.
  const seenAtLoad = useRef<{ id: string; seq: number } | null>(null);
  if (experiment && seenAtLoad.current?.id !== id) seenAtLoad.current = { id, seq: experiment.lastEventSeq };

  // Events come in bursts (a task finishing starts the next): one reload per burst.
  const reloadTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const reloadSoon = useCallback(() => {
    clearTimeout(reloadTimer.current);
    reloadTimer.current = setTimeout(detail.reload, 150);
  }, [detail.reload]);
  useEffect(() => () => clearTimeout(reloadTimer.current), []);

  const onEvent = (data: unknown) => {
    const event = data as ExperimentEvent;
    if (event.experimentId !== id) return;
    setEvents((current) =>
      current.some((known) => known.seq === event.seq) ? current : [...current, event].sort((a, b) => a.seq - b.seq),
    );
    if (event.entity === 'experiment' && event.toState && event.seq > (seenAtLoad.current?.seq ?? Infinity))
      setAnnouncement(`The experiment is now ${event.toState}.`);
    reloadSoon();
  };
  // Progress comes many times a minute while the job runs: shown as it comes, without a reload.
  const [liveProgress, setLiveProgress] = useState<{ jobId: number; progress: JobProgress } | null>(null);
  useEffect(() => setLiveProgress(null), [id]);
  const onProgress = (data: unknown) => setLiveProgress(data as { jobId: number; progress: JobProgress });
  const streamStatus = useEventStream(
    // No stream for an experiment that does not exist (or is not the user's).
    id && !(detail.error !== undefined && !experiment) ? `/api/v1/experiments/${encodeURIComponent(id)}/events` : null,
    { experiment: onEvent, task: onEvent, job: onEvent, progress: onProgress },
    { resumeParameter: 'after', onOpen: reloadSoon },
  );

  const cancel = async () => {
    setActionBusy(true);
    setActionError(null);
    try {
      await ok(api.POST('/api/v1/experiments/{id}/cancel', { params: { path: { id } } }));
      setConfirming(false);
      setAnnouncement('Cancel requested.');
      detail.reload();
    } catch (error) {
      setConfirming(false);
      setActionError(`The experiment could not be canceled: ${errorMessage(error)}`);
    } finally {
      setActionBusy(false);
    }
  };

  const launch = async () => {
    setActionBusy(true);
    setActionError(null);
    try {
      await ok(api.POST('/api/v1/experiments/{id}/launch', { params: { path: { id } } }));
      detail.reload();
    } catch (error) {
      setActionError(`The experiment could not be launched: ${errorMessage(error)}`);
    } finally {
      setActionBusy(false);
    }
  };

  if (!experiment) {
    return (
      <>
        <PageHeading title="Experiment" />
        {detail.error !== undefined ? (
          <p className="error" role="alert">
            This experiment could not be loaded: {errorMessage(detail.error)}.{' '}
            <Link to="/experiments">Back to the list</Link>.
          </p>
        ) : (
          <p role="status">Loading…</p>
        )}
      </>
    );
  }

  const cancelable = !terminal && experiment.state !== 'canceling';
  return (
    <article className="experiment">
      <div className="page-title-row">
        <PageHeading title={experiment.name} />
        <StateBadge state={experiment.state} />
      </div>
      <p className="meta">
        <span>{experiment.application}</span> on <span>{experiment.resource}</span> · by {experiment.owner} · created{' '}
        <time dateTime={experiment.createdAt}>{formatDateTime(experiment.createdAt)}</time> ·{' '}
        <code className="experiment-id">{experiment.id}</code>
      </p>
      {experiment.resourceChoice && <p className="lineage resource-choice">{experiment.resourceChoice}.</p>}
      {experiment.parentId && (
        <p className="lineage">
          Cloned from <Link to={`/experiments/${experiment.parentId}`}>{parent.data?.name ?? experiment.parentId}</Link>
          {experiment.changedInputs.length > 0 ? (
            <>
              {' '}
              with changed inputs:{' '}
              {experiment.changedInputs.map((name, index) => (
                <span key={name} className="changed-input">
                  {index > 0 && ', '}
                  <strong>{name}</strong>
                  {parent.data && (
                    <>
                      {' '}
                      (
                      <del>
                        <span className="visually-hidden">was </span>
                        {formatValue(parent.data.inputs[name])}
                      </del>{' '}
                      →{' '}
                      <ins>
                        <span className="visually-hidden">now </span>
                        {formatValue(experiment.inputs[name])}
                      </ins>
                      )
                    </>
                  )}
                </span>
              ))}
              .
            </>
          ) : (
            ' with the same inputs.'
          )}
        </p>
      )}

      <p className="visually-hidden" aria-live="polite">
        {announcement}
      </p>
      <ConnectionStatus status={streamStatus} finished={terminal} />

      {experiment.state === 'blocked' && experiment.blockedReason && (
        <p className="notice">
          Waiting for the resource: {experiment.blockedReason}
          {experiment.blockedUntil && <> (next try {formatDateTime(experiment.blockedUntil)})</>}
        </p>
      )}
      <WaitingNotice experiment={experiment} owner={experiment.owner === me.user.name} onChanged={detail.reload} />
      {experiment.failure && (
        <p className="error">
          Failed: {experiment.failure.message} <span className="hint">({experiment.failure.code})</span>
        </p>
      )}

      <div className="actions">
        {experiment.state === 'created' && (
          <button type="button" className="primary" onClick={launch} disabled={actionBusy}>
            Launch
          </button>
        )}
        {cancelable && (
          <button type="button" className="danger" onClick={() => setConfirming(true)} disabled={actionBusy}>
            Cancel experiment
          </button>
        )}
        <button type="button" onClick={() => navigate(`/experiments/${experiment.id}/clone`)}>
          Clone
        </button>
      </div>
      {actionError && (
        <p className="error" role="alert">
          {actionError}
        </p>
      )}

      <ConfirmDialog
        open={confirming}
        title="Cancel this experiment?"
        confirmLabel="Cancel experiment"
        dismissLabel="Keep it running"
        busy={actionBusy}
        onConfirm={cancel}
        onDismiss={() => setConfirming(false)}
      >
        <p>
          <strong>{experiment.name}</strong> will stop: its job is asked to stop, then killed if it does not. Its logs
          and the outputs it has written by then are brought back to this page; what it has not written is lost. This
          cannot be undone.
        </p>
      </ConfirmDialog>

      <div className="experiment-grid">
        {experiment.headlineValues.length > 0 && (
          <section aria-labelledby="results-title" className="panel results-panel">
            <h2 id="results-title">Results</h2>
            <HeadlineValues values={experiment.headlineValues} />
          </section>
        )}
        <section aria-labelledby="tasks-title" className="panel tasks-panel">
          <h2 id="tasks-title">Tasks</h2>
          <TaskDag tasks={experiment.tasks} job={experiment.job} />
        </section>

        <section aria-labelledby="job-title" className="panel">
          <h2 id="job-title">Job</h2>
          <JobPanel
            job={
              experiment.job &&
              liveProgress?.jobId === experiment.job.id &&
              isNewer(liveProgress.progress, experiment.job.progress)
                ? { ...experiment.job, progress: liveProgress.progress }
                : experiment.job
            }
            walltimeMinutes={experiment.settings.walltimeMinutes}
          />
          <p className="hint">
            Queue {experiment.settings.queue}, {experiment.settings.nodes} node
            {experiment.settings.nodes === 1 ? '' : 's'} × {experiment.settings.coresPerNode} core
            {experiment.settings.coresPerNode === 1 ? '' : 's'}, walltime {experiment.settings.walltimeMinutes} min.
          </p>
        </section>

        <section aria-labelledby="inputs-title" className="panel">
          <h2 id="inputs-title">Inputs</h2>
          <InputsList experiment={experiment} application={application} />
        </section>
        <section aria-labelledby="outputs-title" className="panel outputs-panel">
          <h2 id="outputs-title">Outputs</h2>
          {!terminal ? (
            <p>Outputs are brought back when the job ends.</p>
          ) : outputs.data ? (
            <OutputsList experimentId={experiment.id} files={outputs.data.items} />
          ) : outputs.error !== undefined ? (
            <p className="error">The outputs could not be listed: {errorMessage(outputs.error)}</p>
          ) : (
            <p role="status">Loading…</p>
          )}
        </section>

        <section aria-labelledby="notifications-title" className="panel">
          <h2 id="notifications-title">Notifications</h2>
          <ExperimentNotifications
            experiment={experiment}
            owner={experiment.owner === me.user.name}
            onSaved={detail.reload}
          />
        </section>
        <section aria-labelledby="logs-title" className="panel logs-panel">
          <h2 id="logs-title">Logs</h2>
          {experiment.job ? (
            <>
              <LogTail experimentId={experiment.id} stream="stdout" live={!terminal} version={experiment.state} />
              <LogTail experimentId={experiment.id} stream="stderr" live={!terminal} version={experiment.state} />
            </>
          ) : (
            <p>The job has not started.</p>
          )}
        </section>

        <section aria-labelledby="timeline-title" className="panel timeline-panel">
          <h2 id="timeline-title">Timeline</h2>
          <Timeline events={events} />
        </section>
      </div>
    </article>
  );
}

/**
 * The inputs as the application's form names and orders them (its titles, its order; an input
 * the application no longer declares comes last under its own name), a file as its file name.
 */
function InputsList({ experiment, application }: { experiment: ExperimentDetail; application?: Application }) {
  const declared = application?.inputs ?? [];
  const names = [
    ...declared.map((input) => input.name).filter((name) => name in experiment.inputs),
    ...Object.keys(experiment.inputs)
      .filter((name) => !declared.some((input) => input.name === name))
      .sort(),
  ];
  if (names.length === 0) return <p>No inputs.</p>;
  return (
    <dl className="facts">
      {names.map((name) => {
        const title = declared.find((input) => input.name === name)?.title;
        const file = experiment.inputFiles[name];
        return (
          <div key={name} className={experiment.changedInputs.includes(name) ? 'changed' : undefined}>
            <dt>
              {title ?? name}
              {title && title !== name && <code className="input-name">{name}</code>}
              {experiment.changedInputs.includes(name) && <span className="tag">changed</span>}
            </dt>
            <dd>
              {file !== undefined ? <span className="file-name">{file}</span> : formatValue(experiment.inputs[name])}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

/** Whether progress from the stream is later than the progress the page loaded. */
function isNewer(live: JobProgress, loaded: JobProgress | null): boolean {
  return !loaded || Date.parse(live.updatedAt) >= Date.parse(loaded.updatedAt);
}

/** Re-renders every second while `active`, for times that grow (a running task's duration). */
function useTicking(active: boolean) {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setTick((tick) => tick + 1), 1000);
    return () => clearInterval(timer);
  }, [active]);
}
