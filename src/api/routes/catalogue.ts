/**
 * Catalogue routes: who am I, applications, resources, users. Read by users, written by admins.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  getApplication,
  getResource,
  listApplications,
  listResources,
  upsertApplication,
  upsertResource,
} from '../../catalogue/catalogue.ts';
import { createUser, getGateway, rotateUserToken, type Principal } from '../../catalogue/users.ts';
import { ForbiddenError, NotFoundError } from '../../domain/errors.ts';
import type { ResourceSpec, SshConfig } from '../../domain/resource.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { announceAdmissionChange } from '../../state/events.ts';
import { conflictResponse, problemResponses, ref } from '../schemas.ts';

const nameParams = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const;

/** Throws a 403 problem unless the caller is an admin of their gateway. */
export function requireAdmin(request: FastifyRequest): void {
  if (request.principal.role !== 'admin') throw new ForbiddenError('only a gateway admin may do this');
}

export function registerCatalogueRoutes(api: FastifyInstance, { store }: ApiDependencies): void {
  api.get(
    '/me',
    {
      schema: {
        operationId: 'getMe',
        summary: 'The signed-in user and their gateway',
        description:
          "Who the token belongs to (name, role, whether they are the platform operator) and their gateway's name and colours.",
        tags: ['catalogue'],
        response: { 200: ref('Me'), ...problemResponses },
      },
    },
    async (request) => {
      const gateway = await getGateway(store, request.principal.gatewayId);
      const { userId: id, name, role, operator } = request.principal;
      return { user: { id, name, role, operator }, gateway };
    },
  );

  api.get(
    '/applications',
    {
      schema: {
        operationId: 'listApplications',
        summary: 'List applications',
        description:
          "The applications of your gateway's catalogue, with their inputs, outputs and per-resource deployments.",
        tags: ['catalogue'],
        response: { 200: ref('ApplicationList'), ...problemResponses },
      },
    },
    async (request) => ({
      items: await listApplications(store, request.principal.gatewayId),
    }),
  );
  api.get<{ Params: { name: string } }>(
    '/applications/:name',
    {
      schema: {
        operationId: 'getApplication',
        summary: 'Get an application',
        description: 'One application of your gateway by name.',
        tags: ['catalogue'],
        params: nameParams,
        response: { 200: ref('Application'), ...problemResponses },
      },
    },
    async (request) => getApplication(store, request.principal.gatewayId, request.params.name),
  );
  api.post(
    '/applications',
    {
      schema: {
        operationId: 'upsertApplication',
        summary: 'Create or replace an application (admin)',
        description:
          'Stores the application under its name, replacing one with that name. The body is an Application; the server validates it and names each bad field in a 400.',
        tags: ['catalogue'],
        body: { type: 'object' },
        response: { 201: ref('Application'), ...problemResponses },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      return reply
        .code(201)
        .send(await upsertApplication(store, request.principal.gatewayId, request.body, request.principal));
    },
  );

  api.get(
    '/resources',
    {
      schema: {
        operationId: 'listResources',
        summary: 'List compute resources',
        description:
          "Your gateway's clusters and local runners with their queues. How Drover logs in (credential, host key) is shown to admins only, key and known_hosts paths to the platform operator only.",
        tags: ['catalogue'],
        response: { 200: ref('ResourceList'), ...problemResponses },
      },
    },
    async (request) => ({
      items: (await listResources(store, request.principal.gatewayId)).map((resource) =>
        visibleResource(resource, request.principal),
      ),
    }),
  );
  api.get<{ Params: { name: string } }>(
    '/resources/:name',
    {
      schema: {
        operationId: 'getResource',
        summary: 'Get a compute resource',
        description: 'One compute resource by name, shown as in the list.',
        tags: ['catalogue'],
        params: nameParams,
        response: { 200: ref('Resource'), ...problemResponses },
      },
    },
    async (request) =>
      visibleResource(await getResource(store, request.principal.gatewayId, request.params.name), request.principal),
  );
  api.post(
    '/resources',
    {
      schema: {
        operationId: 'upsertResource',
        summary: 'Create or replace a compute resource (admin)',
        description:
          'Stores the resource under its name, replacing one with that name. The body is a Resource; the server validates it and names each bad field in a 400.',
        tags: ['catalogue'],
        body: { type: 'object' },
        response: { 201: ref('Resource'), ...problemResponses },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const resource = await upsertResource(store, request.principal.gatewayId, request.body, request.principal);
      // Its queues' limits may have changed: experiments waiting there may start now.
      await announceAdmissionChange(store);
      return reply.code(201).send(resource);
    },
  );

  api.post(
    '/users',
    {
      schema: {
        operationId: 'createUser',
        summary: 'Create a user (admin)',
        description:
          "Creates a user in the admin's gateway. The user's API token is in the answer, once: Drover stores only its hash. 409 when the name is taken.",
        tags: ['catalogue'],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', pattern: '^[A-Za-z0-9._@-]{1,64}$' },
            role: { type: 'string', enum: ['user', 'admin'] },
          },
        },
        response: { 201: ref('NewUser'), ...problemResponses, ...conflictResponse },
      },
    },
    async (request, reply) => {
      requireAdmin(request);
      const body = request.body as { name: string; role?: 'user' | 'admin' };
      const user = await createUser(store, {
        gatewayId: request.principal.gatewayId,
        name: body.name,
        role: body.role ?? 'user',
      });
      return reply.code(201).send({ id: user.id, name: body.name, role: body.role ?? 'user', token: user.token });
    },
  );

  api.post<{ Params: { name: string } }>(
    '/users/:name/token',
    {
      schema: {
        operationId: 'rotateUserToken',
        summary: 'Issue a new token to a user',
        description:
          "Ends the user's old token and answers with a new one, once. Anyone may do it for themselves; admins for any user of their gateway (for others, another user's name is a 404).",
        tags: ['catalogue'],
        params: {
          type: 'object',
          properties: { name: { type: 'string', pattern: '^[A-Za-z0-9._@-]{1,64}$' } },
          required: ['name'],
        },
        response: { 201: ref('NewUser'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      // Someone else's name is a 404 for a plain user: whether that user exists is not theirs to learn.
      if (name !== request.principal.name && request.principal.role !== 'admin')
        throw new NotFoundError(`user ${JSON.stringify(name)}`);
      return reply
        .code(201)
        .send(await rotateUserToken(store, request.principal.gatewayId, name, request.principal.operator));
    },
  );
}

/**
 * Users see where a resource is and its queues; how Drover logs in (credential name, host
 * key) is for admins; files on the Drover host (key and known_hosts paths) for the platform operator.
 */
function visibleResource({ gatewayId: _gatewayId, ...resource }: ResourceSpec, principal: Principal): ResourceSpec {
  const ssh = resource.config.ssh;
  if (!ssh || principal.operator) return resource;
  if (principal.role === 'admin') {
    const { privateKeyPath: _key, knownHostsPath: _knownHosts, ...shown } = ssh;
    return { ...resource, config: { ...resource.config, ssh: shown } };
  }
  const { host, port, user } = ssh;
  return { ...resource, config: { ...resource.config, ssh: { host, port, user } as SshConfig } };
}
