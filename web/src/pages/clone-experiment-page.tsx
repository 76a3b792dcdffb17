import { Link, useParams } from 'react-router';
import { ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import { ExperimentForm } from '../components/experiment-form';
import { PageHeading } from '../components/page-heading';
import { changedInputs, valuesFromExperiment } from '../form-model';
import { useAsync, useCatalogue } from '../use-async';

/**
 * Cloning: the form filled with an earlier experiment's inputs and settings, showing what
 * changed; it is submitted through the clone endpoint so the new experiment records its parent.
 */
export function CloneExperimentPage() {
  const { id = '' } = useParams();
  const catalogue = useCatalogue();
  const parent = useAsync(() => ok(api.GET('/api/v1/experiments/{id}', { params: { path: { id } } })), [id]);
  const application = catalogue.data?.applications.find((candidate) => candidate.name === parent.data?.application);
  const error = catalogue.error ?? parent.error;

  return (
    <>
      <PageHeading title={parent.data ? `Clone ${parent.data.name}` : 'Clone experiment'} />
      {error !== undefined && (
        <p className="error" role="alert">
          The experiment could not be loaded: {errorMessage(error)}
        </p>
      )}
      {(catalogue.loading || parent.loading) && !(catalogue.data && parent.data) && <p role="status">Loading…</p>}
      {parent.data && catalogue.data && !application && (
        <p className="error">
          The application {parent.data.application} is no longer in the catalogue, so this experiment cannot be cloned.
        </p>
      )}
      {parent.data && catalogue.data && application && (
        <>
          <p>
            A new experiment of <strong>{application.title}</strong> starting from the inputs of{' '}
            <Link to={`/experiments/${parent.data.id}`}>{parent.data.name}</Link>. Change what you need; the new
            experiment records where it came from.
          </p>
          <ExperimentForm
            application={application}
            resources={catalogue.data.resources}
            initial={valuesFromExperiment(application, parent.data)}
            parent={parent.data}
            submitLabel="Submit clone"
            create={(request, launch) =>
              ok(
                api.POST('/api/v1/experiments/{id}/clone', {
                  params: { path: { id: parent.data!.id } },
                  body: {
                    name: request.name,
                    resource: request.resource,
                    queue: request.queue,
                    nodes: request.nodes,
                    coresPerNode: request.coresPerNode,
                    walltimeMinutes: request.walltimeMinutes,
                    inputs: changedInputs(parent.data!.inputs, request.inputs),
                    launch,
                  },
                }),
              )
            }
          />
        </>
      )}
    </>
  );
}
