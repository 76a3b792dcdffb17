/**
 * Experiment routes: create, launch, get, list, cancel, resume, clone, delete a draft, events
 * (JSON and a resumable SSE stream) and the job script preview.
 */
import type { FastifyInstance } from 'fastify';
import type { ResourceSpec } from '../../domain/resource.ts';
import {
  cancelExperiment,
  cloneExperiment,
  createExperiment,
  createExperiments,
  deleteDraft,
  launchExperiment,
  maxExperimentsPerBatch,
  resumeExperiment,
  updateExperiment,
  type ExperimentRequest,
} from '../../experiments/commands.ts';
import {
  countExperiments,
  experimentCountCap,
  getExperiment,
  getSummaries,
  listExperiments,
  loadRunContext,
  type ExperimentFilter,
} from '../../experiments/queries.ts';
import { buildJobSpec, submissionKey } from '../../experiments/job-spec.ts';
import { listEvents } from '../../state/events.ts';
import { latestJob } from '../../state/job-state.ts';
import { ValidationError } from '../../domain/errors.ts';
import { terminalExperimentStates } from '../../domain/experiment.ts';
import { experimentPriorityRange } from '../../domain/admission.ts';
import type { ExperimentNotify } from '../../domain/notification.ts';
import type { ApiDependencies } from '../dependencies.ts';
import {
  idempotencyKeyHeaders,
  idempotencyResponses,
  notificationEventListSchema,
  problemResponses,
  ref,
} from '../schemas.ts';
import { replyOnce } from '../idempotency.ts';
import { openEventStream } from '../sse.ts';
import type { EventBus } from '../event-bus.ts';

const idParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;

/** An experiment's own choice of notifications, in a request; null follows the owner's defaults. */
const notifyRequestSchema = {
  // A type list, not anyOf: with type coercion on, anyOf may turn null into another type.
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    events: notificationEventListSchema('The events that notify, instead of your defaults; [] for none'),
    email: { type: 'boolean', description: 'false: no email for this experiment' },
    webhook: { type: 'boolean', description: 'false: no webhook for this experiment' },
  },
  description:
    "This experiment's own choice of notifications over your defaults (GET /notifications/settings); a key left out, or null, follows them",
} as const;

const prioritySchema = {
  type: 'integer',
  minimum: experimentPriorityRange.min,
  maximum: experimentPriorityRange.max,
  description:
    'Your priority for it among your own experiments waiting on the same queue, -5 to 5 (default 0; higher starts first). It does not put it before other users’ (README, When experiments start)',
} as const;

/** The settings of an experiment request (all but application and resource), for routes that take one. */
export const settingsProperties = {
  queue: { type: 'string', description: 'Queue (partition); default from the deployment, then the resource' },
  nodes: { type: 'integer', minimum: 1 },
  coresPerNode: { type: 'integer', minimum: 1 },
  walltimeMinutes: { type: 'number', exclusiveMinimum: 0 },
  memoryMb: { type: 'integer', minimum: 1 },
  name: { type: 'string', maxLength: 200 },
  launch: { type: 'boolean', description: 'Launch at once (default true); false keeps a draft to preview' },
  inputs: {
    type: 'object',
    additionalProperties: true,
    description: 'Input name to value; file inputs take an upload id',
  },
  notify: notifyRequestSchema,
  priority: prioritySchema,
} as const;

const experimentRequestSchema = {
  type: 'object',
  required: ['application', 'resource'],
  additionalProperties: false,
  properties: {
    application: { type: 'string', minLength: 1 },
    resource: {
      type: 'string',
      minLength: 1,
      description:
        "A resource of the gateway, or `auto`: of the resources the application is deployed on, the one expected to start it first (Slurm: `sbatch --test-only`; PBS: its queue length; with Drover's own waiting line). The `created` event says why.",
    },
    ...settingsProperties,
  },
} as const;

const experimentBatchSchema = {
  type: 'object',
  required: ['items'],
  additionalProperties: false,
  properties: {
    items: { type: 'array', minItems: 1, maxItems: maxExperimentsPerBatch, items: experimentRequestSchema },
  },
} as const;

/** A bulk creation's body may be larger than other requests': up to a thousand experiments. */
const minimumBatchBodyBytes = 8 * 1024 * 1024;

const cloneRequestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { resource: { type: 'string', minLength: 1 }, ...settingsProperties },
} as const;

const listQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', description: 'Comma-separated states' },
    application: { type: 'string' },
    resource: { type: 'string' },
    owner: { type: 'string', description: 'Owner name (admins)' },
    q: {
      type: 'string',
      description:
        "Text in the id, name, application, an input's value or an uploaded input file's name (case-insensitive)",
    },
    parent: { type: 'string', description: 'Clones of this experiment' },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
    cursor: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 200 },
    access_token: { type: 'string' },
  },
} as const;

/** The list filters of a `GET /experiments` query (`cursor` and `limit` aside). */
function listFilter(query: Record<string, any>): Omit<ExperimentFilter, 'cursor' | 'limit'> {
  return {
    state: query.state
      ? String(query.state)
          .split(',')
          .map((state) => state.trim())
          .filter(Boolean)
      : undefined,
    application: query.application,
    resource: query.resource,
    owner: query.owner,
    text: query.q,
    parentId: query.parent,
    createdAfter: query.since ? new Date(query.since) : undefined,
    createdBefore: query.until ? new Date(query.until) : undefined,
  };
}

export function registerExperimentRoutes(api: FastifyInstance, deps: ApiDependencies & { events: EventBus }): void {
  const { store, resources, appsDir, events } = deps;
  const creating = { openScheduler: (resource: ResourceSpec) => resources.open(resource).scheduler };

  api.post(
    '/experiments',
    {
      schema: {
        operationId: 'createExperiment',
        summary: 'Create an experiment',
        description:
          'Creates a run of an application on a resource and, unless `launch` is false, launches it. Settings left out come from the deployment, then the resource (see JobSettings). The Location header names the new experiment.',
        tags: ['experiments'],
        headers: idempotencyKeyHeaders,
        body: experimentRequestSchema,
        response: { 201: ref('Experiment'), ...problemResponses, ...idempotencyResponses },
      },
    },
    async (request, reply) =>
      replyOnce(store, request, reply, async (db) => {
        const experiment = await createExperiment(
          db,
          request.principal,
          request.body as ExperimentRequest,
          null,
          creating,
        );
        return { status: 201, body: experiment, location: `/api/v1/experiments/${experiment.id}` };
      }),
  );

  api.post(
    '/experiments/batch',
    {
      bodyLimit: Math.max(deps.bodyLimitBytes, minimumBatchBodyBytes),
      schema: {
        operationId: 'createExperiments',
        summary: 'Create many experiments at once',
        description: `Creates up to ${maxExperimentsPerBatch} experiments in one transaction: all of them, or none. Each item is the body of \`POST /experiments\` (launched unless \`launch\` is false). A bad item fails the whole request with a 400 whose \`errors\` name \`items.<index>.<field>\`. Items over their queue's per-user limit are accepted and wait \`queued\` for a place (\`waiting\`). The response lists the new experiments in the order of the items.`,
        tags: ['experiments'],
        headers: idempotencyKeyHeaders,
        body: experimentBatchSchema,
        response: { 201: ref('ExperimentBatch'), ...problemResponses, ...idempotencyResponses },
      },
    },
    async (request, reply) =>
      replyOnce(store, request, reply, async (db) => {
        const { items } = request.body as { items: ExperimentRequest[] };
        return { status: 201, body: { items: await createExperiments(db, request.principal, items, creating) } };
      }),
  );

  api.get(
    '/experiments',
    {
      schema: {
        operationId: 'listExperiments',
        summary: 'List experiments',
        description:
          'Your experiments (all of the gateway for admins), newest first, filtered by the query; pass `nextCursor` as `cursor` for the next page.',
        tags: ['experiments'],
        querystring: listQuerySchema,
        response: { 200: ref('ExperimentPage'), ...problemResponses },
      },
    },
    async (request) => {
      const query = request.query as Record<string, any>;
      return listExperiments(store, request.principal, {
        ...listFilter(query),
        cursor: query.cursor,
        limit: query.limit,
      });
    },
  );

  api.get(
    '/experiments/count',
    {
      schema: {
        operationId: 'countExperiments',
        summary: 'Count experiments',
        description: `How many experiments \`GET /experiments\` with the same filters would list in all (its cursor and limit aside), counted up to ${experimentCountCap.toLocaleString('en')}: beyond that, \`capped\` is true and \`count\` is the cap.`,
        tags: ['experiments'],
        querystring: {
          ...listQuerySchema,
          properties: Object.fromEntries(
            Object.entries(listQuerySchema.properties).filter(([name]) => name !== 'cursor' && name !== 'limit'),
          ),
        },
        response: {
          200: {
            type: 'object',
            required: ['count', 'capped'],
            properties: {
              count: { type: 'integer', minimum: 0 },
              capped: { type: 'boolean', description: 'There are more than `count`' },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => countExperiments(store, request.principal, listFilter(request.query as Record<string, any>)),
  );

  api.get(
    '/experiments/changes',
    {
      schema: {
        operationId: 'watchExperiments',
        summary: 'Watch experiments change (SSE)',
        description:
          'A live server-sent event stream of the experiments you can see whose state changes: `event: experiment`, `data:` the ExperimentSummary. EventSource cannot send headers, so this stream also takes the token as `?access_token=`.',
        tags: ['experiments'],
        querystring: { type: 'object', properties: { access_token: { type: 'string' } } },
        response: {
          200: { description: 'The stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const stream = openEventStream(reply);
      // Notifications come per event; send an experiment only when its row changed, at most
      // every 250 ms, however many events its tasks write.
      const lastSent = new Map<string, string>();
      const pending = new Set<string>();
      let timer: NodeJS.Timeout | undefined;
      const flush = async () => {
        timer = undefined;
        const ids = [...pending];
        pending.clear();
        try {
          for (const summary of await getSummaries(store, request.principal, ids)) {
            const version = `${summary.state}@${new Date(summary.updatedAt).getTime()}@${summary.progress?.updatedAt ?? ''}`;
            if (lastSent.get(summary.id) === version) continue;
            lastSent.set(summary.id, version);
            stream.send({ type: 'experiment', data: summary });
          }
        } catch (error) {
          request.log.warn({ err: error }, 'experiment list stream read failed');
        }
      };
      const unsubscribe = events.subscribeAll((ids) => {
        for (const id of ids) pending.add(id);
        timer ??= setTimeout(() => void flush(), 250);
      });
      stream.onClose(() => {
        unsubscribe();
        clearTimeout(timer);
      });
    },
  );

  api.get<{ Params: { id: string } }>(
    '/experiments/:id',
    {
      schema: {
        operationId: 'getExperiment',
        summary: 'Get an experiment',
        description: 'One experiment with its inputs, settings, tasks (the DAG) and batch job.',
        tags: ['experiments'],
        params: idParams,
        response: { 200: ref('Experiment'), ...problemResponses },
      },
    },
    async (request) => getExperiment(store, request.principal, request.params.id),
  );

  api.patch<{ Params: { id: string }; Body: { notify?: ExperimentNotify | null; priority?: number } }>(
    '/experiments/:id',
    {
      schema: {
        operationId: 'updateExperiment',
        summary: "Change an experiment's notifications or priority",
        description:
          "Sets, in any state, the experiment's own choice of notifications (`notify`; null follows your defaults again; it applies to the events still to come) and your priority for it (`priority`: it reorders your own experiments waiting on its queue). Only the owner may: 403 for an admin's change to a user's experiment.",
        tags: ['experiments'],
        params: idParams,
        body: {
          type: 'object',
          minProperties: 1,
          additionalProperties: false,
          properties: { notify: notifyRequestSchema, priority: prioritySchema },
        },
        response: { 200: ref('Experiment'), ...problemResponses },
      },
    },
    async (request) => updateExperiment(store, request.principal, request.params.id, request.body),
  );

  api.delete<{ Params: { id: string } }>(
    '/experiments/:id',
    {
      schema: {
        operationId: 'deleteExperiment',
        summary: 'Delete a draft experiment',
        description:
          'Deletes an experiment that was never launched (state `created`); a launched one is kept as a record: cancel it instead.',
        tags: ['experiments'],
        params: idParams,
        response: { 204: { type: 'null', description: 'Deleted' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      await deleteDraft(store, request.principal, request.params.id);
      return reply.code(204).send();
    },
  );

  api.post<{ Params: { id: string } }>(
    '/experiments/:id/launch',
    {
      schema: {
        operationId: 'launchExperiment',
        summary: 'Launch a draft experiment',
        description: 'Launches an experiment created with `launch: false`.',
        tags: ['experiments'],
        params: idParams,
        response: { 200: ref('Experiment'), ...problemResponses },
      },
    },
    async (request) => launchExperiment(store, request.principal, request.params.id),
  );

  api.post<{ Params: { id: string } }>(
    '/experiments/:id/cancel',
    {
      schema: {
        operationId: 'cancelExperiment',
        summary: 'Cancel an experiment',
        description:
          'Cancels an experiment; its batch job is killed. 202: the experiment as it is now; it reaches `canceled` once the job is gone.',
        tags: ['experiments'],
        params: idParams,
        response: { 202: ref('Experiment'), ...problemResponses },
      },
    },
    async (request, reply) => reply.code(202).send(await cancelExperiment(store, request.principal, request.params.id)),
  );

  api.post<{ Params: { id: string } }>(
    '/experiments/:id/resume',
    {
      schema: {
        operationId: 'resumeExperiment',
        summary: 'Resume a failed experiment',
        description:
          'Runs a failed experiment again from the task that failed, keeping what completed (staged inputs, a completed job and its outputs); a job that failed runs again as a new job. The experiment starts its next `run`, goes back to `queued`, and its events continue with a `resumed` event. Its owner or an admin of its gateway; 409 when it is not failed.',
        tags: ['experiments'],
        params: idParams,
        response: { 200: ref('Experiment'), ...problemResponses },
      },
    },
    async (request) => resumeExperiment(store, request.principal, request.params.id),
  );

  api.post<{ Params: { id: string } }>(
    '/experiments/:id/clone',
    {
      schema: {
        operationId: 'cloneExperiment',
        summary: 'Clone an experiment',
        description:
          'Creates a new experiment from this one, with the inputs and settings in the body changed; `changedInputs` lists the inputs that differ.',
        tags: ['experiments'],
        params: idParams,
        headers: idempotencyKeyHeaders,
        body: cloneRequestSchema,
        response: { 201: ref('Experiment'), ...problemResponses, ...idempotencyResponses },
      },
    },
    async (request, reply) =>
      replyOnce(store, request, reply, async (db) => {
        const clone = await cloneExperiment(
          db,
          request.principal,
          request.params.id,
          (request.body ?? {}) as Partial<ExperimentRequest>,
          creating,
        );
        return { status: 201, body: clone, location: `/api/v1/experiments/${clone.id}` };
      }),
  );

  api.get<{ Params: { id: string } }>(
    '/experiments/:id/script',
    {
      schema: {
        operationId: 'getExperimentScript',
        summary: "Get an experiment's batch script",
        description: 'The exact batch script Drover submits (or submitted) to the scheduler for this experiment.',
        tags: ['experiments'],
        params: idParams,
        response: {
          200: { description: 'The script', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const experiment = await getExperiment(store, request.principal, request.params.id);
      const context = await loadRunContext(store, experiment.id);
      const submitTask = experiment.tasks.find((task) => task.kind === 'submit');
      const key =
        experiment.job?.submissionKey ??
        (submitTask ? submissionKey(experiment.id, submitTask.id, Math.max(1, submitTask.attempt)) : 'drover-draft');
      const handle = resources.open(context.resource);
      return reply
        .type('text/plain; charset=utf-8')
        .send(handle.scheduler.renderScript(buildJobSpec(context, key, appsDir)));
    },
  );

  api.get<{ Params: { id: string } }>(
    '/experiments/:id/events',
    {
      schema: {
        operationId: 'listExperimentEvents',
        summary: "List or stream an experiment's events",
        description:
          'Events of an experiment, gapless and numbered from 1. With `Accept: text/event-stream`, a live server-sent event stream, resumable with Last-Event-ID (and taking the token as `?access_token=`); once the experiment has ended and its last event is sent, the stream sends `event: end` (`data:` its final `state` and `lastEventId`) and closes.',
        tags: ['experiments'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            after: { type: 'integer', minimum: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            access_token: { type: 'string' },
          },
        },
        response: {
          200: {
            description:
              'The events after `after` (JSON), or a stream of them (`event:` entity, `id:` seq, `data:` the Event)',
            content: {
              'application/json': { schema: ref('EventList') },
              'text/event-stream': { schema: { type: 'string' } },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const query = request.query as { after?: number; limit?: number };
      const experiment = await getExperiment(store, request.principal, id);
      const lastEventId = request.headers['last-event-id'];
      let after = query.after ?? 0;
      if (lastEventId !== undefined) {
        after = Number(lastEventId);
        // Event numbers are the store's integers: anything larger is not one of ours.
        if (!Number.isInteger(after) || after < 0 || after > 2 ** 31 - 1)
          throw new ValidationError('Last-Event-ID must be an event number', [
            { field: 'Last-Event-ID', message: 'must be a whole number' },
          ]);
      }
      if (!String(request.headers.accept ?? '').includes('text/event-stream')) {
        return { items: await listEvents(store, id, after, query.limit ?? 1000) };
      }
      const stream = openEventStream(reply);
      // An ended experiment records nothing more: once its last event is sent, the stream ends
      // with `event: end`, so a client (the CLI's watch, a script) is not left waiting.
      const terminal = new Set<string>(terminalExperimentStates);
      let finalState: string | undefined = terminal.has(experiment.state) ? experiment.state : undefined;
      let sending = false;
      let again = false;
      const send = async () => {
        if (sending) {
          again = true;
          return;
        }
        sending = true;
        try {
          do {
            again = false;
            const batch = await listEvents(store, id, after, 500);
            for (const event of batch) {
              stream.send({ id: event.seq, type: event.entity, data: event });
              after = event.seq;
              // A resumed experiment moves on from an end (failed -> queued): only the last move counts.
              if (event.entity === 'experiment' && event.toState)
                finalState = terminal.has(event.toState) ? event.toState : undefined;
            }
            if (batch.length === 500) again = true;
          } while (again && !stream.closed);
          if (finalState && !stream.closed)
            stream.end({ type: 'end', data: { state: finalState, lastEventId: after } });
        } catch (error) {
          request.log.warn({ err: error }, 'event stream read failed');
        } finally {
          sending = false;
        }
      };
      // Progress is not an event (it changes every poll): it is sent as `event: progress`,
      // without an id, so Last-Event-ID still counts events alone.
      let progressSent: string | undefined;
      const sendProgress = async () => {
        try {
          const job = await latestJob(store, id);
          if (!job?.progress || job.progress.updatedAt === progressSent || stream.closed) return;
          progressSent = job.progress.updatedAt;
          stream.send({ type: 'progress', data: { jobId: job.id, progress: job.progress } });
        } catch (error) {
          request.log.warn({ err: error }, 'progress read failed');
        }
      };
      const unsubscribe = events.subscribe(id, () => void send());
      const unsubscribeProgress = events.subscribeProgress(id, () => void sendProgress());
      // A safety net for notifications missed while the LISTEN connection reconnects.
      const poll = setInterval(() => void send(), 5000);
      stream.onClose(() => {
        unsubscribe();
        unsubscribeProgress();
        clearInterval(poll);
      });
      await sendProgress();
      await send();
    },
  );
}
