/**
 * The worker loop: takes ready tasks from the dispatch queue and runs their handlers,
 * up to `concurrency` at a time. Outcomes are batched: while one exchange with the queue
 * is in flight, finished tasks accumulate and go in the next one, together with the
 * next claim.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Dispatch, ClaimedTask, TaskOutcome } from '../dispatch/port.ts';
import type { TaskKind } from '../domain/task.ts';
import { failureFromError, finalFailure } from '../domain/failure.ts';

/** What a handler returns: a result to store, or `detach` to leave the task running without a lease. */
export type HandlerResult = { result?: unknown } | { detach: true };

/** Runs one task kind. Must be idempotent: a task runs at least once. */
export type TaskHandler = (task: ClaimedTask) => Promise<HandlerResult>;

export interface WorkerOptions {
  dispatch: Dispatch;
  handlers: Partial<Record<TaskKind, TaskHandler>>;
  logger: Logger;
  /** Tasks run at once (config `worker.concurrency`). */
  concurrency: number;
  /** Lease length; renewed every third of it (config `worker.leaseMs`). */
  leaseMs: number;
  /** Claim attempt when no notification came (config `worker.pollMs`); notifications make this rare. */
  pollMs: number;
  /** Called after each exchange with the numbers of tasks reported and claimed (metrics). */
  onExchange?: (reported: number, claimed: number) => void;
}

/** A worker with a lifecycle: `start()`, then `stop()` to drain. */
export class Worker {
  readonly id = `worker-${randomUUID().slice(0, 8)}`;
  private readonly running = new Map<number, ClaimedTask>();
  private outcomes: TaskOutcome[] = [];
  private pumping = false;
  private pumpScheduled = false;
  private again = false;
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe?: () => Promise<void>;
  private idle?: () => void;

  /** Takes compiled options: the defaults live in config.ts alone. */
  constructor(private readonly options: WorkerOptions) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.options.dispatch.onReady(() => this.pump());
    this.timers.push(setInterval(() => this.pump(), this.options.pollMs));
    this.timers.push(setInterval(() => void this.renew(), Math.max(100, this.options.leaseMs / 3)));
    this.pump();
  }

  /** Stops claiming, waits for running handlers (up to `graceMs`), reports their outcomes. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.unsubscribe?.();
    const deadline = Date.now() + graceMs;
    while ((this.running.size > 0 || this.pumping || this.outcomes.length > 0) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        setTimeout(resolve, 50);
      });
      if (!this.pumping && this.outcomes.length > 0) this.pump();
    }
  }

  /** Exchanges outcomes for new tasks until there is nothing more to do. Never runs twice at once. */
  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.again = false;
          const outcomes = this.outcomes;
          this.outcomes = [];
          const capacity = this.stopping ? 0 : this.options.concurrency - this.running.size;
          if (outcomes.length === 0 && capacity === 0) break;
          let claimed: ClaimedTask[];
          try {
            claimed = await this.options.dispatch.exchange(this.id, outcomes, capacity, this.options.leaseMs);
          } catch (error) {
            // The store is unreachable: keep the outcomes and try again shortly.
            this.outcomes.unshift(...outcomes);
            this.options.logger.warn({ err: error }, 'dispatch exchange failed; retrying');
            await new Promise((resolve) => setTimeout(resolve, 500));
            this.again = true;
            continue;
          }
          this.options.onExchange?.(outcomes.length, claimed.length);
          for (const task of claimed) this.run(task);
          if (capacity > 0 && claimed.length === capacity) this.again = true;
        } while (this.again || this.outcomes.length > 0);
      } finally {
        this.pumping = false;
        this.idle?.();
      }
    })();
  }

  private run(task: ClaimedTask): void {
    this.running.set(task.id, task);
    const handler = this.options.handlers[task.kind];
    const work = handler
      ? handler(task)
      : Promise.reject(finalFailure('no-handler', `this worker has no handler for ${task.kind} tasks`));
    work
      .then(
        (result): TaskOutcome =>
          'detach' in result
            ? { taskId: task.id, outcome: 'detached' }
            : { taskId: task.id, outcome: 'completed', result: result.result },
        (error: unknown): TaskOutcome => {
          // The one place where what a handler threw becomes the failure stored with the attempt.
          const failure = failureFromError(error);
          this.options.logger.warn(
            { task: task.id, kind: task.kind, attempt: task.attempt, failure },
            'task attempt failed',
          );
          return { taskId: task.id, outcome: 'failed', failure };
        },
      )
      .then((outcome) => {
        this.running.delete(task.id);
        this.outcomes.push(outcome);
        this.pumpSoon();
      });
  }

  /**
   * Pumps once the handlers finishing in this turn of the event loop have all reported,
   * so that they share one exchange: pumping at the first outcome would send it alone and
   * leave the rest for the next exchange, halving the batch.
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private async renew(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      await this.options.dispatch.renew(this.id, [...this.running.keys()], this.options.leaseMs);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'lease renewal failed');
    }
  }
}
