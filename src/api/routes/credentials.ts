/**
 * Credential routes (admins of a gateway): store an SSH private key or have Drover make
 * one, list them, delete one. The private key never leaves Drover: answers carry the
 * public key to install on the cluster.
 */
import type { FastifyInstance } from 'fastify';
import { createCredential, deleteCredential, getCredential, listCredentials } from '../../credentials/credentials.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { conflictResponse, problemResponses, ref } from '../schemas.ts';
import { requireAdmin } from './catalogue.ts';

const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' } },
  required: ['name'],
} as const;

export function registerCredentialRoutes(api: FastifyInstance, { store, platformKey }: ApiDependencies): void {
  api.get(
    '/credentials',
    {
      schema: {
        summary: "List the gateway's stored SSH credentials (admin); public keys only",
        tags: ['credentials'],
        response: { 200: ref('CredentialList'), ...problemResponses },
      },
    },
    async (request) => {
      requireAdmin(request);
      return { items: await listCredentials(store, request.principal.gatewayId) };
    },
  );

  api.get(
    '/credentials/:name',
    {
      schema: {
        summary: 'Get a stored SSH credential (admin): its public key',
        tags: ['credentials'],
        params: nameParams,
        response: { 200: ref('Credential'), ...problemResponses },
      },
    },
    async (request) => {
      requireAdmin(request);
      return getCredential(store, request.principal.gatewayId, (request.params as { name: string }).name);
    },
  );

  api.post(
    '/credentials',
    {
      schema: {
        summary:
          'Store an SSH private key, or leave privateKey out to have Drover generate an ed25519 key (admin); answers with the public key',
        tags: ['credentials'],
        body: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', description: 'How resources refer to it: config.ssh.credential' },
            privateKey: {
              type: 'string',
              description: 'An unencrypted OpenSSH or PEM private key; stored encrypted, never returned',
            },
          },
        },
        response: { 201: ref('Credential'), ...problemResponses, ...conflictResponse },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      return reply
        .code(201)
        .send(await createCredential(store, platformKey, request.principal.gatewayId, request.body));
    },
  );

  api.delete(
    '/credentials/:name',
    {
      schema: {
        summary: 'Delete a stored SSH credential no resource uses (admin)',
        tags: ['credentials'],
        params: nameParams,
        response: { 204: { type: 'null', description: 'Deleted' }, ...problemResponses, ...conflictResponse },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      await deleteCredential(store, request.principal.gatewayId, (request.params as { name: string }).name);
      return reply.code(204).send();
    },
  );
}
