/**
 * Parameter sweep routes: create (a sweep and its experiments in one transaction), list,
 * show (elements, counts per state), cancel all, clone with changes, resubmit the failed
 * elements. The sweep's `vary` and `combine` are checked in domain/sweep.ts (zod), each
 * element as an experiment.
 */
import type { FastifyInstance } from 'fastify';
import { maxSweepElements, maxVariedInputs, sweepCombinations } from '../../domain/sweep.ts';
import {
  cancelSweep,
  cloneSweep,
  createSweep,
  launchSweep,
  resubmitFailed,
  type SweepCloneRequest,
  type SweepRequest,
} from '../../experiments/sweep-commands.ts';
import { getSweep, listSweeps } from '../../experiments/sweep-queries.ts';
import type { ApiDependencies } from '../dependencies.ts';
import type { ResourceSpec } from '../../domain/resource.ts';
import { idempotencyKeyHeaders, idempotencyResponses, problemResponses, ref } from '../schemas.ts';
import { replyOnce } from '../idempotency.ts';
import { settingsProperties } from './experiments.ts';

const idParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;

const sweepProperties = {
  ...settingsProperties,
  inputs: { type: 'object', additionalProperties: true, description: 'The inputs every element shares' },
  vary: {
    type: 'object',
    additionalProperties: { $ref: 'Variation#' },
    description: `Per input name, \`{ "values": [...] }\` or \`{ "range": { "from", "to", "step" } }\`; 1 to ${maxVariedInputs} inputs, at most ${maxSweepElements} elements in all`,
  },
  combine: {
    type: 'string',
    enum: [...sweepCombinations],
    description: '`product` (default): every combination; `zip`: the i-th value of each together (equal lengths)',
  },
} as const;

export function registerSweepRoutes(api: FastifyInstance, deps: ApiDependencies): void {
  const { store, resources } = deps;
  // Elements of a sweep on resource `auto` go where each is expected to start first, as experiments do.
  const creating = { openScheduler: (resource: ResourceSpec) => resources.open(resource).scheduler };

  api.post(
    '/sweeps',
    {
      schema: {
        operationId: 'createSweep',
        summary: 'Create a parameter sweep',
        description: `Creates a sweep and its experiments (elements) in one transaction: all of them, or none. Each element is an experiment of \`application\` on \`resource\` with \`inputs\` and one combination of the \`vary\` values; it is validated as \`POST /experiments\` validates one (a bad element is named \`elements.<index>.<field>\`), launched unless \`launch\` is false, and waits under the queue's limits like any launch. At most ${maxSweepElements} elements.`,
        tags: ['sweeps'],
        headers: idempotencyKeyHeaders,
        body: {
          type: 'object',
          required: ['application', 'resource', 'vary'],
          additionalProperties: false,
          properties: {
            application: { type: 'string', minLength: 1 },
            resource: { type: 'string', minLength: 1 },
            ...sweepProperties,
          },
        },
        response: { 201: ref('Sweep'), ...problemResponses, ...idempotencyResponses },
      },
    },
    async (request, reply) =>
      replyOnce(store, request, reply, async (db) => {
        const sweep = await createSweep(db, request.principal, request.body as SweepRequest, null, creating);
        return { status: 201, body: sweep, location: `/api/v1/sweeps/${sweep.id}` };
      }),
  );

  api.get(
    '/sweeps',
    {
      schema: {
        operationId: 'listSweeps',
        summary: 'List sweeps',
        description:
          'Your sweeps (all of the gateway for admins), newest first, with counts of their elements per state; pass `nextCursor` as `cursor` for the next page.',
        tags: ['sweeps'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            application: { type: 'string' },
            cursor: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 200 },
          },
        },
        response: { 200: ref('SweepPage'), ...problemResponses },
      },
    },
    async (request) => listSweeps(store, request.principal, request.query as Record<string, any>),
  );

  api.get<{ Params: { id: string } }>(
    '/sweeps/:id',
    {
      schema: {
        operationId: 'getSweep',
        summary: 'Get a sweep',
        description:
          'A sweep with its elements in index order: the varied inputs of each and its newest experiment (state, progress, headline values), older ones at the same index (resubmitted) as history, and counts per state.',
        tags: ['sweeps'],
        params: idParams,
        response: { 200: ref('Sweep'), ...problemResponses },
      },
    },
    async (request) => getSweep(store, request.principal, request.params.id),
  );

  api.post<{ Params: { id: string } }>(
    '/sweeps/:id/launch',
    {
      schema: {
        operationId: 'launchSweep',
        summary: "Launch a sweep's drafts",
        description:
          "Launches every element created with `launch: false`, in one transaction; each then starts, or waits under its queue's limits, as a launched experiment does. 200: how many were launched (0 when none was a draft) and the sweep.",
        tags: ['sweeps'],
        params: idParams,
        response: { 200: ref('SweepAction'), ...problemResponses },
      },
    },
    async (request) => {
      const { sweep, launched } = await launchSweep(store, request.principal, request.params.id);
      return { count: launched, sweep };
    },
  );

  api.post<{ Params: { id: string } }>(
    '/sweeps/:id/cancel',
    {
      schema: {
        operationId: 'cancelSweep',
        summary: "Cancel a sweep's elements",
        description:
          'Cancels every unfinished element; their jobs are killed and each reaches `canceled` as a canceled experiment does. 202: how many were canceled and the sweep as it is now.',
        tags: ['sweeps'],
        params: idParams,
        response: { 202: ref('SweepAction'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { sweep, canceled } = await cancelSweep(store, request.principal, request.params.id);
      return reply.code(202).send({ count: canceled, sweep });
    },
  );

  api.post<{ Params: { id: string } }>(
    '/sweeps/:id/clone',
    {
      schema: {
        operationId: 'cloneSweep',
        summary: 'Clone a sweep with changes',
        description:
          "Creates a new sweep from this one (its `parentId`) with the changes in the body: `inputs` merged over the fixed inputs, each `vary` entry replacing this sweep's (null: no longer varied), the other fields as given.",
        tags: ['sweeps'],
        params: idParams,
        headers: idempotencyKeyHeaders,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            resource: { type: 'string', minLength: 1 },
            ...sweepProperties,
            vary: {
              type: 'object',
              additionalProperties: { anyOf: [{ $ref: 'Variation#' }, { type: 'null' }] },
              description: 'Replaces these inputs’ variations; null stops varying one',
            },
          },
        },
        response: { 201: ref('Sweep'), ...problemResponses, ...idempotencyResponses },
      },
    },
    async (request, reply) =>
      replyOnce(store, request, reply, async (db) => {
        const sweep = await cloneSweep(
          db,
          request.principal,
          request.params.id,
          (request.body ?? {}) as SweepCloneRequest,
          creating,
        );
        return { status: 201, body: sweep, location: `/api/v1/sweeps/${sweep.id}` };
      }),
  );

  api.post<{ Params: { id: string } }>(
    '/sweeps/:id/resubmit-failed',
    {
      schema: {
        operationId: 'resubmitFailedSweepElements',
        summary: "Resubmit a sweep's failed elements",
        description:
          "For each element whose newest experiment failed, creates and launches a new experiment cloned from it, in the sweep at the same index; the failed one stays visible in the element's `previous`. Only the sweep's owner may (403 for others). 201: how many were resubmitted (0 when none had failed) and the sweep.",
        tags: ['sweeps'],
        params: idParams,
        response: { 201: ref('SweepAction'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { sweep, resubmitted } = await resubmitFailed(store, request.principal, request.params.id);
      return reply.code(201).send({ count: resubmitted, sweep });
    },
  );
}
