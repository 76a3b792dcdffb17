/**
 * Admission settings: a user's fair-share weight (their gateway's admin) and a gateway's
 * caps on all its resources (the platform operator). The queue limits live in the
 * resource's queues (`maxJobsPerUser`, `maxActiveJobs`, `maxActiveCores`); an experiment's
 * own priority is set with PATCH /experiments/{id}.
 */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../domain/errors.ts';
import { getGatewayCaps, setGatewayCaps, setShareWeight } from '../../state/admission-state.ts';
import type { GatewayCaps } from '../../domain/admission.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { problemResponses } from '../schemas.ts';
import { requireAdmin } from './catalogue.ts';
import { requireOperator } from './gateways.ts';

const capsSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    "A gateway's caps on all its resources together; a cap left out is none. Launches beyond them wait queued (README, When experiments start)",
  properties: {
    maxActiveExperiments: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000_000,
      description: 'Active experiments of all its users at once',
    },
    maxActiveCores: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000_000,
      description: 'Cores (nodes x cores per node) in use at once',
    },
  },
} as const;

const gatewayParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
  required: ['id'],
} as const;

export function registerAdmissionRoutes(api: FastifyInstance, { store }: ApiDependencies): void {
  api.get<{ Params: { id: string } }>(
    '/gateways/:id/limits',
    {
      schema: {
        operationId: 'getGatewayLimits',
        summary: "A gateway's caps (platform operator)",
        description:
          'The caps of a gateway on all its resources together: active experiments and cores in use (set with PUT). 404 when there is no such gateway.',
        tags: ['gateways'],
        params: gatewayParams,
        response: { 200: capsSchema, ...problemResponses },
      },
    },
    async (request) => {
      requireOperator(request);
      const caps = await getGatewayCaps(store, request.params.id);
      if (!caps) throw new NotFoundError(`gateway ${JSON.stringify(request.params.id)}`);
      return caps;
    },
  );

  api.put<{ Params: { id: string }; Body: GatewayCaps }>(
    '/gateways/:id/limits',
    {
      schema: {
        operationId: 'setGatewayLimits',
        summary: "Set a gateway's caps (platform operator)",
        description:
          'Caps a gateway on all its resources together: active experiments and cores in use. Replaces the caps it had ({} removes them). Launches beyond them wait queued and start in fair-share order; nothing is refused or stopped.',
        tags: ['gateways'],
        params: gatewayParams,
        body: capsSchema,
        response: { 200: capsSchema, ...problemResponses },
      },
    },
    async (request) => {
      requireOperator(request);
      const caps = await setGatewayCaps(store, request.params.id, request.body);
      if (!caps) throw new NotFoundError(`gateway ${JSON.stringify(request.params.id)}`);
      return caps;
    },
  );

  api.put<{ Params: { name: string }; Body: { weight: number } }>(
    '/users/:name/share',
    {
      schema: {
        operationId: 'setUserShare',
        summary: "Set a user's fair-share weight (admin)",
        description:
          "A user's weight in fair share among the gateway's users waiting for the same queue: 2 gives about twice the starts of a user of weight 1 (default 1). Past usage lowers a user's turn whatever the weight (README, When experiments start).",
        tags: ['catalogue'],
        params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        body: {
          type: 'object',
          required: ['weight'],
          additionalProperties: false,
          properties: { weight: { type: 'number', minimum: 0.01, maximum: 1000 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['name', 'weight'],
            properties: { name: { type: 'string' }, weight: { type: 'number' } },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      requireAdmin(request);
      const { name } = request.params;
      if (!(await setShareWeight(store, request.principal.gatewayId, name, request.body.weight))) {
        throw new NotFoundError(`user ${JSON.stringify(name)}`);
      }
      return { name, weight: request.body.weight };
    },
  );
}
