/**
 * Prometheus `/metrics`: on the API address behind a bearer token, and optionally on an
 * address of its own without one (for a scraper on a private network).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Queryable } from '../store/port.ts';
import { authenticate } from '../catalogue/users.ts';
import { sendProblem } from './problem.ts';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Adds `GET /metrics` to the API: it answers only `Authorization: Bearer <token>`, where the
 * token is `token` (compared in constant time) or, when `token` is null, the platform
 * operator's (looked up in the store, so every API process of a deployment takes it).
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Registry, token: string | null, store: Queryable): void {
  const expected = token === null ? null : digest(token);
  const allowed = async (given: string) =>
    expected ? timingSafeEqual(digest(given), expected) : (await authenticate(store, given).catch(() => null))?.operator === true;
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (!given || !(await allowed(given))) {
      return sendProblem(reply.header('www-authenticate', 'Bearer'), {
        type: 'urn:drover:problem:unauthorized',
        title: 'Unauthorized',
        status: 401,
        detail: expected
          ? 'send the metrics token (metrics.token) as "Authorization: Bearer <token>"'
          : "send the platform operator's token (or set metrics.token) as \"Authorization: Bearer <token>\"",
      });
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });
}

/**
 * Serves `GET /metrics` alone, without a token, on `listen` ("host:port"). Returns the
 * listening server; close it on stop.
 */
export async function listenForMetrics(metrics: Registry, listen: string): Promise<{ url: string; close(): Promise<void> }> {
  const separator = listen.lastIndexOf(':');
  const host = listen.slice(0, separator).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(separator + 1));
  const server: FastifyInstance = Fastify();
  server.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  server.setNotFoundHandler((request, reply) =>
    sendProblem(reply, { type: 'urn:drover:problem:not-found', title: 'Not Found', status: 404, detail: `this address serves only GET /metrics, not ${request.method} ${request.url.split('?')[0]}` }),
  );
  const url = await server.listen({ host, port });
  return { url, close: () => server.close() };
}
