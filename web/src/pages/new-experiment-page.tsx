import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import { ExperimentForm } from '../components/experiment-form';
import { NotifyChoice } from '../components/notify-choice';
import type { ExperimentNotify } from '../../../src/api-client/types';
import { PageHeading } from '../components/page-heading';
import { initialValues } from '../form-model';
import { useAsync, useCatalogue } from '../use-async';

/** A new experiment: pick an application, fill in the form generated from its inputs, submit. */
export function NewExperimentPage() {
  const catalogue = useCatalogue();
  const [search, setSearch] = useSearchParams();
  const applications = catalogue.data?.applications ?? [];
  const chosen = applications.find((application) => application.name === search.get('application'));
  const [notify, setNotify] = useState<ExperimentNotify | null>(null);
  const defaults = useAsync(() => ok(api.GET('/api/v1/notifications/settings')), []);

  return (
    <>
      <PageHeading title="New experiment" />
      {catalogue.error !== undefined && (
        <p className="error" role="alert">
          The catalogue could not be loaded: {errorMessage(catalogue.error)}
        </p>
      )}
      {catalogue.loading && !catalogue.data && <p role="status">Loading the applications…</p>}
      {catalogue.data && (
        <>
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
          {chosen && (
            <ExperimentForm
              // A new application starts a fresh form.
              key={chosen.name}
              application={chosen}
              resources={catalogue.data.resources}
              initial={initialValues(chosen, catalogue.data.resources)}
              submitLabel="Submit experiment"
              create={(request, launch) =>
                ok(api.POST('/api/v1/experiments', { body: { application: chosen.name, ...request, launch, notify } }))
              }
              extra={<NotifyChoice id="notify" value={notify} defaults={defaults.data} onChange={setNotify} />}
            />
          )}
          {!chosen && applications.length === 0 && <p>This gateway has no applications yet.</p>}
        </>
      )}
    </>
  );
}
