/**
 * What admission reads and writes (the policy is domain/admission.ts, the pass
 * experiments/admission.ts): the waiting experiments, what is active per owner line and
 * per queue, each owner's weight and decayed usage, and the admission itself. A waiting
 * experiment is `queued` with no `admitted_at` (migration 0011); its root tasks wait
 * `pending` until releaseAdmittedTasks (task-state.ts).
 */
import {
  ownerKey,
  ownerLineKey,
  queueKey,
  type AdmissionCandidate,
  type AdmissionState,
  type GatewayCaps,
} from '../domain/admission.ts';
import { activeExperimentStatesSql } from '../domain/experiment.ts';
import type { Queryable } from '../store/port.ts';
import { announceAdmissionChange } from './events.ts';

/** An experiment's cores, from its job settings. */
const coresSql = `coalesce((e.settings->>'nodes')::int, 1) * coalesce((e.settings->>'coresPerNode')::int, 1)`;

/**
 * The launched experiments not yet admitted, in launch order (a batch in its order): the
 * first `perLine` of each owner line in the owner's own order (priority, then launch), so
 * that one owner's flood does not hide the others'. Blocked ones are left out: they come
 * back `queued` when their resource answers.
 */
export async function listWaitingExperiments(db: Queryable, perLine: number): Promise<WaitingExperiment[]> {
  const rows = await db.query<any>(
    `select id, gateway_id, owner_id, resource, queue, cores, priority, waiting_reason, waiting_place from (
       select e.id, e.gateway_id, e.owner_id, e.resource, e.settings->>'queue' as queue, ${coresSql} as cores,
         e.priority, e.launched_at, e.created_at, e.waiting_reason, e.waiting_place,
         row_number() over (partition by e.gateway_id, e.owner_id, e.resource, e.settings->>'queue'
           order by e.priority desc, e.launched_at, e.created_at, e.id) as rank
       from experiments e where e.state = 'queued' and e.admitted_at is null) waiting
     where rank <= $1 order by launched_at, created_at, id`,
    [perLine],
  );
  return rows.map((row) => ({
    id: row.id,
    gatewayId: row.gateway_id,
    ownerId: row.owner_id,
    resource: row.resource,
    queue: row.queue,
    cores: Number(row.cores),
    priority: Number(row.priority),
    shown: row.waiting_reason === null ? null : { reason: row.waiting_reason, place: row.waiting_place },
  }));
}

/** A waiting experiment with the reason and place the last pass recorded (null before the first). */
export interface WaitingExperiment extends AdmissionCandidate {
  shown: { reason: string; place: number } | null;
}

/**
 * What is active (launched, admitted, not ended) on the queues of `candidates`: per owner
 * line, and per queue with its cores; and on all the resources of each of `cappedGateways`.
 */
export async function readActive(
  db: Queryable,
  candidates: readonly AdmissionCandidate[],
  cappedGateways: readonly string[],
): Promise<Pick<AdmissionState, 'activeByOwner' | 'activeByQueue' | 'activeByGateway'>> {
  const queues = [...new Map(candidates.map((candidate) => [queueKey(candidate), candidate])).values()];
  // $1 gateways, $2 resources, $3 queues (pairwise)
  const rows = await db.query<any>(
    `select e.gateway_id, e.owner_id, e.resource, e.settings->>'queue' as queue, count(*)::int as jobs,
       sum(${coresSql})::int as cores
     from experiments e
     where e.state in ${activeExperimentStatesSql} and e.admitted_at is not null
       and (e.gateway_id, e.resource, e.settings->>'queue') in (select * from unnest($1::text[], $2::text[], $3::text[]))
     group by 1, 2, 3, 4`,
    [queues.map((queue) => queue.gatewayId), queues.map((queue) => queue.resource), queues.map((queue) => queue.queue)],
  );
  const activeByOwner = new Map<string, number>();
  const activeByQueue = new Map<string, { jobs: number; cores: number }>();
  for (const row of rows) {
    const line = { gatewayId: row.gateway_id, ownerId: row.owner_id, resource: row.resource, queue: row.queue };
    activeByOwner.set(ownerLineKey(line), row.jobs);
    const total = activeByQueue.get(queueKey(line)) ?? { jobs: 0, cores: 0 };
    activeByQueue.set(queueKey(line), { jobs: total.jobs + row.jobs, cores: total.cores + row.cores });
  }
  const activeByGateway = new Map<string, { jobs: number; cores: number }>();
  if (cappedGateways.length > 0) {
    const totals = await db.query<any>(
      `select e.gateway_id, count(*)::int as jobs, sum(${coresSql})::int as cores from experiments e
       where e.state in ${activeExperimentStatesSql} and e.admitted_at is not null and e.gateway_id = any($1::text[])
       group by 1`,
      [cappedGateways],
    );
    for (const row of totals) activeByGateway.set(row.gateway_id, { jobs: row.jobs, cores: row.cores });
  }
  return { activeByOwner, activeByQueue, activeByGateway };
}

/** The caps the platform operator set on each of `gatewayIds` that has any. */
export async function readGatewayCaps(db: Queryable, gatewayIds: readonly string[]): Promise<Map<string, GatewayCaps>> {
  const rows = await db.query<any>(
    `select id, max_active_experiments, max_active_cores from gateways
     where id = any($1::text[]) and (max_active_experiments is not null or max_active_cores is not null)`,
    [[...new Set(gatewayIds)]],
  );
  return new Map(rows.map((row) => [row.id, capsOf(row)]));
}

function capsOf(row: { max_active_experiments: number | null; max_active_cores: number | null }): GatewayCaps {
  return {
    ...(row.max_active_experiments !== null ? { maxActiveExperiments: row.max_active_experiments } : {}),
    ...(row.max_active_cores !== null ? { maxActiveCores: row.max_active_cores } : {}),
  };
}

/**
 * Sets a gateway's caps (left out: none). Returns them, or null when there is no such
 * gateway.
 */
export async function setGatewayCaps(db: Queryable, gatewayId: string, caps: GatewayCaps): Promise<GatewayCaps | null> {
  const rows = await db.query<any>(
    `update gateways set max_active_experiments = $2, max_active_cores = $3 where id = $1
     returning max_active_experiments, max_active_cores`,
    [gatewayId, caps.maxActiveExperiments ?? null, caps.maxActiveCores ?? null],
  );
  if (rows.length === 0) return null;
  await announceAdmissionChange(db);
  return capsOf(rows[0]);
}

/** A gateway's caps ({} when none), or null when there is no such gateway. */
export async function getGatewayCaps(db: Queryable, gatewayId: string): Promise<GatewayCaps | null> {
  const rows = await db.query<any>('select max_active_experiments, max_active_cores from gateways where id = $1', [
    gatewayId,
  ]);
  return rows.length > 0 ? capsOf(rows[0]) : null;
}

/**
 * Each candidate owner's weight and usage: the core-hours of their jobs (running ones up to
 * now), each halved for every `halfLifeHours` since it ended. Jobs that ended more than ten
 * half-lives ago (under 0.1%) are not read.
 */
export async function readShares(
  db: Queryable,
  candidates: readonly AdmissionCandidate[],
  halfLifeHours: number,
): Promise<AdmissionState['shares']> {
  const owners = [...new Set(candidates.map((candidate) => candidate.ownerId))];
  // $1 owners, $2 half-life in hours
  const rows = await db.query<any>(
    `select u.gateway_id, u.id as owner_id, u.share_weight as weight, coalesce(sum(
         ${coresSql} * extract(epoch from coalesce(j.ended_at, now()) - j.started_at) / 3600
         * power(0.5, extract(epoch from now() - coalesce(j.ended_at, now()))::float8 / 3600 / $2::float8)), 0) as usage
     from users u
       left join experiments e on e.owner_id = u.id
         and (e.finished_at is null or e.finished_at > now() - $2::float8 * 10 * interval '1 hour')
       left join jobs j on j.experiment_id = e.id and j.started_at is not null
         and (j.ended_at is null or j.ended_at > now() - $2::float8 * 10 * interval '1 hour')
     where u.id = any($1::text[])
     group by u.gateway_id, u.id, u.share_weight`,
    [owners, halfLifeHours],
  );
  return new Map(
    rows.map((row) => [
      ownerKey({ gatewayId: row.gateway_id, ownerId: row.owner_id }),
      { weight: Number(row.weight), usage: Math.max(0, Number(row.usage)) },
    ]),
  );
}

/**
 * Admits waiting experiments (still `queued` and not admitted): records when, and clears
 * their waiting reason. Returns the ids admitted; the caller then releases their tasks
 * (releaseAdmittedTasks) in the same transaction.
 */
export async function admitExperiments(tx: Queryable, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await tx.query<{ id: string }>(
    `update experiments set admitted_at = now(), waiting_reason = null, waiting_place = null, updated_at = now()
     where id = any($1::uuid[]) and state = 'queued' and admitted_at is null returning id`,
    [ids],
  );
  return rows.map((row) => row.id);
}

/**
 * Records why waiting experiments wait and their place in line (1: next). Give only
 * changes (a steady pass writes nothing); they bump `updated_at`, so the live list shows
 * them.
 */
export async function recordWaiting(
  db: Queryable,
  waits: ReadonlyArray<{ id: string; reason: string; place: number }>,
): Promise<void> {
  if (waits.length === 0) return;
  await db.query(
    `update experiments e set waiting_reason = w.reason, waiting_place = w.place, updated_at = now()
     from unnest($1::uuid[], $2::text[], $3::int[]) as w(id, reason, place)
     where e.id = w.id and e.state = 'queued' and e.admitted_at is null
       and (e.waiting_reason, e.waiting_place) is distinct from (w.reason, w.place)`,
    [waits.map((wait) => wait.id), waits.map((wait) => wait.reason), waits.map((wait) => wait.place)],
  );
}

/**
 * Sets a user's fair-share weight within their gateway (2: about twice the starts of a
 * user of weight 1 when both wait). Returns false when the gateway has no such user.
 */
export async function setShareWeight(db: Queryable, gatewayId: string, name: string, weight: number): Promise<boolean> {
  const rows = await db.query(`update users set share_weight = $3 where gateway_id = $1 and name = $2 returning id`, [
    gatewayId,
    name,
    weight,
  ]);
  if (rows.length > 0) await announceAdmissionChange(db);
  return rows.length > 0;
}
