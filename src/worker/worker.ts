/**
 * The worker loop: takes ready tasks from the dispatch queue and runs their handlers,
 * up to `concurrency` at a time. Outcomes are batched and pipelined: up to
 * `exchangesInFlight` exchanges with the queue run at once (one commits while the next is
 * under way), and finished tasks accumulate and go in the next one, together with the
 * next claim.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Dispatch, ClaimedTask, TaskOutcome } from '../dispatch/port.ts';
import type { TaskKind } from '../domain/task.ts';
import { failureFromError, finalFailure, type TaskFailure } from '../domain/failure.ts';
import { isStoreUnreachable } from '../store/port.ts';
import type { WorkerCapabilities, WorkerRegistration } from '../domain/worker.ts';
import type { Membership } from './membership.ts';

/** What a handler returns: a result to store, or `detach` to leave the task running without a lease. */
export type HandlerResult = { result?: unknown } | { detach: true };

/** What the worker lends a running handler. */
export interface TaskContext {
  /**
   * Waits for `work`, a share of a command the resource batches for many tasks (the next
   * `mkdir` of folders, the next `sbatch` batch), without holding one of the worker's
   * `concurrency` slots meanwhile: the worker claims other tasks in the meantime, which
   * is what lets their share join the same command. The task stays the worker's, its lease
   * renewed, as while it works; at most `maxWaiting` tasks wait so at once (the next wait
   * keeps its slot). A task whose wait ends resumes at once, even if that puts the worker
   * over `concurrency` for a moment: it claims nothing until it is back under.
   */
  whileWaiting<T>(work: Promise<T>): Promise<T>;
}

/** Runs one task kind. Must be idempotent: a task runs at least once. */
export type TaskHandler = (task: ClaimedTask, context: TaskContext) => Promise<HandlerResult>;

export interface WorkerOptions {
  dispatch: Dispatch;
  handlers: Partial<Record<TaskKind, TaskHandler>>;
  logger: Logger;
  /** Tasks run at once (config `worker.concurrency`), not counting those in `whileWaiting`. */
  concurrency: number;
  /**
   * Tasks that may wait in `TaskContext.whileWaiting` at once, their slots lent to other
   * tasks (config `worker.maxWaiting`; default 0: waiting holds the slot).
   */
  maxWaiting?: number;
  /** Lease length; renewed every third of it (config `worker.leaseMs`). */
  leaseMs: number;
  /** Claim attempt when no notification came (config `worker.pollMs`); notifications make this rare. */
  pollMs: number;
  /**
   * Exchanges with the queue at once (config `worker.exchangesInFlight`, default 2): while one commits, the outcomes that
   * came in meanwhile go in the next instead of waiting for it. 1 waits for each exchange
   * before the next, as before pipelining. A worker whose tasks all finish together (a
   * full batch) still sends them in one exchange: each claims all the room there is.
   */
  exchangesInFlight?: number;
  /**
   * Each exchange claims at most `concurrency / exchangesInFlight` tasks (rounded up), so
   * that even a full batch spreads over the exchanges in flight (default false). Measured
   * on PostgreSQL (bench/README.md): twice the exchanges, and so about twice the
   * database's CPU per task, for no more throughput on a busy 2-core machine.
   */
  splitClaims?: boolean;
  /** Called after each exchange with the numbers of tasks reported and claimed (metrics). */
  onExchange?: (reported: number, claimed: number) => void;
  /**
   * Registers the worker with what it can run, heartbeats and leaves through this (main.ts
   * always passes it; without it, as in the dispatch benchmark, the worker is unregistered
   * and the claim hands it any task).
   */
  membership?: {
    port: Membership;
    /** What it runs: the claim hands it nothing else (config `worker.kinds`, `worker.resources`). */
    capabilities: WorkerCapabilities;
    /** Heartbeat interval (config `worker.heartbeatMs`); lost after `missedHeartbeatsBeforeLost` missed. */
    heartbeatMs: number;
    version: string;
    host: string;
    pid: number;
  };
}

/** Pause before an exchange that failed (the store unreachable) is tried again. */
const exchangeRetryMs = 500;

/** A worker with a lifecycle: `start()`, then `stop()` to drain. */
export class Worker {
  readonly id = `worker-${randomUUID().slice(0, 8)}`;
  private readonly running = new Map<number, ClaimedTask>();
  /** Tasks of `running` in `whileWaiting`: they hold no slot. */
  private waiting = 0;
  private readonly exchangesInFlight: number;
  private readonly claimPerExchange: number;
  private outcomes: TaskOutcome[] = [];
  /** Exchanges under way, and the tasks they may yet bring (counted against `concurrency`). */
  private inFlight = 0;
  private claimsInFlight = 0;
  /** Ready tasks may be waiting (a notification, the poll timer, or a claim that came back full). */
  private claimWanted = false;
  private fillScheduled = false;
  private stopping = false;
  /** Timers of claiming, stopped first when draining. */
  private timers: NodeJS.Timeout[] = [];
  /** Timers of lease renewal and heartbeat, which run until the drain ends. */
  private lifeTimers: NodeJS.Timeout[] = [];
  private unsubscribe?: () => Promise<void>;
  private idle?: () => void;

  /** Takes compiled options: the defaults live in config.ts (splitClaims, a benchmark's switch, is not configurable). */
  constructor(private readonly options: WorkerOptions) {
    this.exchangesInFlight = Math.max(1, options.exchangesInFlight ?? 2);
    this.claimPerExchange = options.splitClaims
      ? Math.ceil(options.concurrency / this.exchangesInFlight)
      : options.concurrency;
  }

  /** Registers (with `membership`), then claims and runs tasks until `stop()`. */
  async start(): Promise<void> {
    const { membership } = this.options;
    if (membership) {
      await membership.port.register(this.registration());
      this.lifeTimers.push(setInterval(() => void this.heartbeat(), membership.heartbeatMs));
    }
    this.unsubscribe = await this.options.dispatch.onReady(() => this.pump());
    this.timers.push(setInterval(() => this.pump(), this.options.pollMs));
    this.lifeTimers.push(setInterval(() => void this.renew(), Math.max(100, this.options.leaseMs / 3)));
    this.pump();
  }

  /**
   * Drains: claims nothing new (its row says `stopping`), lets running handlers finish for
   * up to `graceMs` and reports their outcomes, renewing their leases and heartbeating
   * meanwhile; then hands back what still runs (to the queue, costing no attempt) and
   * leaves (`stopped`). Returns the ids handed back.
   */
  async stop(graceMs = 10_000): Promise<number[]> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    const { membership } = this.options;
    await membership?.port
      .drain(this.id)
      .catch((error) => this.options.logger.warn({ err: error }, 'cannot mark the worker stopping'));
    await this.unsubscribe?.();
    const deadline = Date.now() + graceMs;
    while ((this.running.size > 0 || this.inFlight > 0 || this.outcomes.length > 0) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        setTimeout(resolve, 50);
      });
      this.fill();
    }
    for (const timer of this.lifeTimers) clearInterval(timer);
    if (!membership) return [];
    const unfinished = [...this.running.keys()];
    try {
      const handedBack = await membership.port.leave(this.id, unfinished);
      if (handedBack.length > 0)
        this.options.logger.info({ tasks: handedBack }, 'handed unfinished tasks back to the queue');
      return handedBack;
    } catch (error) {
      // The store is gone: the controller will find this worker lost and put its tasks back.
      this.options.logger.warn({ err: error }, 'cannot hand tasks back; they return when the worker is found lost');
      return [];
    }
  }

  private registration(): WorkerRegistration {
    const { membership, concurrency } = this.options;
    return {
      id: this.id,
      ...membership!.capabilities,
      concurrency,
      version: membership!.version,
      host: membership!.host,
      pid: membership!.pid,
      heartbeatMs: membership!.heartbeatMs,
    };
  }

  /**
   * One heartbeat. A worker told it is lost (it was silent too long: a stalled machine, a
   * store outage) registers again: the tasks it held went to others, and their outcomes
   * from here are dropped, but it can take new ones.
   */
  private async heartbeat(): Promise<void> {
    const port = this.options.membership!.port;
    try {
      const state = await port.heartbeat(this.id);
      if ((state === 'lost' || state === null) && !this.stopping) {
        this.options.logger.warn(
          { worker: this.id },
          'this worker was found lost (its tasks went back); registering again',
        );
        await port.register(this.registration());
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'heartbeat failed');
    }
  }

  /** Asks for a claim: ready tasks may be waiting. */
  private pump(): void {
    this.claimWanted = true;
    this.fill();
  }

  /**
   * Starts exchanges while a slot is free and there is something to send: outcomes, or
   * room for tasks when a claim is wanted. An exchange that carries outcomes also claims
   * (in the same transaction, so at no extra cost).
   */
  private fill(): void {
    while (this.inFlight < this.exchangesInFlight) {
      const room = this.stopping
        ? 0
        : Math.min(
            this.claimPerExchange,
            this.options.concurrency - (this.running.size - this.waiting) - this.claimsInFlight,
          );
      const limit = Math.max(0, room);
      if (this.outcomes.length === 0 && (limit === 0 || !this.claimWanted)) return;
      if (limit > 0) this.claimWanted = false;
      const outcomes = this.outcomes;
      this.outcomes = [];
      void this.exchange(outcomes, limit);
    }
  }

  /** One exchange: reports `outcomes`, claims up to `limit` tasks and runs them. Never throws. */
  private async exchange(outcomes: TaskOutcome[], limit: number): Promise<void> {
    this.inFlight += 1;
    this.claimsInFlight += limit;
    let claimed: ClaimedTask[] = [];
    let done = false;
    try {
      claimed = await this.options.dispatch.exchange(this.id, outcomes, limit, this.options.leaseMs);
      done = true;
    } catch (error) {
      // The store is unreachable: keep the outcomes, and hold this slot for a pause so that
      // a retry is not started at once. A claim wanted still is wanted.
      this.outcomes.unshift(...outcomes);
      if (limit > 0) this.claimWanted = true;
      this.options.logger.warn({ err: error }, 'dispatch exchange failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, exchangeRetryMs));
    }
    this.inFlight -= 1;
    this.claimsInFlight -= limit;
    if (done) this.options.onExchange?.(outcomes.length, claimed.length);
    for (const task of claimed) this.run(task);
    // A full claim suggests more tasks wait; a short one that the queue had no more.
    if (limit > 0 && claimed.length === limit) this.claimWanted = true;
    this.fill();
    this.idle?.();
  }

  private run(task: ClaimedTask): void {
    this.running.set(task.id, task);
    const handler = this.options.handlers[task.kind];
    const work = handler
      ? handler(task, { whileWaiting: (promise) => this.whileWaiting(promise) })
      : Promise.reject(finalFailure('no-handler', `this worker has no handler for ${task.kind} tasks`));
    work
      .then(
        (result): TaskOutcome =>
          'detach' in result
            ? { taskId: task.id, outcome: 'detached' }
            : { taskId: task.id, outcome: 'completed', result: result.result },
        (error: unknown): TaskOutcome => {
          // The one place where what a handler threw becomes the failure stored with the attempt
          // (the store's own outage is told apart here: the domain does not know the driver).
          const failure: TaskFailure = isStoreUnreachable(error)
            ? { code: 'store-unreachable', message: (error as Error).message, retryable: true }
            : failureFromError(error);
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
        this.fillSoon();
      });
  }

  /** See `TaskContext.whileWaiting`: lends the task's slot until `work` settles. */
  private async whileWaiting<T>(work: Promise<T>): Promise<T> {
    if (this.waiting >= (this.options.maxWaiting ?? 0)) return work;
    this.waiting += 1;
    this.fill();
    try {
      return await work;
    } finally {
      this.waiting -= 1;
    }
  }

  /**
   * Fills once the handlers finishing in this turn of the event loop have all reported,
   * so that they share one exchange: starting one at the first outcome would send it alone and
   * leave the rest for the next exchange, halving the batch.
   */
  private fillSoon(): void {
    if (this.fillScheduled) return;
    this.fillScheduled = true;
    setImmediate(() => {
      this.fillScheduled = false;
      this.fill();
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
