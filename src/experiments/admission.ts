/**
 * The admission pass: which launched experiments start, and why the others wait. A
 * launch into a queue with admission limits (`maxJobsPerUser`, `maxActiveJobs`,
 * `maxActiveCores`) is never refused for being over one: it waits `queued`, with its reason
 * and its place in line, and the controller's pass starts it when a place frees, in the
 * order of the policy (domain/admission.ts: the owner's priority within their own line,
 * fair share across owners). Launches into queues without limits are admitted at once, in
 * the launching statement.
 */
import type { ResourceSpec } from '../domain/resource.ts';
import type { Queryable, Store } from '../store/port.ts';
import { getResource } from '../catalogue/catalogue.ts';
import { NotFoundError } from '../domain/errors.ts';
import { planAdmission, type AdmissionCandidate, type AdmissionLimits } from '../domain/admission.ts';
import {
  admitExperiments,
  listWaitingExperiments,
  readActive,
  readGatewayCaps,
  readShares,
  recordWaiting,
} from '../state/admission-state.ts';
import { releaseAdmittedTasks } from '../state/task-state.ts';

/** How many waiting experiments of one owner line a pass looks at: more than any limit needs. */
const waitingReadPerLine = 1000;
/** Serializes admission passes: a controller taking over while the old leader still admits cannot over-admit. */
const admissionLock = 74_110_013;

/** The admission limits of `queue` of `resource`, or undefined when it has none. */
export function admissionLimits(resource: ResourceSpec, queue: string): AdmissionLimits | undefined {
  const spec = resource.config.queues.find((candidate) => candidate.name === queue);
  if (!spec) return undefined;
  const { maxJobsPerUser, maxActiveJobs, maxActiveCores } = spec;
  if (maxJobsPerUser === undefined && maxActiveJobs === undefined && maxActiveCores === undefined) return undefined;
  return { maxJobsPerUser, maxActiveJobs, maxActiveCores };
}

/**
 * Whether a launch on `queue` of `resource` waits for the admission pass: a limit applies
 * there, or its gateway is capped.
 */
export function needsAdmission(resource: ResourceSpec, queue: string, gatewayCapped: boolean): boolean {
  return gatewayCapped || admissionLimits(resource, queue) !== undefined;
}

/** Whether the platform operator capped `gatewayId` (then every launch there waits for the admission pass). */
export async function isGatewayCapped(db: Queryable, gatewayId: string): Promise<boolean> {
  return (await readGatewayCaps(db, [gatewayId])).has(gatewayId);
}

/** What an admission pass did. */
export interface AdmissionPass {
  admitted: number;
  waiting: number;
}

/**
 * One admission pass in one transaction: plans over the waiting experiments, admits those
 * with a place and makes their first tasks ready, and records why the others wait and
 * their place. A resource that no longer exists, or a queue that lost its limits, holds
 * nothing back: the experiment is admitted and its tasks say what is wrong.
 *
 * @param fairShareHalfLifeHours how fast past usage is forgiven (config
 *   `controller.fairShareHalfLifeHours`).
 */
export async function admitWaiting(store: Store, fairShareHalfLifeHours: number): Promise<AdmissionPass> {
  return store.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [admissionLock]);
    const waiting = await listWaitingExperiments(tx, waitingReadPerLine);
    if (waiting.length === 0) return { admitted: 0, waiting: 0 };
    const resources = new Map<string, ResourceSpec | null>();
    for (const candidate of waiting) {
      const key = JSON.stringify([candidate.gatewayId, candidate.resource]);
      if (resources.has(key)) continue;
      resources.set(
        key,
        await getResource(tx, candidate.gatewayId, candidate.resource).catch((error: unknown) => {
          if (error instanceof NotFoundError) return null;
          throw error;
        }),
      );
    }
    const limitsOf = (candidate: AdmissionCandidate) => {
      const resource = resources.get(JSON.stringify([candidate.gatewayId, candidate.resource]));
      return resource ? admissionLimits(resource, candidate.queue) : undefined;
    };
    const caps = await readGatewayCaps(
      tx,
      waiting.map((candidate) => candidate.gatewayId),
    );
    const plan = planAdmission(waiting, {
      limitsOf,
      gatewayCapsOf: (gatewayId) => caps.get(gatewayId),
      ...(await readActive(tx, waiting, [...caps.keys()])),
      shares: await readShares(tx, waiting, fairShareHalfLifeHours),
    });
    const admitted = await admitExperiments(tx, plan.admit);
    await releaseAdmittedTasks(tx, admitted);
    await recordWaiting(tx, plan.waits);
    return { admitted: admitted.length, waiting: plan.waits.length };
  });
}
