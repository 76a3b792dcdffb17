/**
 * RabbitMQ for the tests of the RabbitMQ queue: the broker at RABBITMQ_URL (default
 * amqp://guest:guest@127.0.0.1:5672, as scripts/start-rabbitmq.sh brings it up), queues
 * under a prefix of their own per test (so runs side by side never share one) and deleted
 * after it. When the broker does not answer, the tests fail saying how to start it: a
 * skipped test would hide a broken tier.
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { taskKinds } from '../src/domain/task.ts';
import { rabbitmqQueueNames, type RabbitmqQueue } from '../src/dispatch/rabbitmq-queue.ts';
import type { Store } from '../src/store/port.ts';

/** The broker of the tests. */
export const rabbitmqUrl = process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';

/** A queue prefix no other test uses. */
export function uniqueQueuePrefix(): string {
  return `drover-test-${randomBytes(6).toString('hex')}`;
}

/** Runs `work` on a channel of a short-lived connection to the broker. */
export async function withChannel<T>(work: (channel: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
  let connection: amqp.ChannelModel;
  try {
    connection = await amqp.connect(rabbitmqUrl, { noDelay: true });
  } catch (error) {
    throw new Error(
      `RabbitMQ is not reachable at ${rabbitmqUrl.replace(/\/\/[^@]*@/, '//')} (${(error as Error).message}); start it with scripts/start-rabbitmq.sh or set RABBITMQ_URL`,
      { cause: error },
    );
  }
  try {
    return await work(await connection.createConfirmChannel());
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Messages ready in each queue of `prefix` (the dead-letter queue as `dead`). */
export async function queueDepths(prefix: string): Promise<Record<string, number>> {
  const names = rabbitmqQueueNames(prefix);
  return withChannel(async (channel) => {
    const depths: Record<string, number> = {};
    for (const kind of taskKinds) depths[kind] = (await channel.checkQueue(names.task(kind))).messageCount;
    depths.dead = (await channel.checkQueue(names.dead)).messageCount;
    return depths;
  });
}

/** Deletes the queues of `prefix`. */
export async function deleteQueues(prefix: string): Promise<void> {
  const names = rabbitmqQueueNames(prefix);
  await withChannel(async (channel) => {
    for (const name of [...taskKinds.map(names.task), names.dead]) await channel.deleteQueue(name);
  });
}

/**
 * Resolves once every task ready and due in `store` has a message waiting in one of
 * `queues` (the relays publish, the broker delivers); fails after 10 s.
 */
export async function settleQueues(store: Store, queues: RabbitmqQueue[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await Promise.all(queues.map((queue) => queue.relayNow()));
    const rows = await store.query<{ id: number }>(`select id from tasks where state = 'ready' and run_at <= now()`);
    const waiting = new Set(queues.flatMap((queue) => queue.pending().waiting));
    if (rows.every((row) => waiting.has(row.id))) return;
    if (Date.now() > deadline) {
      throw new Error(
        `ready tasks ${rows.map((row) => row.id).join(', ')} never reached a worker (waiting: ${[...waiting].join(', ')})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
