import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import { useEventStream } from '../api/live';
import { ConnectionStatus } from '../components/connection-status';
import { activeExperimentStates, experimentStates } from '../../../src/api-client/constants';
import type { ExperimentSummary, ListQuery } from '../../../src/api-client/types';
import { useMe } from '../auth';
import { PageHeading } from '../components/page-heading';
import { StateBadge } from '../components/state-badge';
import { ProgressBar } from '../components/progress-bar';
import { formatDateTime, formatHeadline, formatNumber } from '../format';
import { useAsync, useCatalogue } from '../use-async';

const pageSize = 20;

/** The state filter's choices: one group and every single state. */
const stateChoices: Array<{ value: string; label: string }> = [
  { value: '', label: 'Any state' },
  { value: activeExperimentStates.join(','), label: `Active (${activeExperimentStates.join(', ')})` },
  { value: 'created', label: 'created (drafts)' },
  ...experimentStates.filter((state) => state !== 'created').map((state) => ({ value: state, label: state })),
];

/** A `yyyy-mm-dd` date field as the start of that day in the user's time zone. */
function startOfDay(day: string, plusDays = 0): string | undefined {
  const [year, month, date] = day.split('-').map(Number);
  if (!year || !month || !date) return undefined;
  return new Date(year, month - 1, date + plusDays).toISOString();
}

/**
 * Every experiment the user may see, newest first: filters and search kept in the URL,
 * cursor paging, results (headline values: a column each when the list is filtered to one
 * application) and rows that change as experiments change state (server-sent events).
 */
/**
 * The query string as the address bar has it now. react-router hands a functional
 * `setSearchParams` the parameters of the last render, so two changes before the next
 * render (the search box's delayed update firing right after a filter was picked, on a
 * busy machine) made the second undo the first; the browser's URL is updated at once.
 */
function latestParams(): URLSearchParams {
  return new URLSearchParams(window.location.search);
}

/**
 * Where this page is in the list, read out after each change: "Experiments 21–40 of 57."
 * `total` is the filter's count (null until it is known; capped past 10,000).
 */
export function pagePosition(
  shown: number,
  cursor: string | undefined,
  pagesBefore: number,
  nextCursor: string | null | undefined,
  total: { count: number; capped: boolean } | null,
): string {
  if (shown === 0) return cursor ? 'No more experiments.' : 'No experiments.';
  const all = total ? `${total.capped ? 'more than ' : ''}${formatNumber(total.count)}` : null;
  if (cursor && pagesBefore === 0) return `${shown} older experiments${all ? `, of ${all} in all` : ''}.`;
  const first = pagesBefore * pageSize + 1;
  const range = `Experiments ${formatNumber(first)}–${formatNumber(first + shown - 1)}`;
  if (all) return `${range} of ${all}.`;
  return `${range}${nextCursor ? ', more on the next page' : ''}.`;
}

export function ExperimentListPage() {
  const me = useMe();
  const catalogue = useCatalogue();
  const [params, setParams] = useSearchParams();
  // Cursors of the pages before this one, for "Newer"; the URL holds the current page's cursor.
  const [previousCursors, setPreviousCursors] = useState<string[]>([]);
  const [search, setSearch] = useState(params.get('q') ?? '');
  const [announcement, setAnnouncement] = useState('');
  const filterKey = ['state', 'application', 'resource', 'q', 'from', 'to']
    .map((name) => params.get(name) ?? '')
    .join('|');
  const cursor = params.get('cursor') ?? undefined;

  const query: ListQuery = {
    limit: pageSize,
    state: params.get('state') || undefined,
    application: params.get('application') || undefined,
    resource: params.get('resource') || undefined,
    q: params.get('q') || undefined,
    since: startOfDay(params.get('from') ?? ''),
    until: startOfDay(params.get('to') ?? '', 1),
    cursor,
  };
  // filterKey and cursor are query's content (query is a new object on every render).
  // eslint-disable-next-line react-hooks/exhaustive-deps -- keyed by content, not identity
  const list = useAsync(() => ok(api.GET('/api/v1/experiments', { params: { query } })), [filterKey, cursor]);
  // The total for "21–40 of 57": counted apart, so that a large count never holds up the rows.
  const filters = { ...query, cursor: undefined, limit: undefined };
  // eslint-disable-next-line react-hooks/exhaustive-deps -- keyed by content, not identity
  const total = useAsync(() => ok(api.GET('/api/v1/experiments/count', { params: { query: filters } })), [filterKey]);
  const [items, setItems] = useState<ExperimentSummary[]>([]);
  useEffect(() => {
    if (list.data) setItems(list.data.items);
  }, [list.data]);

  const setFilter = useCallback(
    (name: string, value: string) => {
      setParams(
        () => {
          const next = latestParams();
          if (value) next.set(name, value);
          else next.delete(name);
          next.delete('cursor'); // a new filter starts from the newest
          return next;
        },
        { replace: true },
      );
      setPreviousCursors([]);
    },
    [setParams],
  );

  // Search as the user types, without a request per key stroke.
  useEffect(() => {
    if (search === (params.get('q') ?? '')) return;
    const timer = setTimeout(() => setFilter('q', search.trim()), 300);
    return () => clearTimeout(timer);
  }, [search, params, setFilter]);

  // Reloads are coalesced: a burst of changes (many experiments finishing) costs one request.
  const reloadTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const { reload: reloadList } = list;
  const { reload: reloadTotal } = total;
  const reloadSoon = useCallback(() => {
    clearTimeout(reloadTimer.current);
    reloadTimer.current = setTimeout(() => {
      reloadList();
      reloadTotal();
    }, 300);
  }, [reloadList, reloadTotal]);
  useEffect(() => () => clearTimeout(reloadTimer.current), []);

  const stateFilter = query.state?.split(',');
  const streamStatus = useEventStream(
    '/api/v1/experiments/changes',
    {
      experiment: (data) => {
        const changed = data as ExperimentSummary;
        const shown = items.find((item) => item.id === changed.id);
        if (shown) {
          if (shown.state !== changed.state) setAnnouncement(`${changed.name} is now ${changed.state}.`);
          if (stateFilter && !stateFilter.includes(changed.state)) reloadSoon();
          else setItems((current) => current.map((item) => (item.id === changed.id ? changed : item)));
        } else if (!cursor) {
          // Possibly a new experiment (or one that now matches the filters): the first page may change.
          reloadSoon();
        }
      },
    },
    // After a reconnection, changes may have been missed.
    { onOpen: reloadSoon },
  );

  const applications = catalogue.data?.applications ?? [];
  // Filtered to one application, its headline values are columns; otherwise one Result
  // column shows each experiment's first.
  const headlineColumns =
    applications.find((application) => application.name === query.application)?.headlineValues ?? null;
  const resources = catalogue.data?.resources ?? [];
  const nextCursor = list.data?.nextCursor ?? null;
  const filtered = filterKey.replaceAll('|', '') !== '';

  const goTo = (target: string | undefined, back: boolean) => {
    setParams(
      () => {
        const next = latestParams();
        if (target) next.set('cursor', target);
        else next.delete('cursor');
        return next;
      },
      { replace: false },
    );
    setPreviousCursors((stack) => (back ? stack.slice(0, -1) : [...stack, cursor ?? '']));
  };

  return (
    <>
      <div className="page-title-row">
        <PageHeading title="Experiments" />
        <Link className="button primary" to="/experiments/new">
          New experiment
        </Link>
      </div>

      <form
        className="filters"
        role="search"
        aria-label="Filter experiments"
        onSubmit={(event) => event.preventDefault()}
      >
        <div className="field search">
          <label htmlFor="filter-q">Search</label>
          <input
            id="filter-q"
            type="search"
            value={search}
            placeholder="Name, application or id"
            onChange={(event) => setSearch(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="filter-state">State</label>
          <select
            id="filter-state"
            value={params.get('state') ?? ''}
            onChange={(event) => setFilter('state', event.target.value)}
          >
            {stateChoices.map((choice) => (
              <option key={choice.value} value={choice.value}>
                {choice.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-application">Application</label>
          <select
            id="filter-application"
            value={params.get('application') ?? ''}
            onChange={(event) => setFilter('application', event.target.value)}
          >
            <option value="">Any application</option>
            {applications.map((application) => (
              <option key={application.name} value={application.name}>
                {application.title}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-resource">Resource</label>
          <select
            id="filter-resource"
            value={params.get('resource') ?? ''}
            onChange={(event) => setFilter('resource', event.target.value)}
          >
            <option value="">Any resource</option>
            {resources.map((resource) => (
              <option key={resource.name} value={resource.name}>
                {resource.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-from">Created from</label>
          <input
            id="filter-from"
            type="date"
            value={params.get('from') ?? ''}
            onChange={(event) => setFilter('from', event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="filter-to">Created until</label>
          <input
            id="filter-to"
            type="date"
            value={params.get('to') ?? ''}
            onChange={(event) => setFilter('to', event.target.value)}
          />
        </div>
        {filtered && (
          <button
            type="button"
            className="link-button"
            onClick={() => {
              setSearch('');
              setParams({}, { replace: true });
              setPreviousCursors([]);
            }}
          >
            Clear filters
          </button>
        )}
      </form>

      <ConnectionStatus status={streamStatus} finished={false} />
      <p className="visually-hidden" aria-live="polite">
        {announcement}
      </p>
      {/* Read out after each change; shown only beside rows (an empty list says so below). */}
      <p className={items.length > 0 ? 'page-position' : 'visually-hidden'} role="status">
        {list.loading
          ? 'Loading experiments…'
          : pagePosition(items.length, cursor, previousCursors.length, nextCursor, total.data ?? null)}
      </p>

      {list.error !== undefined && (
        <p className="error" role="alert">
          The experiments could not be loaded: {errorMessage(list.error)}{' '}
          <button type="button" onClick={list.reload}>
            Try again
          </button>
        </p>
      )}

      {list.data && items.length === 0 && (
        <p className="empty">
          {filtered ? (
            'No experiment matches these filters.'
          ) : (
            <>
              No experiments yet. <Link to="/experiments/new">Submit your first one</Link>.
            </>
          )}
        </p>
      )}

      {items.length > 0 && (
        <table className="experiments">
          <caption className="visually-hidden">Experiments, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Application</th>
              <th scope="col">Resource</th>
              <th scope="col">Created</th>
              {headlineColumns ? (
                headlineColumns.map((column) => (
                  <th key={column.name} scope="col" className="number">
                    {column.label}
                    {column.unit && <span className="hint"> ({column.unit})</span>}
                  </th>
                ))
              ) : (
                <th scope="col">Result</th>
              )}
              {me.user.role === 'admin' && <th scope="col">Owner</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((experiment) => (
              <tr key={experiment.id} data-id={experiment.id}>
                <th scope="row" data-label="Name">
                  <Link to={`/experiments/${experiment.id}`}>{experiment.name}</Link>
                  {experiment.parentId && <span className="tag">clone</span>}
                </th>
                <td data-label="State">
                  <StateBadge state={experiment.state} />
                  {/* While the job runs, how far the program says it is. */}
                  {experiment.progress && experiment.progress.jobEndedAt === null && (
                    <ProgressBar progress={experiment.progress} compact />
                  )}
                  {/* Over a queue's limit: its place in line, the reason in the tooltip and the page. */}
                  {experiment.waiting && (
                    <span className="hint" title={experiment.waiting.reason}>
                      {' '}
                      waiting, #{experiment.waiting.place} in line
                    </span>
                  )}
                </td>
                <td data-label="Application">{experiment.application}</td>
                <td data-label="Resource">{experiment.resource}</td>
                <td data-label="Created">
                  <time dateTime={experiment.createdAt}>{formatDateTime(experiment.createdAt)}</time>
                </td>
                {headlineColumns ? (
                  headlineColumns.map((column) => {
                    const value = experiment.headlineValues.find((headline) => headline.name === column.name)?.value;
                    return (
                      <td key={column.name} data-label={column.label} className="number">
                        {formatHeadline(value ?? null)}
                      </td>
                    );
                  })
                ) : (
                  <td data-label="Result">
                    {experiment.headlineValues[0] && (
                      <>
                        <span className="hint">{experiment.headlineValues[0].label}:</span>{' '}
                        {formatHeadline(experiment.headlineValues[0].value, experiment.headlineValues[0].unit)}
                      </>
                    )}
                  </td>
                )}
                {me.user.role === 'admin' && <td data-label="Owner">{experiment.owner}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {(cursor || nextCursor) && (
        <nav className="pager" aria-label="Pages">
          <button type="button" disabled={!cursor} onClick={() => goTo(previousCursors.at(-1) || undefined, true)}>
            ← Newer
          </button>
          {cursor && (
            <button
              type="button"
              onClick={() => {
                setPreviousCursors([]);
                setFilter('cursor', '');
              }}
            >
              Newest
            </button>
          )}
          <button type="button" disabled={!nextCursor} onClick={() => goTo(nextCursor ?? undefined, false)}>
            Older →
          </button>
        </nav>
      )}
    </>
  );
}
