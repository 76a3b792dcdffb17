/**
 * The admission policy: which waiting experiments start now, in which order, and why the
 * others wait. Pure: experiments/admission.ts reads the waiting experiments, what is
 * active and each owner's usage from the store, and applies the plan.
 *
 * Order. Within one owner's line (same resource and queue) the owner's own priority comes
 * first (higher first), then launch order. Across owners, fair share: an owner's k-th
 * waiting experiment (k from 0) scores
 *
 *     (active + k + 1) * 2^(usage / meanUsage) / weight
 *
 * and lower scores start first (ties by launch order). `active` is what the owner already
 * runs on that queue, so a newcomer's first experiment goes before the k-th of someone
 * with a thousand waiting; `usage` is the owner's recent core-hours (decayed over the
 * configured half-life) divided by the weight the gateway admin gave them, against the mean
 * of the owners waiting in the same gateway, so heavy users wait longer; `weight` (default
 * 1) gives an owner proportionally more.
 *
 * Limits, checked in that order: the queue's per-user limit of active experiments
 * (`maxJobsPerUser`), its limits for all users together (`maxActiveJobs`, and
 * `maxActiveCores` of cores in use), then the gateway's caps on all its resources
 * (`maxActiveExperiments`, `maxActiveCores`, set by the platform operator). A per-user
 * limit holds back only its owner. A limit for all users closes its queue (or gateway) for
 * everyone after in the order: nothing behind jumps ahead (no backfill), so a large request
 * is not starved by smaller ones. An experiment larger than a core limit alone starts when
 * nothing else is active there.
 */

/** A queue's admission limits; every one is optional. */
export interface AdmissionLimits {
  maxJobsPerUser?: number;
  maxActiveJobs?: number;
  maxActiveCores?: number;
}

/** What the platform operator caps a whole gateway at, on all its resources together; every one optional. */
export interface GatewayCaps {
  maxActiveExperiments?: number;
  maxActiveCores?: number;
}

/** A launched experiment waiting for admission. */
export interface AdmissionCandidate {
  id: string;
  gatewayId: string;
  ownerId: string;
  resource: string;
  queue: string;
  /** Nodes times cores per node. */
  cores: number;
  /** The owner's own priority for it, -5 to 5 (default 0): orders the owner's line only. */
  priority: number;
}

/** What is active now (admitted, not ended), and who has used what. */
export interface AdmissionState {
  /** The limits of a candidate's queue; undefined when it has none (or its resource is gone). */
  limitsOf(candidate: AdmissionCandidate): AdmissionLimits | undefined;
  /** Active experiments per owner line (ownerLineKey). */
  activeByOwner: Map<string, number>;
  /** Active experiments and cores per queue (queueKey). */
  activeByQueue: Map<string, { jobs: number; cores: number }>;
  /** A gateway's caps, set by the platform operator; undefined when it has none. */
  gatewayCapsOf(gatewayId: string): GatewayCaps | undefined;
  /** Active experiments and cores per gateway, on all its resources. */
  activeByGateway: Map<string, { jobs: number; cores: number }>;
  /** Per owner (ownerKey): the weight the gateway admin gave them (default 1) and their decayed core-hours. */
  shares: Map<string, { weight: number; usage: number }>;
}

/** The plan: who starts, and for the others why they wait and their place in line (1: next). */
export interface AdmissionPlan {
  admit: string[];
  waits: Array<{ id: string; reason: string; place: number }>;
}

/** The owner's line of a candidate: one owner on one queue of one resource. */
export function ownerLineKey(line: { gatewayId: string; ownerId: string; resource: string; queue: string }): string {
  return JSON.stringify([line.gatewayId, line.ownerId, line.resource, line.queue]);
}

/** A queue of a gateway's resource. */
export function queueKey(queue: { gatewayId: string; resource: string; queue: string }): string {
  return JSON.stringify([queue.gatewayId, queue.resource, queue.queue]);
}

/** An owner within a gateway. */
export function ownerKey(owner: { gatewayId: string; ownerId: string }): string {
  return JSON.stringify([owner.gatewayId, owner.ownerId]);
}

/** Lowest and highest priority an owner may give their own experiments. */
export const experimentPriorityRange = { min: -5, max: 5 } as const;

/**
 * Plans one admission pass over `candidates`, given in launch order (a batch in its
 * order). Deterministic: the same candidates and state give the same plan.
 */
export function planAdmission(candidates: readonly AdmissionCandidate[], state: AdmissionState): AdmissionPlan {
  const launchOrder = new Map(candidates.map((candidate, index) => [candidate.id, index]));
  const score = fairShareScores(candidates, state, launchOrder);
  const ordered = [...candidates].sort(
    (a, b) => score.get(a.id)! - score.get(b.id)! || launchOrder.get(a.id)! - launchOrder.get(b.id)!,
  );

  const activeByOwner = new Map(state.activeByOwner);
  const activeByQueue = new Map([...state.activeByQueue].map(([key, value]) => [key, { ...value }]));
  const activeByGateway = new Map([...state.activeByGateway].map(([key, value]) => [key, { ...value }]));
  /** Queues and gateways a limit for all users closed this pass: why, and how many wait behind it. */
  const closed = new Map<string, { reason: string; waiting: number }>();
  const waitingInLine = new Map<string, number>();
  const plan: AdmissionPlan = { admit: [], waits: [] };

  for (const candidate of ordered) {
    const limits = state.limitsOf(candidate);
    const line = ownerLineKey(candidate);
    const where = `queue ${candidate.queue} of ${candidate.resource}`;
    const ownerActive = activeByOwner.get(line) ?? 0;

    if (limits?.maxJobsPerUser !== undefined && ownerActive >= limits.maxJobsPerUser) {
      const place = (waitingInLine.get(line) ?? 0) + 1;
      waitingInLine.set(line, place);
      plan.waits.push({
        id: candidate.id,
        reason: `${ownerActive} of your experiments ${ownerActive === 1 ? 'is' : 'are'} active on ${where}, the most it allows one user`,
        place,
      });
      continue;
    }
    // Limits for all users: the queue's, then the gateway's cap.
    const gatewayCaps = state.gatewayCapsOf(candidate.gatewayId);
    const scopes = [
      {
        key: `queue ${queueKey(candidate)}`,
        where,
        maxJobs: limits?.maxActiveJobs,
        maxCores: limits?.maxActiveCores,
        active: activeByQueue,
        activeKey: queueKey(candidate),
      },
      {
        key: `gateway ${candidate.gatewayId}`,
        where: `gateway ${candidate.gatewayId}`,
        maxJobs: gatewayCaps?.maxActiveExperiments,
        maxCores: gatewayCaps?.maxActiveCores,
        active: activeByGateway,
        activeKey: candidate.gatewayId,
      },
    ];
    let holding: { reason: string; waiting: number } | undefined;
    for (const scope of scopes) {
      holding = closed.get(scope.key);
      if (!holding) {
        const reason = sharedLimitReason(scope, scope.active.get(scope.activeKey), candidate.cores);
        if (reason) closed.set(scope.key, (holding = { reason, waiting: 0 }));
      }
      if (holding) break;
    }
    if (holding) {
      holding.waiting += 1;
      plan.waits.push({ id: candidate.id, reason: holding.reason, place: holding.waiting });
      continue;
    }
    plan.admit.push(candidate.id);
    activeByOwner.set(line, ownerActive + 1);
    for (const scope of scopes) {
      const active = scope.active.get(scope.activeKey) ?? { jobs: 0, cores: 0 };
      scope.active.set(scope.activeKey, { jobs: active.jobs + 1, cores: active.cores + candidate.cores });
    }
  }
  return plan;
}

/**
 * Why a limit for all users of a scope (a queue, or a whole gateway) holds back a
 * candidate needing `cores`, or null when it fits. A candidate larger than the core limit
 * fits an empty scope.
 */
function sharedLimitReason(
  limit: { where: string; maxJobs?: number; maxCores?: number },
  active: { jobs: number; cores: number } = { jobs: 0, cores: 0 },
  cores: number,
): string | null {
  if (limit.maxJobs !== undefined && active.jobs >= limit.maxJobs) {
    const most =
      limit.maxJobs === 1 ? '1 experiment at once, and it is' : `${limit.maxJobs} experiments at once, and all are`;
    return `${limit.where} runs at most ${most} taken`;
  }
  if (limit.maxCores !== undefined && active.cores > 0 && active.cores + cores > limit.maxCores) {
    return `${limit.where} allows ${limit.maxCores} cores in use at once; ${active.cores} are in use and this needs ${cores}`;
  }
  return null;
}

/** Each candidate's fair-share score (see the module comment); lower starts first. */
function fairShareScores(
  candidates: readonly AdmissionCandidate[],
  state: AdmissionState,
  launchOrder: Map<string, number>,
): Map<string, number> {
  const shareOf = (candidate: AdmissionCandidate) => state.shares.get(ownerKey(candidate)) ?? { weight: 1, usage: 0 };
  // The mean usage per unit of weight of the owners waiting in each gateway.
  const owners = new Map<string, { gatewayId: string; normalized: number }>();
  for (const candidate of candidates) {
    const share = shareOf(candidate);
    owners.set(ownerKey(candidate), { gatewayId: candidate.gatewayId, normalized: share.usage / share.weight });
  }
  const meanUsage = new Map<string, { total: number; count: number }>();
  for (const { gatewayId, normalized } of owners.values()) {
    const mean = meanUsage.get(gatewayId) ?? { total: 0, count: 0 };
    meanUsage.set(gatewayId, { total: mean.total + normalized, count: mean.count + 1 });
  }

  // Each owner's line in its own order: their priority, then launch order.
  const lines = new Map<string, AdmissionCandidate[]>();
  for (const candidate of candidates) {
    const key = ownerLineKey(candidate);
    const line = lines.get(key);
    if (line) line.push(candidate);
    else lines.set(key, [candidate]);
  }
  const scores = new Map<string, number>();
  for (const [key, line] of lines) {
    line.sort((a, b) => b.priority - a.priority || launchOrder.get(a.id)! - launchOrder.get(b.id)!);
    const share = shareOf(line[0]);
    const mean = meanUsage.get(line[0].gatewayId)!;
    const reference = mean.total / mean.count;
    const penalty = reference > 0 ? 2 ** (share.usage / share.weight / reference) : 1;
    const active = state.activeByOwner.get(key) ?? 0;
    line.forEach((candidate, k) => scores.set(candidate.id, ((active + k + 1) * penalty) / share.weight));
  }
  return scores;
}
