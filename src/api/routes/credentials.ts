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
        operationId: 'listCredentials',
        summary: 'List SSH credentials (admin)',
        description: "The gateway's stored SSH keys, public halves only: the private key never leaves Drover.",
        tags: ['credentials'],
        response: { 200: ref('CredentialList'), ...problemResponses },
      },
    },
    async (request) => {
      requireAdmin(request);
      return { items: await listCredentials(store, request.principal.gatewayId) };
    },
  );

  api.get<{ Params: { name: string } }>(
    '/credentials/:name',
    {
      schema: {
        operationId: 'getCredential',
        summary: 'Get an SSH credential (admin)',
        description: 'One stored SSH key by name, with the public key to install on the cluster.',
        tags: ['credentials'],
        params: nameParams,
        response: { 200: ref('Credential'), ...problemResponses },
      },
    },
    async (request) => {
      requireAdmin(request);
      return getCredential(store, request.principal.gatewayId, request.params.name);
    },
  );

  api.post(
    '/credentials',
    {
      schema: {
        operationId: 'createCredential',
        summary: 'Store or generate an SSH credential (admin)',
        description:
          'Stores an SSH private key (encrypted), or with privateKey left out has Drover generate an ed25519 key. Answers with the public key to install in the cluster account. 409 when the name is taken.',
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

  api.delete<{ Params: { name: string } }>(
    '/credentials/:name',
    {
      schema: {
        operationId: 'deleteCredential',
        summary: 'Delete an SSH credential (admin)',
        description: 'Deletes a stored SSH key. 409 while a resource still logs in with it.',
        tags: ['credentials'],
        params: nameParams,
        response: { 204: { type: 'null', description: 'Deleted' }, ...problemResponses, ...conflictResponse },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      await deleteCredential(store, request.principal.gatewayId, request.params.name);
      return reply.code(204).send();
    },
  );
}
