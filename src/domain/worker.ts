/**
 * Workers as members: what a worker says it can run (its capabilities), the states of its
 * membership, and the rule that decides whether it may run a task. The `workers` table
 * (migration 0015) stores them; state/worker-state.ts owns its rows; the claim
 * (state/claim-tasks.ts) applies `mayRun` in SQL, joining the claiming worker's row.
 */
import { taskKinds, type TaskKind } from './task.ts';

/**
 * What a worker can run: the task kinds it has handlers for, and the resources it can
 * reach. `resources` null means every resource; an entry is a resource name (that resource
 * in any gateway) or `<gateway>/<name>` (that gateway's resource alone).
 */
export interface WorkerCapabilities {
  kinds: TaskKind[];
  resources: string[] | null;
}

/** Every kind, every resource: a worker's capabilities unless its configuration narrows them. */
export const allCapabilities: WorkerCapabilities = { kinds: [...taskKinds], resources: null };

/**
 * active: claims and runs tasks, heartbeating. stopping: draining after SIGTERM (claims
 * nothing new). stopped: left cleanly. lost: its heartbeats stopped (the controller's
 * verdict); its tasks went back to the queue. A lost worker that was only slow comes back
 * `active` at its next heartbeat.
 */
export const workerStates = ['active', 'stopping', 'stopped', 'lost'] as const;
export type WorkerState = (typeof workerStates)[number];

const allowed: Record<WorkerState, readonly WorkerState[]> = {
  active: ['stopping', 'stopped', 'lost'],
  stopping: ['stopped', 'lost'],
  stopped: [],
  lost: ['active'],
};

/** The states a worker may be in for a move to `to` (the guards state/worker-state.ts writes). */
export function workerStatesBefore(to: WorkerState): WorkerState[] {
  return workerStates.filter((from) => allowed[from].includes(to));
}

/** Heartbeats a worker may miss before the controller calls it lost. */
export const missedHeartbeatsBeforeLost = 3;

/**
 * Times a task's worker may die under it in one run before the task fails: each loss
 * costs no attempt (the handler did nothing wrong), but a task that kills every worker
 * that takes it (a poison task: out of memory, a crash in a native library) must end.
 */
export const maxWorkerLosses = 10;

/** A worker as it registers: who and where it is, and what it can run. */
export interface WorkerRegistration extends WorkerCapabilities {
  id: string;
  concurrency: number;
  /** The Drover version it runs (package.json). */
  version: string;
  host: string;
  pid: number;
  /** How often it heartbeats; it is lost after `missedHeartbeatsBeforeLost` of them. */
  heartbeatMs: number;
}

/**
 * Whether a worker with `capabilities` may run a task of `kind` on the experiment's
 * resource (`gatewayId`, `resource`). The claim SQL applies the same rule
 * (state/claim-tasks.ts; the state suite checks that they agree).
 */
export function mayRun(
  capabilities: WorkerCapabilities,
  task: { kind: TaskKind; gatewayId: string; resource: string },
): boolean {
  if (!capabilities.kinds.includes(task.kind)) return false;
  if (capabilities.resources === null) return true;
  return (
    capabilities.resources.includes(task.resource) ||
    capabilities.resources.includes(`${task.gatewayId}/${task.resource}`)
  );
}
