/**
 * Your API tokens, for scripts and the CLI: list them (name, created, last used), create one
 * (answered once), revoke one. Everyone manages only their own, admins included.
 */
import type { FastifyInstance } from 'fastify';
import { createApiToken, listApiTokens, revokeApiToken } from '../../catalogue/api-tokens.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { conflictResponse, problemResponses, ref } from '../schemas.ts';

/** Registers GET/POST /me/tokens and DELETE /me/tokens/{id} on the /api/v1 scope (the caller is signed in). */
export function registerApiTokenRoutes(api: FastifyInstance, { store }: ApiDependencies): void {
  api.get(
    '/me/tokens',
    {
      schema: {
        operationId: 'listApiTokens',
        summary: 'Your API tokens',
        description:
          'Your tokens, newest first, with when each was created and last used (to the minute); never the tokens themselves. `default` is the one an admin issued.',
        tags: ['sign-in'],
        response: { 200: ref('ApiTokenList'), ...problemResponses },
      },
    },
    async (request) => ({ items: await listApiTokens(store, request.principal.userId) }),
  );

  api.post(
    '/me/tokens',
    {
      schema: {
        operationId: 'createApiToken',
        summary: 'Create an API token',
        description:
          'Makes a named token for scripts and the CLI (`DROVER_TOKEN`, `Authorization: Bearer`). The token is in the answer, once: Drover keeps only its hash. 409 when you have a token of that name.',
        tags: ['sign-in'],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', description: 'What the token is for, e.g. "laptop CLI" (up to 64 characters)' },
          },
        },
        response: { 201: ref('NewApiToken'), ...problemResponses, ...conflictResponse },
      },
    },
    async (request, reply) => reply.code(201).send(await createApiToken(store, request.principal.userId, request.body)),
  );

  api.delete<{ Params: { id: string } }>(
    '/me/tokens/:id',
    {
      schema: {
        operationId: 'revokeApiToken',
        summary: 'Revoke an API token',
        description: 'Requests with the token are refused from now on. 404 when it is not one of yours.',
        tags: ['sign-in'],
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        response: { 204: { type: 'null', description: 'Revoked' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      await revokeApiToken(store, request.principal.userId, request.params.id);
      return reply.code(204).send();
    },
  );
}
