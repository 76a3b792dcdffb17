/**
 * Prometheus metrics: every metric Drover defines, by name, and `/metrics`, served on the
 * API address behind a bearer token and optionally on an address of its own without one
 * (for a scraper on a private network). Each process has one registry; the composition
 * root (main.ts) defines the metrics of the roles it runs and hands each role the callback
 * that feeds them, so no role imports prom-client.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queryable } from '../store/port.ts';
import type { ResourceCommand } from '../resources/resource-registry.ts';
import { authenticate } from '../catalogue/users.ts';
import { sendProblem } from './problem.ts';

/** A process's registry, with Node's default process metrics (memory, event loop lag, ...). */
export function createMetricsRegistry(): Registry {
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  return metrics;
}

/**
 * `drover_resource_commands_total{resource, program, outcome}`: commands run on resources
 * (login nodes), `outcome` ok, nonzero or unreachable. Returns the resource registry's `onCommand`.
 */
export function countResourceCommands(metrics: Registry): (command: ResourceCommand) => void {
  const commands = new Counter({
    name: 'drover_resource_commands_total',
    help: 'Commands run on resources (login nodes) by program and outcome',
    labelNames: ['resource', 'program', 'outcome'],
    registers: [metrics],
  });
  return ({ resource, program, code }) =>
    commands.inc({ resource, program, outcome: code === null ? 'unreachable' : code === 0 ? 'ok' : 'nonzero' });
}

/**
 * `drover_tasks_reported_total` and `drover_tasks_claimed_total`: a worker's task outcomes
 * and claims. Returns the worker's `onExchange`; defined only in processes that run a worker.
 */
export function countWorkerExchanges(metrics: Registry): (reported: number, claimed: number) => void {
  const tasksReported = new Counter({
    name: 'drover_tasks_reported_total',
    help: 'Task outcomes reported by this worker',
    registers: [metrics],
  });
  const tasksClaimed = new Counter({
    name: 'drover_tasks_claimed_total',
    help: 'Tasks claimed by this worker',
    registers: [metrics],
  });
  return (reported, claimed) => {
    tasksReported.inc(reported);
    tasksClaimed.inc(claimed);
  };
}

/**
 * `drover_scheduler_polls_total{resource}` and the histogram `drover_scheduler_poll_jobs{resource}`:
 * the controller's scheduler polls and the active jobs each covered (the monitor's cost is
 * one poll per resource whatever the number of jobs). Returns the controller's `onSchedulerPoll`.
 */
export function measureSchedulerPolls(metrics: Registry): (resource: string, jobs: number) => void {
  const polls = new Counter({
    name: 'drover_scheduler_polls_total',
    help: 'Scheduler poll calls by resource',
    labelNames: ['resource'],
    registers: [metrics],
  });
  const pollJobs = new Histogram({
    name: 'drover_scheduler_poll_jobs',
    help: 'Active jobs covered by one scheduler poll, by resource',
    labelNames: ['resource'],
    buckets: [1, 10, 100, 1000, 10000],
    registers: [metrics],
  });
  return (resource, jobs) => {
    polls.inc({ resource });
    pollJobs.observe({ resource }, jobs);
  };
}

/**
 * `drover_admission_pass_seconds` (a histogram: its `_count` is the passes run) and the gauge
 * `drover_admission_waiting`: the controller's admission passes, which run when the line
 * may have changed, and how many experiments the last one left waiting. Returns the
 * controller's `onAdmissionPass`.
 */
export function measureAdmissionPasses(metrics: Registry): (pass: { waiting: number; durationMs: number }) => void {
  const duration = new Histogram({
    name: 'drover_admission_pass_seconds',
    help: 'Duration of the controller admission passes',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });
  const waiting = new Gauge({
    name: 'drover_admission_waiting',
    help: 'Experiments the last admission pass left waiting',
    registers: [metrics],
  });
  return (pass) => {
    duration.observe(pass.durationMs / 1000);
    waiting.set(pass.waiting);
  };
}

/**
 * `drover_http_request_duration_seconds{method, route, status}`: the API's answers. Returns
 * what the server calls once per response.
 */
export function measureHttpRequests(
  metrics: Registry,
): (labels: { method: string; route: string; status: string }, seconds: number) => void {
  const duration = new Histogram({
    name: 'drover_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [metrics],
  });
  return (labels, seconds) => duration.observe(labels, seconds);
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Adds `GET /metrics` to the API: it answers only `Authorization: Bearer <token>`, where the
 * token is `token` (compared in constant time) or, when `token` is null, the platform
 * operator's (looked up in the store, so every API process of a deployment takes it).
 */
export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: Registry,
  token: string | null,
  store: Queryable,
): void {
  const expected = token === null ? null : digest(token);
  const allowed = async (given: string) =>
    expected
      ? timingSafeEqual(digest(given), expected)
      : (await authenticate(store, given).catch(() => null))?.operator === true;
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
          : 'send the platform operator\'s token (or set metrics.token) as "Authorization: Bearer <token>"',
      });
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });
}

/**
 * Serves `GET /metrics` alone, without a token, on `listen` ("host:port"). Returns the
 * listening server; close it on stop.
 */
export async function listenForMetrics(
  metrics: Registry,
  listen: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const separator = listen.lastIndexOf(':');
  const host = listen.slice(0, separator).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(separator + 1));
  const server: FastifyInstance = Fastify();
  server.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  server.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      type: 'urn:drover:problem:not-found',
      title: 'Not Found',
      status: 404,
      detail: `this address serves only GET /metrics, not ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
  const url = await server.listen({ host, port });
  return { url, close: () => server.close() };
}
