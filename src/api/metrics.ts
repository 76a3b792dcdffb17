/**
 * Prometheus `/metrics`: on the API address behind a bearer token, and optionally on an
 * address of its own without one (for a scraper on a private network).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { sendProblem } from './problem.ts';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Adds `GET /metrics` to the API: it answers only `Authorization: Bearer <token>`
 * (compared in constant time); with no token configured, always 401.
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Registry, token: string | null): void {
  const expected = token === null ? null : digest(token);
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (!expected || !given || !timingSafeEqual(digest(given), expected)) {
      return sendProblem(reply.header('www-authenticate', 'Bearer'), {
        type: 'urn:drover:problem:unauthorized',
        title: 'Unauthorized',
        status: 401,
        detail: expected
          ? 'send the metrics token (metrics.token, or the bootstrap admin token) as "Authorization: Bearer <token>"'
          : 'no metrics token is configured: set metrics.token, or metrics.listen to serve /metrics on its own address',
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
