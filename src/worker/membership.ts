/**
 * A worker's membership of the deployment (issue 14): it registers with what it can run,
 * heartbeats, and leaves. The rows live in the store whatever the dispatch adapter, so
 * this is one small port beside Dispatch, with one adapter over the Store port.
 */
import type { WorkerRegistration, WorkerState } from '../domain/worker.ts';
import type { Store } from '../store/port.ts';
import { markStopped, markStopping, recordHeartbeat, registerWorker } from '../state/worker-state.ts';

/** What a worker tells the deployment about itself. */
export interface Membership {
  /** Registers (or registers again, after being found lost) as `active`. */
  register(worker: WorkerRegistration): Promise<void>;
  /** A heartbeat; returns the worker's state as stored (null: no row), so a lost one can register again. */
  heartbeat(workerId: string): Promise<WorkerState | null>;
  /** Starts draining: claims nothing from now on. */
  drain(workerId: string): Promise<void>;
  /** Leaves: hands back the tasks of `handBack` it still holds (costing no attempt); returns those handed back. */
  leave(workerId: string, handBack: number[]): Promise<number[]>;
}

/** The Membership port over the store (state/worker-state.ts). */
export function createStoreMembership(store: Store): Membership {
  return {
    register: (worker) => registerWorker(store, worker),
    heartbeat: (workerId) => recordHeartbeat(store, workerId),
    drain: (workerId) => markStopping(store, workerId),
    leave: (workerId, handBack) => store.transaction((tx) => markStopped(tx, workerId, handBack)),
  };
}
