/**
 * Admission: which launched experiments start, and why the others wait. A launch into a
 * queue with a per-user limit (`maxJobsPerUser`) is never refused for being over it: it
 * waits `queued`, with its reason and its place in line, and the controller's admission
 * pass starts it when a place frees, first launched first. Launches into queues without
 * limits are admitted at once, in the launching statement.
 */
import type { ResourceSpec } from '../domain/resource.ts';
import type { Store } from '../store/port.ts';
import { getResource } from '../catalogue/catalogue.ts';
import { NotFoundError } from '../domain/errors.ts';
import {
  admitExperiments,
  countAdmittedByScope,
  listWaitingExperiments,
  ownerScopeKey,
  recordWaiting,
  type WaitingExperiment,
} from '../state/experiment-state.ts';
import { releaseAdmittedTasks } from '../state/task-state.ts';

/** How many waiting experiments of one owner scope a pass looks at: more than any limit needs. */
const waitingReadPerScope = 1000;
/** Serializes admission passes: a controller taking over while the old leader still admits cannot over-admit. */
const admissionLock = 74_110_013;

/** The per-user limit of active experiments on `queue` of `resource`, if it has one. */
export function perUserLimit(resource: ResourceSpec, queue: string): number | undefined {
  return resource.config.queues.find((candidate) => candidate.name === queue)?.maxJobsPerUser;
}

/** Whether a launch on `queue` of `resource` waits for the admission pass (a limit applies there). */
export function needsAdmission(resource: ResourceSpec, queue: string): boolean {
  return perUserLimit(resource, queue) !== undefined;
}

/** What an admission pass did. */
export interface AdmissionPass {
  admitted: number;
  waiting: number;
}

/**
 * One admission pass: admits, first launched first, every waiting experiment whose scope
 * has a free place, makes its first tasks ready, and records why the others wait and
 * their place. A resource that no longer exists, or a queue that lost its limit, holds
 * nothing back: the experiment is admitted and its tasks say what is wrong.
 */
export async function admitWaiting(store: Store): Promise<AdmissionPass> {
  return store.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [admissionLock]);
    const waiting = await listWaitingExperiments(tx, waitingReadPerScope);
    if (waiting.length === 0) return { admitted: 0, waiting: 0 };
    const resources = new Map<string, ResourceSpec | null>();
    const limitOf = async (experiment: WaitingExperiment) => {
      const key = JSON.stringify([experiment.gatewayId, experiment.resource]);
      if (!resources.has(key)) {
        resources.set(
          key,
          await getResource(tx, experiment.gatewayId, experiment.resource).catch((error: unknown) => {
            if (error instanceof NotFoundError) return null;
            throw error;
          }),
        );
      }
      const resource = resources.get(key);
      return resource ? perUserLimit(resource, experiment.queue) : undefined;
    };
    const active = await countAdmittedByScope(tx, waiting);
    // Places taken this pass move the rest of their line forward.
    const admittedInScope = new Map<string, number>();
    const admit: string[] = [];
    const waits: Array<{ id: string; reason: string; place: number }> = [];
    for (const experiment of waiting) {
      const limit = await limitOf(experiment);
      const key = ownerScopeKey(experiment);
      const inUse = active.get(key) ?? 0;
      if (limit === undefined || inUse < limit) {
        admit.push(experiment.id);
        active.set(key, inUse + 1);
        admittedInScope.set(key, (admittedInScope.get(key) ?? 0) + 1);
        continue;
      }
      waits.push({
        id: experiment.id,
        reason: `${inUse} of your experiments ${inUse === 1 ? 'is' : 'are'} active on queue ${experiment.queue} of ${experiment.resource}, the most it allows one user`,
        place: experiment.place - (admittedInScope.get(key) ?? 0),
      });
    }
    const admitted = await admitExperiments(tx, admit);
    await releaseAdmittedTasks(tx, admitted);
    await recordWaiting(tx, waits);
    return { admitted: admitted.length, waiting: waits.length };
  });
}
