/**
 * The workers list: every worker process with its capabilities, state, heartbeat and the
 * tasks it runs. For the platform operator alone: workers serve every gateway, so what one
 * runs names other gateways' experiments, and its host and pid are the operator's machine.
 */
import type { FastifyInstance } from 'fastify';
import { listWorkers } from '../../state/worker-state.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { problemResponses, ref } from '../schemas.ts';
import { requireOperator } from './gateways.ts';

export function registerWorkerRoutes(api: FastifyInstance, { store }: ApiDependencies): void {
  api.get(
    '/workers',
    {
      schema: {
        operationId: 'listWorkers',
        summary: 'List workers (platform operator)',
        description:
          'Every worker: active and stopping first, then those that stopped or were lost in the last day. A worker that misses three heartbeats is lost, and its tasks go back to the queue at once.',
        tags: ['workers'],
        response: { 200: ref('WorkerList'), ...problemResponses },
      },
    },
    async (request) => {
      requireOperator(request, 'see the workers: they run the tasks of every gateway');
      return { items: await listWorkers(store) };
    },
  );
}
