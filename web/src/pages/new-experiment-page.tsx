import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import { ExperimentForm } from '../components/experiment-form';
import { NotifyChoice } from '../components/notify-choice';
import { VaryChoice, type VaryChoices } from '../components/vary-choice';
import type { ExperimentNotify, Sweep, Variation } from '../../../src/api-client/types';
import { PageHeading } from '../components/page-heading';
import { initialValues, type FormRequest, type FormValues } from '../form-model';
import { parseVariation, sweepSize, variationText } from '../sweep-model';
import { useAsync, useCatalogue } from '../use-async';

/**
 * A new experiment: pick an application, fill in the form generated from its inputs, submit.
 * Varying inputs makes it a parameter sweep; `?sweep=<id>` starts from a sweep's choices and
 * submits a clone of it.
 */
export function NewExperimentPage() {
  const catalogue = useCatalogue();
  const [search, setSearch] = useSearchParams();
  const sweepId = search.get('sweep');
  const source = useAsync(
    () => (sweepId ? ok(api.GET('/api/v1/sweeps/{id}', { params: { path: { id: sweepId } } })) : Promise.resolve(null)),
    [sweepId],
  );
  const applications = catalogue.data?.applications ?? [];
  const chosen = applications.find(
    (application) => application.name === (source.data?.application ?? search.get('application')),
  );
  const [notify, setNotify] = useState<ExperimentNotify | null>(null);
  const [vary, setVary] = useState<VaryChoices>({ open: false, texts: {}, zip: false });
  const defaults = useAsync(() => ok(api.GET('/api/v1/notifications/settings')), []);
  useEffect(() => {
    const sweep = source.data;
    setVary(
      sweep
        ? {
            open: true,
            texts: Object.fromEntries(
              Object.entries(sweep.vary).map(([name, variation]) => [name, variationText(variation)]),
            ),
            zip: sweep.combine === 'zip',
          }
        : { open: false, texts: {}, zip: false },
    );
  }, [source.data, chosen?.name]);

  // Closed, the choices count for nothing (what was typed stays, for opening again).
  const variations = Object.entries(vary.open ? vary.texts : {})
    .map(([name, text]) => [name, parseVariation(text)] as const)
    .filter((entry): entry is readonly [string, Variation] => entry[1] !== null);
  const size = sweepSize(
    variations.map(([, variation]) => variation),
    vary.zip,
  );

  /** Submits the form's request as a sweep (or a clone of the sweep it started from); resolves to its page. */
  const submitSweep = async (request: FormRequest): Promise<string> => {
    const varied = Object.fromEntries(variations);
    const inputs = Object.fromEntries(Object.entries(request.inputs).filter(([name]) => !(name in varied)));
    const body = { ...request, inputs, vary: varied, combine: vary.zip ? ('zip' as const) : ('product' as const) };
    const sweep: Sweep = source.data
      ? await ok(
          api.POST('/api/v1/sweeps/{id}/clone', {
            params: { path: { id: source.data.id } },
            // What the source varied and this one does not is no longer varied.
            body: {
              ...body,
              vary: {
                ...Object.fromEntries(Object.keys(source.data.vary).map((name) => [name, null])),
                ...varied,
              },
              notify,
            },
          }),
        )
      : await ok(api.POST('/api/v1/sweeps', { body: { ...body, application: chosen!.name, notify } }));
    return `/sweeps/${sweep.id}`;
  };

  const initial = (): FormValues => {
    const values = initialValues(chosen!, catalogue.data!.resources);
    const sweep = source.data;
    if (!sweep) return values;
    const inputs = { ...values.inputs };
    for (const [name, value] of Object.entries(sweep.inputs))
      if (name in inputs && typeof value !== 'object')
        inputs[name] = typeof inputs[name] === 'boolean' ? Boolean(value) : String(value);
    return { ...values, name: `${sweep.name} (clone)`, resource: sweep.resource, inputs };
  };

  return (
    <>
      <PageHeading title={source.data ? `Clone sweep ${source.data.name}` : 'New experiment'} />
      {(catalogue.error ?? source.error) !== undefined && (
        <p className="error" role="alert">
          The {source.error !== undefined ? 'sweep' : 'catalogue'} could not be loaded:{' '}
          {errorMessage(source.error ?? catalogue.error)}
        </p>
      )}
      {catalogue.loading && !catalogue.data && <p role="status">Loading the applications…</p>}
      {source.data && (
        <p>
          A new sweep starting from <Link to={`/sweeps/${source.data.id}`}>{source.data.name}</Link>: change the inputs
          and what varies; the new sweep records where it came from.
        </p>
      )}
      {catalogue.data && (!sweepId || source.data) && (
        <>
          {!source.data && (
            <div className="field">
              <label htmlFor="application">Application</label>
              <select
                id="application"
                value={chosen?.name ?? ''}
                onChange={(event) =>
                  setSearch(event.target.value ? { application: event.target.value } : {}, { replace: true })
                }
                aria-describedby="application-hint"
              >
                <option value="">Choose an application…</option>
                {applications.map((application) => (
                  <option key={application.name} value={application.name}>
                    {application.title} ({application.name})
                  </option>
                ))}
              </select>
              <p id="application-hint" className="hint">
                {chosen ? chosen.description : 'The form for its inputs appears below.'}
              </p>
            </div>
          )}
          {chosen && (
            <ExperimentForm
              // A new application (or sweep) starts a fresh form.
              key={`${chosen.name} ${source.data?.id ?? ''}`}
              application={chosen}
              resources={catalogue.data.resources}
              initial={initial()}
              submitLabel={
                variations.length > 0
                  ? `Submit sweep${size > 0 ? ` of ${size.toLocaleString('en')} experiment${size === 1 ? '' : 's'}` : ''}`
                  : 'Submit experiment'
              }
              create={(request, launch) =>
                ok(api.POST('/api/v1/experiments', { body: { application: chosen.name, ...request, launch, notify } }))
              }
              submit={variations.length > 0 || source.data ? submitSweep : undefined}
              extra={
                <>
                  <VaryChoice application={chosen} value={vary} onChange={setVary} />
                  <NotifyChoice id="notify" value={notify} defaults={defaults.data} onChange={setNotify} />
                </>
              }
            />
          )}
          {!chosen && applications.length === 0 && <p>This gateway has no applications yet.</p>}
        </>
      )}
    </>
  );
}
