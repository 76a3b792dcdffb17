/**
 * The RabbitMQ queue over PostgreSQL and the broker of scripts/start-rabbitmq.sh: the
 * dispatch suite (test/conformance/dispatch-suite.ts), then what RabbitMQ adds to it. A new
 * database and queues of their own per test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openRabbitmqQueue, rabbitmqQueueNames, type RabbitmqQueueOptions } from './rabbitmq-queue.ts';
import { dispatchConformance } from '../../test/conformance/dispatch-suite.ts';
import { openFreshDatabase } from '../../test/fresh-postgres.ts';
import { deleteQueues, rabbitmqUrl, settleQueues, uniqueQueuePrefix } from '../../test/rabbitmq.ts';
import { setDispatchOutbox } from '../state/dispatch-outbox.ts';
import { taskKinds } from '../domain/task.ts';
import type { Store } from '../store/port.ts';

const logger = pino({ level: 'silent' });

function queueOptions(prefix: string, options: Partial<RabbitmqQueueOptions> = {}): RabbitmqQueueOptions {
  return { url: rabbitmqUrl, queuePrefix: prefix, kinds: taskKinds, prefetch: 50, logger, ...options };
}

dispatchConformance('RabbitMQ queue on PostgreSQL', async () => {
  const store = await openFreshDatabase();
  const prefix = uniqueQueuePrefix();
  let queue: Awaited<ReturnType<typeof openRabbitmqQueue>> | undefined;
  const dispatch = new Proxy({} as Awaited<ReturnType<typeof openRabbitmqQueue>>, {
    get: (_, key: keyof Awaited<ReturnType<typeof openRabbitmqQueue>>) => {
      const value = queue![key];
      return typeof value === 'function' ? value.bind(queue) : value;
    },
  });
  return {
    store,
    dispatch,
    prepare: async () => {
      await setDispatchOutbox(store, true);
      queue = await openRabbitmqQueue(store, queueOptions(prefix));
    },
    settle: () => settleQueues(store, [queue!]),
    close: async () => {
      await queue?.close();
      await deleteQueues(prefix);
    },
  };
});
