/**
 * The Postgres queue: tasks are rows; claims use `FOR UPDATE SKIP LOCKED` with a lease,
 * LISTEN/NOTIFY wakes idle workers, and a worker's outcomes and its next claim share one
 * transaction so a chain of steps costs one commit per step batch.
 */
import type { Store } from '../store/port.ts';
import { applyOutcomes, claimTasks, readyChannel, renewLeases } from '../state/task-state.ts';
import type { Dispatch } from './port.ts';

/** Creates the Postgres-queue adapter of the Dispatch port over a store. */
export function createPostgresQueue(store: Store): Dispatch {
  return {
    exchange: (workerId, outcomes, limit, leaseMs) =>
      store.transaction(async (tx) => {
        await applyOutcomes(tx, { workerId }, outcomes);
        return limit > 0 ? claimTasks(tx, workerId, limit, leaseMs) : [];
      }),
    renew: (workerId, taskIds, leaseMs) => store.transaction((tx) => renewLeases(tx, workerId, taskIds, leaseMs)),
    onReady: (listener) => store.listen(readyChannel, () => listener()),
  };
}
