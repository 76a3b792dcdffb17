import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useNavigate } from 'react-router';
import { ApiError, ok } from '../../../src/api-client/client';
import { api, errorMessage } from '../api/client';
import type { Application, ExperimentDetail, Resource } from '../../../src/api-client/types';
import {
  autoResource,
  buildRequest,
  changesFromParent,
  defaultSettings,
  findQueue,
  resourcesFor,
  type FormRequest,
  type FormValues,
} from '../form-model';
import { formatNumber } from '../format';
import { Field, InputField, fieldIds } from './field';

/** Props of {@link ExperimentForm}. */
export interface ExperimentFormProps {
  application: Application;
  resources: Resource[];
  initial: FormValues;
  /** The experiment being cloned: the form then shows what differs from it. */
  parent?: ExperimentDetail;
  submitLabel: string;
  /**
   * Creates the experiment from `request`, launched or (for the script preview) as a
   * draft; resolves to it. A refused request rejects with an ApiError naming the fields.
   */
  create(request: FormRequest, launch: boolean): Promise<ExperimentDetail>;
  /** More fields the page adds at the end of the form (the notifications choice), kept by the page. */
  extra?: ReactNode;
}

/** Labels of the non-input fields, for the error summary. */
const settingLabels: Record<string, string> = {
  name: 'Name',
  resource: 'Resource',
  queue: 'Queue',
  nodes: 'Nodes',
  coresPerNode: 'Cores per node',
  walltimeMinutes: 'Walltime (minutes)',
  memoryMb: 'Memory',
  application: 'Application',
};

/** The control id that shows the server's errors for `field` (`inputs.samples` -> `input-samples`). */
function controlId(field: string): string {
  return field.startsWith('inputs.') ? `input-${field.slice('inputs.'.length)}` : `setting-${field}`;
}

/**
 * The form generated from an application's input schema, with the resource, queue and
 * job size inside the queue's limits, a batch-script preview and submission. The server
 * validates: its problem+json errors are shown next to each field and in a summary.
 */
export function ExperimentForm({
  application,
  resources,
  initial,
  parent,
  submitLabel,
  create,
  extra,
}: ExperimentFormProps) {
  const navigate = useNavigate();
  const [values, setValues] = useState<FormValues>(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | null>(null);
  // Counts refusals, so that each one moves the focus to the summary once it is rendered.
  const [refusals, setRefusals] = useState(0);
  const [busy, setBusy] = useState<'submit' | 'preview' | null>(null);
  const [status, setStatus] = useState('');
  const [preview, setPreview] = useState<{ draftId: string; script: string; stale: boolean } | null>(null);
  const summary = useRef<HTMLDivElement>(null);
  const uploads = useRef(new Map<File, string>());
  // The unlaunched draft behind the preview, deleted when the user leaves without submitting.
  const draft = useRef<string | null>(null);

  useEffect(
    () => () => {
      if (draft.current)
        void api.DELETE('/api/v1/experiments/{id}', { params: { path: { id: draft.current } } }).catch(() => {});
    },
    [],
  );

  const usable = resourcesFor(application, resources);
  const resource = usable.find((candidate) => candidate.name === values.resource);
  const queue = findQueue(resources, values.resource, values.queue);
  const maxNodes = queue ? (queue.maxNodes ?? queue.maxCores) : undefined;
  const nodes = Math.max(1, Number(values.nodes) || 1);
  const maxCoresPerNode = queue ? Math.max(1, Math.floor(queue.maxCores / nodes)) : undefined;
  const changes = useMemo(
    () => (parent ? changesFromParent(application, parent, values) : []),
    [application, parent, values],
  );

  const update = (change: Partial<FormValues>) => {
    setValues((previous) => ({ ...previous, ...change }));
    setPreview((previous) => (previous ? { ...previous, stale: true } : previous));
  };
  const setInput = (name: string, value: string | boolean | File) => {
    setValues((previous) => ({ ...previous, inputs: { ...previous.inputs, [name]: value } }));
    setPreview((previous) => (previous ? { ...previous, stale: true } : previous));
    setErrors(({ [`inputs.${name}`]: _, ...rest }) => rest);
  };
  const setSetting = (field: keyof FormValues, value: string) => {
    update({ [field]: value });
    setErrors(({ [field]: _, ...rest }) => rest);
  };

  const chooseResource = (name: string) => {
    update(
      name === autoResource
        ? { resource: autoResource }
        : defaultSettings(
            application,
            usable.find((candidate) => candidate.name === name),
          ),
    );
    setErrors(({ resource: _r, queue: _q, walltimeMinutes: _w, nodes: _n, coresPerNode: _c, ...rest }) => rest);
  };
  const chooseQueue = (name: string) => {
    // Keep the user's numbers but bring them inside the new queue's limits.
    const next = findQueue(resources, values.resource, name);
    const change: Partial<FormValues> = { queue: name };
    if (next) {
      if (Number(values.walltimeMinutes) > next.maxWalltimeMinutes)
        change.walltimeMinutes = String(next.maxWalltimeMinutes);
      const nextNodes = Math.min(nodes, next.maxNodes ?? next.maxCores);
      if (nextNodes !== nodes) change.nodes = String(nextNodes);
      const cores = Number(values.coresPerNode);
      if (cores * nextNodes > next.maxCores)
        change.coresPerNode = String(Math.max(1, Math.floor(next.maxCores / nextNodes)));
    }
    update(change);
    setErrors(({ queue: _q, walltimeMinutes: _w, nodes: _n, coresPerNode: _c, ...rest }) => rest);
  };

  /** Uploads newly picked files (once each) and builds the request. */
  const prepare = async (): Promise<FormRequest> => {
    for (const input of application.inputs) {
      const value = values.inputs[input.name];
      if (input.type !== 'file' || !(value instanceof File) || uploads.current.has(value)) continue;
      setStatus(`Uploading ${value.name}…`);
      const uploaded = await ok(
        api.POST('/api/v1/uploads', {
          params: { query: { filename: value.name } },
          body: value as never,
          bodySerializer: (body: unknown) => body as File,
          headers: { 'content-type': 'application/octet-stream' },
        }),
      ).catch((error) => {
        // The upload's own errors (bad file name, too large) belong to the file field.
        if (error instanceof ApiError)
          throw new ApiError(error.status, {
            ...error.problem,
            errors: [{ field: `inputs.${input.name}`, message: error.message }],
          });
        throw error;
      });
      uploads.current.set(value, uploaded.id);
    }
    return buildRequest(application, values, uploads.current);
  };

  const showFailure = (error: unknown) => {
    setStatus('');
    if (error instanceof ApiError) {
      setErrors(error.fieldErrors());
      setFailure(
        error.problem.errors?.length
          ? 'The server did not accept the experiment. Please correct the fields below.'
          : error.message,
      );
    } else {
      setErrors({});
      setFailure(errorMessage(error));
    }
    setRefusals((count) => count + 1);
  };

  // Move the focus to the summary so the user hears what went wrong and can jump to each field.
  useEffect(() => {
    if (refusals > 0) summary.current?.focus();
  }, [refusals]);

  const forgetDraft = async () => {
    if (!draft.current) return;
    const id = draft.current;
    draft.current = null;
    await api.DELETE('/api/v1/experiments/{id}', { params: { path: { id } } }).catch(() => {});
  };

  const onPreview = async () => {
    setBusy('preview');
    setFailure(null);
    setErrors({});
    try {
      const request = await prepare();
      await forgetDraft();
      setStatus('Preparing the batch script…');
      const created = await create(request, false);
      draft.current = created.id;
      const script = await ok(
        api.GET('/api/v1/experiments/{id}/script', { params: { path: { id: created.id } }, parseAs: 'text' }),
      );
      setPreview({ draftId: created.id, script: String(script), stale: false });
      setStatus('The batch script is shown below the form.');
    } catch (error) {
      showFailure(error);
    } finally {
      setBusy(null);
    }
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    setBusy('submit');
    setFailure(null);
    setErrors({});
    try {
      let experiment: ExperimentDetail;
      if (preview && !preview.stale && draft.current === preview.draftId) {
        // What was previewed is exactly what runs.
        setStatus('Launching…');
        experiment = await ok(
          api.POST('/api/v1/experiments/{id}/launch', { params: { path: { id: preview.draftId } } }),
        );
        draft.current = null;
      } else {
        const request = await prepare();
        await forgetDraft();
        setStatus('Submitting…');
        experiment = await create(request, true);
      }
      setStatus('Submitted.');
      navigate(`/experiments/${experiment.id}`);
    } catch (error) {
      showFailure(error);
    } finally {
      setBusy(null);
    }
  };

  const errorEntries = Object.entries(errors);
  const labelOf = (field: string) => {
    const input = application.inputs.find((candidate) => `inputs.${candidate.name}` === field);
    return input ? (input.title ?? input.name) : (settingLabels[field] ?? field);
  };

  return (
    <form
      className="experiment-form"
      noValidate
      onSubmit={onSubmit}
      aria-describedby={failure ? 'form-errors' : undefined}
    >
      {failure && (
        <div id="form-errors" className="error-summary" ref={summary} tabIndex={-1}>
          <h2>There is a problem</h2>
          <p>{failure}</p>
          {errorEntries.length > 0 && (
            <ul>
              {errorEntries.map(([field, message]) => (
                <li key={field}>
                  <a
                    href={`#${controlId(field)}`}
                    onClick={(event) => {
                      const target = document.getElementById(controlId(field));
                      if (target) {
                        event.preventDefault();
                        target.focus();
                      }
                    }}
                  >
                    {labelOf(field)}: {message}
                  </a>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}

      {parent && (
        <section className="changes" aria-labelledby="changes-title">
          <h2 id="changes-title">Changes from the original</h2>
          <div aria-live="polite">
            {changes.length === 0 ? (
              <p>Nothing changed yet: the clone would run with the same inputs and settings.</p>
            ) : (
              <ul>
                {changes.map((change) => (
                  <li key={change.field}>
                    <strong>{change.label}</strong>:{' '}
                    <del>
                      <span className="visually-hidden">was </span>
                      {change.before}
                    </del>{' '}
                    →{' '}
                    <ins>
                      <span className="visually-hidden">now </span>
                      {change.after}
                    </ins>
                  </li>
                ))}
              </ul>
            )}
          </div>
        </section>
      )}

      <fieldset>
        <legend>Inputs</legend>
        {application.inputs.length === 0 && <p>This application takes no inputs.</p>}
        {application.inputs.map((input) => (
          <InputField
            key={input.name}
            input={input}
            value={values.inputs[input.name] ?? ''}
            error={errors[`inputs.${input.name}`]}
            onChange={(value) => setInput(input.name, value)}
          />
        ))}
      </fieldset>

      <fieldset>
        <legend>Where and how it runs</legend>
        <Field id="setting-resource" label="Resource" error={errors.resource}>
          <select
            id="setting-resource"
            value={values.resource}
            onChange={(event) => chooseResource(event.target.value)}
            {...fieldIds('setting-resource', false, errors.resource)}
          >
            {usable.map((candidate) => (
              <option key={candidate.name} value={candidate.name}>
                {candidate.name} ({candidate.kind})
              </option>
            ))}
            {usable.length > 1 && <option value={autoResource}>auto (the one expected to start it first)</option>}
          </select>
        </Field>
        {values.resource === autoResource ? (
          <p className="hint" id="setting-auto-hint">
            Drover asks each resource {application.name} is deployed on when it would start it (Slurm: its own forecast;
            PBS: the length of its queue; with Drover&apos;s own waiting line) and picks the first. Each resource&apos;s
            deployment sets the queue, cores and walltime; the experiment&apos;s page says why it chose.
          </p>
        ) : (
          <>
            <Field
              id="setting-queue"
              label="Queue"
              error={errors.queue}
              hint={
                queue
                  ? `${queue.name}: up to ${formatNumber(queue.maxWalltimeMinutes)} minutes and ${queue.maxCores} cores${queue.maxNodes ? ` on ${queue.maxNodes} nodes` : ''}${queue.maxJobsPerUser ? `, ${queue.maxJobsPerUser} active experiments per user` : ''}.`
                  : undefined
              }
            >
              <select
                id="setting-queue"
                value={values.queue}
                onChange={(event) => chooseQueue(event.target.value)}
                {...fieldIds('setting-queue', Boolean(queue), errors.queue)}
              >
                {(resource?.config.queues ?? []).map((candidate) => (
                  <option key={candidate.name} value={candidate.name}>
                    {candidate.name} (max {formatNumber(candidate.maxWalltimeMinutes)} min, {candidate.maxCores} cores)
                  </option>
                ))}
              </select>
            </Field>
            <div className="field-row">
              <Field
                id="setting-nodes"
                label="Nodes"
                error={errors.nodes}
                hint={maxNodes ? `1 to ${maxNodes}.` : undefined}
              >
                <input
                  id="setting-nodes"
                  type="number"
                  inputMode="numeric"
                  min={1}
                  max={maxNodes}
                  step={1}
                  value={values.nodes}
                  onChange={(event) => setSetting('nodes', event.target.value)}
                  {...fieldIds('setting-nodes', Boolean(maxNodes), errors.nodes)}
                />
              </Field>
              <Field
                id="setting-coresPerNode"
                label="Cores per node"
                error={errors.coresPerNode}
                hint={maxCoresPerNode ? `1 to ${maxCoresPerNode}.` : undefined}
              >
                <input
                  id="setting-coresPerNode"
                  type="number"
                  inputMode="numeric"
                  min={1}
                  max={maxCoresPerNode}
                  step={1}
                  value={values.coresPerNode}
                  onChange={(event) => setSetting('coresPerNode', event.target.value)}
                  {...fieldIds('setting-coresPerNode', Boolean(maxCoresPerNode), errors.coresPerNode)}
                />
              </Field>
              <Field
                id="setting-walltimeMinutes"
                label="Walltime (minutes)"
                error={errors.walltimeMinutes}
                hint={queue ? `At most ${formatNumber(queue.maxWalltimeMinutes)} on ${queue.name}.` : undefined}
              >
                <input
                  id="setting-walltimeMinutes"
                  type="number"
                  inputMode="decimal"
                  min={1}
                  max={queue?.maxWalltimeMinutes}
                  step="any"
                  value={values.walltimeMinutes}
                  onChange={(event) => setSetting('walltimeMinutes', event.target.value)}
                  {...fieldIds('setting-walltimeMinutes', Boolean(queue), errors.walltimeMinutes)}
                />
              </Field>
            </div>
          </>
        )}
        <Field
          id="setting-name"
          label="Experiment name"
          error={errors.name}
          hint="Optional; helps you find it in the list."
        >
          <input
            id="setting-name"
            type="text"
            maxLength={200}
            value={values.name}
            placeholder={`${application.name} <date and time>`}
            onChange={(event) => setSetting('name', event.target.value)}
            {...fieldIds('setting-name', true, errors.name)}
          />
        </Field>
      </fieldset>

      {extra}

      <div className="actions">
        <button type="submit" className="primary" disabled={busy !== null}>
          {busy === 'submit' ? 'Submitting…' : submitLabel}
        </button>
        <button type="button" onClick={onPreview} disabled={busy !== null}>
          {busy === 'preview' ? 'Preparing…' : 'Preview batch script'}
        </button>
        <p role="status" className="status">
          {status}
        </p>
      </div>

      {preview && (
        <section className="script-preview" aria-labelledby="script-title">
          <h2 id="script-title">Batch script</h2>
          {preview.stale && (
            <p className="notice">The form changed since this preview; submitting uses the new values.</p>
          )}
          <pre tabIndex={0} aria-label="Batch script">
            {preview.script}
          </pre>
        </section>
      )}
    </form>
  );
}
