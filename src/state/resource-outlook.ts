/**
 * What Drover itself knows about starting on a resource soon (the `auto` choice,
 * experiments/resource-choice.ts): its admission line on each candidate queue and how long
 * recent runs there took.
 */
import { activeExperimentStatesSql } from '../domain/experiment.ts';
import type { Queryable } from '../store/port.ts';

/** Drover's view of one resource and queue for one owner. */
export interface LineOutlook {
  resource: string;
  queue: string;
  /** Launched there and waiting for admission (every owner of the gateway). */
  waiting: number;
  /** Admitted and not ended: the owner's own, and everyone's in the gateway. */
  ownerActive: number;
  queueActive: number;
  /** Admitted and not ended on the resource, any queue, in the gateway: how busy Drover keeps it. */
  resourceActive: number;
  /** Mean seconds from start to end of the last 20 completed jobs there, null when none. */
  recentRunSeconds: number | null;
}

/**
 * One round trip for all candidates (pairs of resource and queue) of `ownerId`'s new
 * experiment in `gatewayId`. Recent runs are the gateway's jobs on the resource (any queue):
 * the same program runs about as long wherever it is queued.
 */
export async function readLineOutlooks(
  db: Queryable,
  gatewayId: string,
  ownerId: string,
  candidates: ReadonlyArray<{ resource: string; queue: string }>,
): Promise<LineOutlook[]> {
  // $1 gateway, $2 owner, $3 resources, $4 queues (pairwise)
  const rows = await db.query<any>(
    `select c.resource, c.queue,
       (select count(*)::int from experiments e where e.gateway_id = $1 and e.resource = c.resource
          and e.settings->>'queue' = c.queue and e.state = 'queued' and e.admitted_at is null) as waiting,
       (select count(*)::int from experiments e where e.gateway_id = $1 and e.resource = c.resource
          and e.settings->>'queue' = c.queue and e.state in ${activeExperimentStatesSql}
          and e.admitted_at is not null and e.owner_id = $2) as owner_active,
       (select count(*)::int from experiments e where e.gateway_id = $1 and e.resource = c.resource
          and e.settings->>'queue' = c.queue and e.state in ${activeExperimentStatesSql}
          and e.admitted_at is not null) as queue_active,
       (select count(*)::int from experiments e where e.gateway_id = $1 and e.resource = c.resource
          and e.state in ${activeExperimentStatesSql} and e.admitted_at is not null) as resource_active,
       (select avg(extract(epoch from recent.ended_at - recent.started_at))::float8 from (
          select j.started_at, j.ended_at from jobs j
          where j.gateway_id = $1 and j.resource = c.resource and j.state = 'completed' and j.started_at is not null
          order by j.ended_at desc limit 20) recent) as recent_run_seconds
     from unnest($3::text[], $4::text[]) as c(resource, queue)`,
    [
      gatewayId,
      ownerId,
      candidates.map((candidate) => candidate.resource),
      candidates.map((candidate) => candidate.queue),
    ],
  );
  return rows.map((row) => ({
    resource: row.resource,
    queue: row.queue,
    waiting: row.waiting,
    ownerActive: row.owner_active,
    queueActive: row.queue_active,
    resourceActive: row.resource_active,
    recentRunSeconds: row.recent_run_seconds === null ? null : Number(row.recent_run_seconds),
  }));
}
