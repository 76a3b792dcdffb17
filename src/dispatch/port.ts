/**
 * Dispatch port: how ready tasks reach workers and how their outcomes come back.
 * Adapters: the Postgres queue (the default) and the RabbitMQ queue.
 */
import type { ClaimedTask, TaskOutcome } from '../domain/task.ts';

export type { ClaimedTask, TaskOutcome };

export interface Dispatch {
  /**
   * In one round trip: applies `outcomes` reported by `workerId` (completions make their
   * successors ready in the same transaction), then claims up to `limit` ready tasks with
   * a lease of `leaseMs`. Outcomes for tasks the worker no longer holds are dropped.
   */
  exchange(workerId: string, outcomes: TaskOutcome[], limit: number, leaseMs: number): Promise<ClaimedTask[]>;
  /** Extends the leases of running tasks; returns the ids the worker still holds. */
  renew(workerId: string, taskIds: number[], leaseMs: number): Promise<number[]>;
  /** Calls `listener` when tasks may have become ready. Returns an unsubscribe. */
  onReady(listener: () => void): Promise<() => Promise<void>>;
}

/**
 * Thrown when a dispatch adapter cannot start (the broker unreachable or refusing its
 * queues). A start-up error (family: errors that stop a process with a message, see
 * domain/errors.ts).
 */
export class DispatchError extends Error {
  override name = 'DispatchError';
}
