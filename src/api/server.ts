/**
 * The HTTP API: REST under /api/v1 with an OpenAPI 3.1 document, server-sent events,
 * health and Prometheus metrics. Every /api/v1 call needs a bearer token.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hkdfSync } from 'node:crypto';
import cookie from '@fastify/cookie';
import { getGateway, type Principal } from '../catalogue/users.ts';
import { createAuthenticationHook } from './authentication.ts';
import { registerSessionRoutes, registerSignInRoutes } from './routes/sign-in.ts';
import { registerApiTokenRoutes } from './routes/api-tokens.ts';
import type { ApiDependencies } from './dependencies.ts';
import { handleError, sendProblem } from './problem.ts';
import { createEventBus } from './event-bus.ts';
import { registerCatalogueRoutes } from './routes/catalogue.ts';
import { registerExperimentRoutes } from './routes/experiments.ts';
import { registerFileRoutes } from './routes/files.ts';
import { registerGatewayRoutes } from './routes/gateways.ts';
import { registerCredentialRoutes } from './routes/credentials.ts';
import { registerNotificationRoutes } from './routes/notifications.ts';
import { registerAdmissionRoutes } from './routes/admission.ts';
import { registerSweepRoutes } from './routes/sweeps.ts';
import { registerWorkerRoutes } from './routes/workers.ts';
import { apiTags, problemResponses, ref, responseSchemas } from './schemas.ts';
import {
  apiReferencePolicy,
  handleClientError,
  handleFrameworkError,
  registerHardening,
  requestLogSerializers,
} from './hardening.ts';
import { measureHttpRequests, registerMetricsRoute } from './metrics.ts';
import { endEventStreams } from './sse.ts';

/** Builds the API server (not yet listening). */
export async function buildApi(deps: ApiDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    // Fastify logs every request at info; keep those for debug-level runs only.
    loggerInstance: deps.logger.child(
      { role: 'api' },
      { level: deps.logger.isLevelEnabled('debug') ? deps.logger.level : 'warn', serializers: requestLogSerializers },
    ) as any,
    bodyLimit: deps.bodyLimitBytes,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: true } },
    frameworkErrors: handleFrameworkError,
    clientErrorHandler: handleClientError,
  });
  await registerHardening(app, deps.limits);
  // Signs the short-lived sign-in cookie; derived from the platform key, so every API
  // process that shares the key accepts what another one set.
  await app.register(cookie, {
    secret: Buffer.from(hkdfSync('sha256', deps.platformKey, Buffer.alloc(0), 'drover sign-in cookie', 32)),
  });
  for (const schema of responseSchemas) app.addSchema(schema);
  // Response schemas document the API (and type its clients); they must never drop a
  // field that a schema forgot, so answers are serialized as they are.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(swagger, {
    // Name the shared schemas after their $id (components.schemas.Experiment ...).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, index) => String(json.$id ?? `def-${index}`) },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Drover API',
        version: '1',
        description:
          'Run scientific applications on compute resources for a science gateway. Every call but the sign-in branding and methods needs an API token as `Authorization: Bearer <token>`, or the browser session cookie of a sign-in (with `X-CSRF-Token` on calls that change something); errors are RFC 9457 problem+json. Browse this reference at /api/v1/docs.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the paths already start with /api/v1, and the host is wherever this Drover runs.
      servers: [{ url: '/', description: 'The Drover that serves this document' }],
      tags: apiTags,
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API token: one you made (POST /api/v1/me/tokens), the bootstrap token, or one from POST /api/v1/users or /users/{name}/token',
          },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: 'drover_session',
            description:
              "The browser session cookie set by signing in (GET /auth/{gateway}/login). A request that changes something must also send the drover_csrf cookie's value as X-CSRF-Token.",
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
  // The API reference, from local files (no CDN): Swagger UI over the document above.
  await app.register(swaggerUi, {
    routePrefix: '/api/v1/docs',
    uiConfig: { validatorUrl: null, deepLinking: true, displayOperationId: true },
    transformStaticCSP: apiReferencePolicy,
  });
  app.setErrorHandler(handleError);
  const webBuilt = existsSync(join(deps.webDir, 'index.html'));
  // wildcard: files are looked up per request, so a rebuilt UI is served without a restart.
  if (webBuilt) await app.register(fastifyStatic, { root: deps.webDir, wildcard: true, index: 'index.html' });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    // The UI routes its own pages (/experiments/<id> ...): a browser asking for one gets the app.
    const page =
      request.method === 'GET' &&
      !path.startsWith('/api/') &&
      String(request.headers.accept ?? '').includes('text/html');
    if (page && webBuilt) return reply.type('text/html; charset=utf-8').sendFile('index.html');
    if (page)
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The web UI is not built: run `npm run build` (npm install does it too).\n');
    return sendProblem(reply, {
      type: 'urn:drover:problem:not-found',
      title: 'Not Found',
      status: 404,
      detail: `no route ${request.method} ${path}`,
    });
  });

  const observeRequest = measureHttpRequests(deps.metrics);
  app.addHook('onResponse', async (request, reply) => {
    observeRequest(
      { method: request.method, route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    try {
      await deps.store.query('select 1');
      return { status: 'ready' };
    } catch {
      return sendProblem(reply, {
        type: 'urn:drover:problem:not-ready',
        title: 'Service Unavailable',
        status: 503,
        detail: 'the store is unreachable',
      });
    }
  });
  registerMetricsRoute(app, deps.metrics, deps.metricsToken, deps.store);
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/api/v1/gateway',
    {
      schema: {
        operationId: 'getGatewayBranding',
        summary: "A gateway's name and colours",
        description:
          "For the gateway's sign-in page, so no token is needed: `?gateway=<id>`, else the bootstrap gateway.",
        tags: ['catalogue'],
        security: [],
        querystring: {
          type: 'object',
          properties: { gateway: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
        },
        response: { 200: ref('Gateway'), ...problemResponses },
      },
    },
    async (request) => getGateway(deps.store, (request.query as { gateway?: string }).gateway || deps.gatewayId),
  );

  registerSignInRoutes(app, deps);

  const events = await createEventBus(deps.store);
  app.addHook('preClose', async () => endEventStreams(app));
  app.addHook('onClose', async () => events.close());

  await app.register(
    async (api) => {
      api.decorateRequest('principal', null as unknown as Principal);
      api.decorateRequest('sessionId', null);
      api.addHook(
        'onRequest',
        createAuthenticationHook({ store: deps.store, lifetimes: deps.signIn.lifetimes, publicUrl: deps.publicUrl }),
      );
      registerCatalogueRoutes(api, deps);
      registerExperimentRoutes(api, { ...deps, events });
      registerFileRoutes(api, deps);
      registerGatewayRoutes(api, deps);
      registerCredentialRoutes(api, deps);
      registerNotificationRoutes(api, deps);
      registerAdmissionRoutes(api, deps);
      registerSweepRoutes(api, deps);
      registerWorkerRoutes(api, deps);
      registerSessionRoutes(api, deps);
      registerApiTokenRoutes(api, deps);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
