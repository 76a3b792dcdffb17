/**
 * The Postgres queue: tasks are rows; claims use `FOR UPDATE SKIP LOCKED` with a lease,
 * LISTEN/NOTIFY wakes idle workers, and a worker's outcomes and its next claim share one
 * transaction so a chain of steps costs one commit per step batch.
 */
import { retryOnConflict, type Store } from '../store/port.ts';
import { claimTasks, exchangeTasks, renewLeases } from '../state/claim-tasks.ts';
import { readyChannel } from '../state/events.ts';
import type { Dispatch } from './port.ts';

/** Creates the Postgres-queue adapter of the Dispatch port over a store. */
export function createPostgresQueue(store: Store): Dispatch {
  return {
    exchange: (workerId, outcomes, limit, leaseMs) => {
      if (outcomes.length > 0) return store.transaction((tx) => exchangeTasks(tx, workerId, outcomes, limit, leaseMs));
      if (limit <= 0) return Promise.resolve([]);
      // A claim alone is one statement: run it as its own transaction, which saves the
      // round trips of BEGIN and COMMIT (what a task waits between submit and start).
      return retryOnConflict(() => claimTasks(store, workerId, limit, leaseMs));
    },
    renew: (workerId, taskIds, leaseMs) => store.transaction((tx) => renewLeases(tx, workerId, taskIds, leaseMs)),
    onReady: (listener) => store.listen(readyChannel, () => listener()),
  };
}
