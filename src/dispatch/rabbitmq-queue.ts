/**
 * The RabbitMQ queue: a second adapter of the Dispatch port, on amqplib. PostgreSQL stays
 * the source of truth for task state; RabbitMQ only carries "task N is ready" to workers.
 *
 * - Publishing: a task that becomes ready gets an outbox row in the same transaction
 *   (state/dispatch-outbox.ts). The relay here publishes due rows (a retry's backoff is
 *   waited out in the outbox) as persistent messages through a confirm channel, and
 *   deletes them after the broker's confirms, in the transaction that locked them.
 *   Several relays share the rows with `SKIP LOCKED`; one that dies before deleting
 *   leaves them to be published again (a duplicate message is harmless, see below).
 * - Messages: `{"taskId": N}`, persistent, the outbox row's id as message id (the claim
 *   records it on the task: a message that comes back takes over only the attempt it started).
 * - Queues: one durable classic queue per task kind, `<prefix>.<kind>`, with
 *   `x-max-priority` (a task's priority, -5..5, becomes 0..10), each dead-lettering into
 *   `<prefix>.dead`. A worker consumes only the kinds it runs (`kinds`).
 * - Claiming: a delivered message waits in this process until the worker's next
 *   exchange, which claims the tasks its messages name in PostgreSQL (ready -> running
 *   with a lease, only if still ready: state/claim-tasks.ts exchangeNamedTasks). A
 *   message whose task is no longer ready (a duplicate, a canceled task) is acked and
 *   dropped; one naming no task is dead-lettered.
 * - Acknowledging: a claimed task's message is acked only after the exchange that
 *   reports the task's outcome has committed. A worker that dies (or loses its
 *   connection) leaves its messages unacked, so the broker delivers them again: a
 *   redelivered message takes its task over from the worker that held it (running ->
 *   ready -> running in one transaction, the attempt uncounted), without waiting for the
 *   lease to run out, unless that worker is still a live member (heartbeating: a broker
 *   restart brings back every running task's message while their workers run on): then
 *   the message is acked and dropped, and the controller puts the task back should that
 *   worker die later. A task whose workers keep dying fails, and its message is
 *   dead-lettered (a poison task).
 * - Prefetch: the channel's limit is what the worker holds plus `prefetch`, so a worker
 *   never hoards more ready tasks than it asked room for, however many it runs.
 */
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { taskKinds, type TaskKind } from '../domain/task.ts';
import type { Store } from '../store/port.ts';
import { exchangeNamedTasks, renewLeases } from '../state/claim-tasks.ts';
import { readyChannel } from '../state/events.ts';
import { deleteOutboxMessages, nextOutboxDueAt, takeDueOutboxMessages } from '../state/dispatch-outbox.ts';
import { DispatchError, type ClaimedTask, type Dispatch, type TaskOutcome } from './port.ts';

/** Options of the RabbitMQ queue; main.ts compiles them from config `dispatch`. */
export interface RabbitmqQueueOptions {
  /** The broker, e.g. amqp://guest:guest@127.0.0.1:5672 (a vhost as its path). */
  url: string;
  /** Prefix of the queue names (config `dispatch.rabbitmqQueuePrefix`, default `drover`). */
  queuePrefix: string;
  /** Task kinds whose queues this process consumes; empty: it only relays (default: none). */
  kinds?: readonly TaskKind[];
  /** Messages delivered ahead of the worker's claims, beyond those it holds (default 16: the worker's concurrency). */
  prefetch?: number;
  /** Publish the outbox from this process (default true). */
  relay?: boolean;
  /** Outbox rows published per confirm round (default 500). */
  relayBatch?: number;
  /** A relay pass when no notification came, and the longest wait for a retry's backoff (default 1000). */
  pollMs?: number;
  logger: Logger;
}

/** The RabbitMQ adapter: the Dispatch port, plus a lifecycle. */
export interface RabbitmqQueue extends Dispatch {
  /** Publishes every due outbox row now; resolves when they are confirmed and deleted. */
  relayNow(): Promise<void>;
  /** The tasks of messages delivered and not yet claimed, and how many claimed tasks' messages await their ack (for tests). */
  pending(): { waiting: number[]; held: number };
  /** Stops consuming and relaying and closes the connection: unacked messages go back to their queues. */
  close(): Promise<void>;
}

/** A message's priority: RabbitMQ's 0..10 from a task's -5..5. */
const maxPriority = 10;

/** The queue of a task kind and the dead-letter queue, under `prefix`. */
export function rabbitmqQueueNames(prefix: string): { task: (kind: TaskKind) => string; dead: string } {
  return { task: (kind) => `${prefix}.${kind}`, dead: `${prefix}.dead` };
}

interface Link {
  connection: ChannelModel;
  publisher: ConfirmChannel;
  consumer: Channel | null;
  closed: boolean;
}

interface Delivery {
  link: Link;
  message: ConsumeMessage;
  taskId: number;
  /** The outbox row's id (0 for a message that has none: it never takes a task over). */
  messageId: number;
  priority: number;
}

const reconnectMs = { first: 200, most: 5000 };

/**
 * Connects to RabbitMQ, declares the queues and starts consuming `kinds` and relaying the
 * outbox. A lost connection is made again in the background (exchanges meanwhile claim
 * nothing and the relay waits); the first connection must succeed.
 * @throws when the broker cannot be reached or refuses the queues' declaration.
 */
export async function openRabbitmqQueue(store: Store, options: RabbitmqQueueOptions): Promise<RabbitmqQueue> {
  const queue = new RabbitmqQueueAdapter(store, options);
  try {
    await queue.open();
  } catch (error) {
    await queue.close();
    const reason = (error as Error).message || (error as { code?: string }).code || String(error);
    throw new DispatchError(
      `cannot use RabbitMQ at ${withoutPassword(options.url)} (${reason}); start it (scripts/start-rabbitmq.sh) or set dispatch.rabbitmqUrl (DROVER_RABBITMQ_URL)`,
      { cause: error },
    );
  }
  return queue;
}

/** `url` without its password, for messages and logs. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an invalid URL)';
  }
}

class RabbitmqQueueAdapter implements RabbitmqQueue {
  private readonly names: ReturnType<typeof rabbitmqQueueNames>;
  private readonly kinds: readonly TaskKind[];
  private readonly prefetch: number;
  private readonly relayBatch: number;
  private readonly pollMs: number;
  private link: Link | null = null;
  private waiting: Delivery[] = [];
  /** Claimed tasks' messages by `worker task`, acked when the task's outcome is committed. */
  private readonly held = new Map<string, Delivery>();
  private readonly listeners = new Set<() => void>();
  private prefetchSet = 0;
  private prefetchWanted = 0;
  private prefetchUpdating = false;
  private relayRunning: Promise<void> | null = null;
  private relayAgain = false;
  private relayTimer?: NodeJS.Timeout;
  private dueTimer?: NodeJS.Timeout;
  private unlisten?: () => Promise<void>;
  private closing = false;
  private reconnectDelay = reconnectMs.first;

  constructor(
    private readonly store: Store,
    private readonly options: RabbitmqQueueOptions,
  ) {
    this.names = rabbitmqQueueNames(options.queuePrefix);
    this.kinds = options.kinds ?? [];
    this.prefetch = Math.max(1, options.prefetch ?? 16);
    this.relayBatch = options.relayBatch ?? 500;
    this.pollMs = options.pollMs ?? 1000;
  }

  async open(): Promise<void> {
    await this.connect();
    if (this.options.relay !== false) {
      this.unlisten = await this.store.listen(readyChannel, () => this.wakeRelay());
      this.relayTimer = setInterval(() => this.wakeRelay(), this.pollMs);
      this.wakeRelay();
    }
  }

  private async connect(): Promise<void> {
    const connection = await amqp.connect(this.options.url, {
      // amqplib leaves Nagle on: each publish -> confirm -> ack hop would stall ~40 ms.
      noDelay: true,
      // Shown by `rabbitmqctl list_connections name client_properties`.
      clientProperties: { connection_name: `drover ${this.options.queuePrefix} ${process.pid}` },
    });
    const link: Link = { connection, publisher: null!, consumer: null, closed: false };
    connection.on('error', (error: Error) => this.options.logger.warn({ err: error }, 'RabbitMQ connection error'));
    connection.on('close', () => this.lost(link));
    try {
      link.publisher = await connection.createConfirmChannel();
      link.publisher.on('error', (error: Error) => this.options.logger.warn({ err: error }, 'RabbitMQ channel error'));
      link.publisher.on('close', () => this.channelClosed(link));
      await link.publisher.assertQueue(this.names.dead, { durable: true, arguments: { 'x-queue-type': 'classic' } });
      for (const kind of taskKinds) {
        await link.publisher.assertQueue(this.names.task(kind), {
          durable: true,
          arguments: {
            'x-queue-type': 'classic',
            'x-max-priority': maxPriority,
            'x-dead-letter-exchange': '',
            'x-dead-letter-routing-key': this.names.dead,
          },
        });
      }
      if (this.kinds.length > 0) {
        const consumer = await connection.createChannel();
        consumer.on('error', (error: Error) => this.options.logger.warn({ err: error }, 'RabbitMQ channel error'));
        consumer.on('close', () => this.channelClosed(link));
        link.consumer = consumer;
        this.prefetchSet = this.prefetch + this.held.size;
        // global: one limit for the channel's consumers (one per kind), which a change applies to at once.
        await consumer.prefetch(this.prefetchSet, true);
        for (const kind of this.kinds) {
          await consumer.consume(this.names.task(kind), (message) => this.delivered(link, message), { noAck: false });
        }
      }
    } catch (error) {
      link.closed = true;
      await connection.close().catch(() => {});
      throw error;
    }
    this.link = link;
    this.reconnectDelay = reconnectMs.first;
  }

  /** The connection closed: drop what it delivered (the broker has taken it back) and connect again. */
  private lost(link: Link): void {
    if (link.closed) return;
    link.closed = true;
    if (this.link === link) this.link = null;
    this.waiting = this.waiting.filter((delivery) => delivery.link !== link);
    if (this.closing) return;
    this.options.logger.warn('RabbitMQ connection lost; connecting again');
    const retry = () => {
      if (this.closing) return;
      this.connect().then(
        () => {
          this.options.logger.info('RabbitMQ connection restored');
          this.wakeRelay();
        },
        (error: unknown) => {
          this.options.logger.warn({ err: error }, 'RabbitMQ connection failed; trying again');
          this.reconnectDelay = Math.min(reconnectMs.most, this.reconnectDelay * 2);
          setTimeout(retry, this.reconnectDelay).unref();
        },
      );
    };
    setTimeout(retry, this.reconnectDelay).unref();
  }

  /** A channel closed on its own (a channel error): start over on a new connection, as when it is lost. */
  private channelClosed(link: Link): void {
    if (link.closed || this.closing) return;
    void link.connection.close().catch(() => {});
  }

  private delivered(link: Link, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker canceled the consumer (its queue was deleted): start over.
      void link.connection.close().catch(() => {});
      return;
    }
    const body = parseBody(message.content);
    if (body === null) {
      this.options.logger.warn(
        { body: message.content.toString('utf8', 0, 200) },
        'unreadable dispatch message dead-lettered',
      );
      link.consumer?.nack(message, false, false);
      return;
    }
    const messageId = Number(message.properties.messageId);
    this.waiting.push({
      link,
      message,
      taskId: body.taskId,
      messageId: Number.isSafeInteger(messageId) && messageId > 0 ? messageId : 0,
      priority: message.properties.priority ?? 0,
    });
    for (const listener of this.listeners) listener();
  }

  async exchange(workerId: string, outcomes: TaskOutcome[], limit: number, leaseMs: number): Promise<ClaimedTask[]> {
    // Higher priority first; Array.sort is stable, so arrival order within one.
    this.waiting.sort((a, b) => b.priority - a.priority);
    const taken = this.waiting.splice(0, Math.max(0, limit));
    if (outcomes.length === 0 && taken.length === 0) return [];
    const heldTasks = new Set([...this.held.values()].map((delivery) => delivery.taskId));
    // A message back while this process still runs its task (our connection dropped and
    // came back) is not a takeover: the new delivery replaces the old in `held` below.
    const takeOver = taken
      .filter((delivery) => delivery.message.fields.redelivered && !heldTasks.has(delivery.taskId))
      .map(({ taskId, messageId }) => ({ taskId, messageId }));
    const again = taken.filter((delivery) => delivery.message.fields.redelivered && heldTasks.has(delivery.taskId));
    // One message claims each task (a takeover's, when there is one): the claim records it
    // on the task, and it is the one held; the others for the same task are acked.
    const claimWith = new Map<number, Delivery>();
    for (const delivery of taken) {
      if (again.includes(delivery)) continue;
      const isTakeOver = takeOver.some(
        (task) => task.messageId === delivery.messageId && task.taskId === delivery.taskId,
      );
      if (!claimWith.has(delivery.taskId) || isTakeOver) claimWith.set(delivery.taskId, delivery);
    }
    const asked = taken.filter((delivery) => !again.includes(delivery));
    let result;
    try {
      result = await this.store.transaction((tx) =>
        exchangeNamedTasks(
          tx,
          workerId,
          outcomes,
          [...claimWith.values()].map(({ taskId, messageId }) => ({ taskId, messageId })),
          takeOver,
          leaseMs,
        ),
      );
    } catch (error) {
      this.waiting.unshift(...taken.filter((delivery) => !delivery.link.closed));
      throw error;
    }
    // Committed: the outcomes' messages are done with.
    for (const outcome of outcomes) {
      const key = `${workerId} ${outcome.taskId}`;
      const delivery = this.held.get(key);
      this.held.delete(key);
      if (delivery) ack(delivery);
    }
    for (const delivery of again) {
      const key = [...this.held.entries()].find(([, held]) => held.taskId === delivery.taskId)?.[0];
      if (key) this.held.set(key, delivery);
      else ack(delivery); // its outcome was reported meanwhile
    }
    const claimed = new Set(result.claimed.map((task) => task.id));
    const unknown = new Set(result.unknown);
    const exhausted = new Set(result.exhausted);
    const refused = new Set(result.refused);
    for (const delivery of asked) {
      const key = `${workerId} ${delivery.taskId}`;
      if (claimed.has(delivery.taskId) && claimWith.get(delivery.taskId) === delivery) {
        this.held.set(key, delivery);
      } else if (unknown.has(delivery.taskId) || exhausted.has(delivery.taskId)) {
        this.options.logger.warn(
          { task: delivery.taskId, reason: unknown.has(delivery.taskId) ? 'no such task' : 'out of attempts' },
          'poison dispatch message dead-lettered',
        );
        if (!delivery.link.closed) delivery.link.consumer?.nack(delivery.message, false, false);
      } else if (refused.has(delivery.taskId) && claimWith.get(delivery.taskId) === delivery) {
        // Still ready, but not for this worker: back to the queue for another, after a pause
        // so that a task no worker may run does not circle at full speed.
        setTimeout(() => {
          if (!delivery.link.closed) delivery.link.consumer?.nack(delivery.message, false, true);
        }, this.pollMs).unref();
      } else {
        ack(delivery); // no longer ready (a duplicate, a canceled task), or a second message for one claim
      }
    }
    this.updatePrefetch();
    return result.claimed;
  }

  renew(workerId: string, taskIds: number[], leaseMs: number): Promise<number[]> {
    return this.store.transaction((tx) => renewLeases(tx, workerId, taskIds, leaseMs));
  }

  async onReady(listener: () => void): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    if (this.waiting.length > 0) listener();
    return async () => {
      this.listeners.delete(listener);
    };
  }

  pending(): { waiting: number[]; held: number } {
    return { waiting: this.waiting.map((delivery) => delivery.taskId), held: this.held.size };
  }

  /** Keeps the channel's limit at what the worker holds plus `prefetch`: one update at a time, the latest wins. */
  private updatePrefetch(): void {
    this.prefetchWanted = this.held.size + this.prefetch;
    if (this.prefetchUpdating || this.prefetchWanted === this.prefetchSet) return;
    const consumer = this.link?.consumer;
    if (!consumer) return;
    this.prefetchUpdating = true;
    const wanted = this.prefetchWanted;
    consumer.prefetch(wanted, true).then(
      () => {
        this.prefetchSet = wanted;
        this.prefetchUpdating = false;
        this.updatePrefetch();
      },
      () => {
        this.prefetchUpdating = false; // the channel closed: connect() sets it again
      },
    );
  }

  relayNow(): Promise<void> {
    this.wakeRelay();
    return this.relayRunning ?? Promise.resolve();
  }

  /** Runs relay passes until none finds a due row; a wake during a pass asks for one more. */
  private wakeRelay(): void {
    if (this.closing || this.options.relay === false) return;
    if (this.relayRunning) {
      this.relayAgain = true;
      return;
    }
    this.relayRunning = (async () => {
      do {
        this.relayAgain = false;
        try {
          while ((await this.relayPass()) === this.relayBatch);
        } catch (error) {
          if (!this.closing) this.options.logger.warn({ err: error }, 'dispatch outbox relay failed; retrying');
        }
      } while (this.relayAgain && !this.closing);
      this.relayRunning = null;
      await this.armDueTimer();
    })();
  }

  /** One pass: publishes up to a batch of due rows, waits for their confirms, deletes them. */
  private async relayPass(): Promise<number> {
    const link = this.link;
    if (!link) return 0;
    return this.store.transaction(async (tx) => {
      const rows = await takeDueOutboxMessages(tx, this.relayBatch);
      if (rows.length === 0) return 0;
      for (const row of rows) {
        const body = JSON.stringify({ taskId: row.taskId });
        link.publisher.sendToQueue(this.names.task(row.kind), Buffer.from(body), {
          persistent: true,
          priority: Math.min(maxPriority, Math.max(0, row.priority + 5)),
          messageId: String(row.id),
          contentType: 'application/json',
        });
      }
      // Rejects when the broker refuses one or the channel closes: the rows stay, rolled back.
      await link.publisher.waitForConfirms();
      await deleteOutboxMessages(
        tx,
        rows.map((row) => row.id),
      );
      return rows.length;
    });
  }

  /** A retry waiting out its backoff is published when due: wakes the relay then (at most `pollMs` away). */
  private async armDueTimer(): Promise<void> {
    if (this.closing) return;
    let at: Date | null;
    try {
      at = await nextOutboxDueAt(this.store);
    } catch {
      return; // the store is unreachable: the poll timer tries again
    }
    clearTimeout(this.dueTimer);
    if (at === null) return;
    const delay = Math.max(0, at.getTime() - Date.now());
    if (delay < this.pollMs) this.dueTimer = setTimeout(() => this.wakeRelay(), delay + 5);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.relayTimer);
    clearTimeout(this.dueTimer);
    await this.unlisten?.();
    await this.relayRunning;
    const link = this.link;
    this.link = null;
    if (link && !link.closed) {
      link.closed = true;
      await link.connection.close().catch(() => {});
    }
    this.waiting = [];
    this.held.clear();
    this.listeners.clear();
  }
}

function ack(delivery: Delivery): void {
  // On a connection that closed, the broker has taken the message back already.
  if (!delivery.link.closed) delivery.link.consumer?.ack(delivery.message);
}

/** A message body `{"taskId": N}`, or null for anything else. */
function parseBody(content: Buffer): { taskId: number } | null {
  let body: { taskId?: unknown } | null;
  try {
    body = JSON.parse(content.toString('utf8')) as typeof body;
  } catch {
    return null;
  }
  const taskId = body?.taskId;
  if (typeof taskId !== 'number' || !Number.isSafeInteger(taskId) || taskId <= 0) return null;
  return { taskId };
}
