/**
 * The Postgres queue: tasks are rows; claims use `FOR UPDATE SKIP LOCKED` with a lease,
 * LISTEN/NOTIFY wakes idle workers, and a worker's outcomes and its next claim share one
 * transaction so a chain of steps costs one commit per step batch.
 */
import { retryableSqlStates, type Store } from '../store/port.ts';
import { claimTasks, exchangeTasks, renewLeases } from '../state/claim-tasks.ts';
import { readyChannel } from '../state/task-state.ts';
import type { Dispatch } from './port.ts';

/** Creates the Postgres-queue adapter of the Dispatch port over a store. */
export function createPostgresQueue(store: Store): Dispatch {
  return {
    exchange: (workerId, outcomes, limit, leaseMs) => {
      if (outcomes.length > 0) return store.transaction((tx) => exchangeTasks(tx, workerId, outcomes, limit, leaseMs));
      if (limit <= 0) return Promise.resolve([]);
      // A claim alone is one statement: run it as its own transaction, which saves the
      // round trips of BEGIN and COMMIT (what a task waits between submit and start).
      return retryingConflicts(() => claimTasks(store, workerId, limit, leaseMs));
    },
    renew: (workerId, taskIds, leaseMs) => store.transaction((tx) => renewLeases(tx, workerId, taskIds, leaseMs)),
    onReady: (listener) => store.listen(readyChannel, () => listener()),
  };
}

/** Re-runs `work` on a deadlock or serialization failure, as Store.transaction does. */
async function retryingConflicts<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt < 5 && retryableSqlStates.has((error as { code?: string }).code ?? '')) continue;
      throw error;
    }
  }
}
