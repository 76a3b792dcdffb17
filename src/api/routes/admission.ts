/**
 * Admission settings a gateway admin changes: a user's fair-share weight. The limits live
 * in the resource's queues (`maxJobsPerUser`, `maxActiveJobs`, `maxActiveCores`); an
 * experiment's own priority is set with PATCH /experiments/{id}.
 */
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../domain/errors.ts';
import { setShareWeight } from '../../state/admission-state.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { problemResponses } from '../schemas.ts';
import { requireAdmin } from './catalogue.ts';

export function registerAdmissionRoutes(api: FastifyInstance, { store }: ApiDependencies): void {
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
