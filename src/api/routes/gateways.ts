/**
 * Gateway routes for the platform operator: create a gateway (with its first admin), list
 * them, disable and enable one. One API serves every gateway; a token says which.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createGateway, listGateways, setGatewayDisabled } from '../../catalogue/users.ts';
import { ForbiddenError, ValidationError } from '../../domain/errors.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { conflictResponse, problemResponses, ref } from '../schemas.ts';

/** Throws a 403 problem unless the caller is the platform operator; `what` ends the message. */
export function requireOperator(request: FastifyRequest, what = 'manage gateways'): void {
  if (!request.principal.operator)
    throw new ForbiddenError(`only the platform operator (the bootstrap token) may ${what}`);
}

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
  required: ['id'],
} as const;

const themeColour = { type: 'string', description: '#rgb or #rrggbb' } as const;

export function registerGatewayRoutes(
  api: FastifyInstance,
  { store, gatewayId: bootstrapGatewayId }: ApiDependencies,
): void {
  api.get(
    '/gateways',
    {
      schema: {
        operationId: 'listGateways',
        summary: 'List gateways (platform operator)',
        description: 'Every gateway on this Drover, disabled ones included.',
        tags: ['gateways'],
        response: { 200: ref('GatewayList'), ...problemResponses },
      },
    },
    async (request) => {
      requireOperator(request);
      return { items: await listGateways(store) };
    },
  );

  api.post(
    '/gateways',
    {
      schema: {
        operationId: 'createGateway',
        summary: 'Create a gateway (platform operator)',
        description:
          "Creates a gateway and its first admin. The admin's API token is in the answer, once. 409 when the id is taken.",
        tags: ['gateways'],
        body: {
          type: 'object',
          required: ['id', 'name'],
          properties: {
            id: {
              type: 'string',
              description: 'lower-case letters, digits and dashes; used in sign-in links: /?gateway=<id>',
            },
            name: { type: 'string' },
            theme: {
              type: 'object',
              properties: { primary: themeColour, accent: themeColour, background: themeColour, text: themeColour },
            },
            admin: { type: 'string', description: "The first admin's user name (default admin)" },
          },
        },
        response: { 201: ref('NewGateway'), ...problemResponses, ...conflictResponse },
      },
    },
    async (request, reply) => {
      requireOperator(request);
      return reply.code(201).send(await store.transaction((tx) => createGateway(tx, request.body)));
    },
  );

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    api.post<{ Params: { id: string } }>(
      `/gateways/:id/${action}`,
      {
        schema: {
          operationId: disabled ? 'disableGateway' : 'enableGateway',
          summary: disabled ? 'Disable a gateway (platform operator)' : 'Enable a gateway again (platform operator)',
          description: disabled
            ? "Its users' tokens are refused until it is enabled again; its data is kept. The bootstrap gateway cannot be disabled."
            : 'Its users can sign in with their tokens again.',
          tags: ['gateways'],
          params: idParams,
          response: { 200: ref('GatewayListing'), ...problemResponses },
        },
      },
      async (request) => {
        requireOperator(request);
        const { id } = request.params;
        if (disabled && id === bootstrapGatewayId) {
          throw new ValidationError('the bootstrap gateway holds the platform operator and cannot be disabled', [
            { field: 'id', message: 'is the bootstrap gateway' },
          ]);
        }
        return setGatewayDisabled(store, id, disabled);
      },
    );
  }
}
