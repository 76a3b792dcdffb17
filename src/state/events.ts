/**
 * The event log: append-only, numbered without gaps per experiment. Every state
 * transition appends its event in the transaction that makes it.
 */
import type { Queryable } from '../store/port.ts';

/** Channel on which the ids of experiments with new events are announced. */
export const eventsChannel = 'drover_events';

/** One event to append. */
export interface NewEvent {
  experimentId: string;
  entity: 'experiment' | 'task' | 'job';
  entityId: string;
  /** Task kind or job native id, for readers. */
  label?: string | null;
  fromState?: string | null;
  toState?: string | null;
  message?: string | null;
  data?: unknown;
}

/** An event as stored and served. */
export interface EventRecord {
  experimentId: string;
  seq: number;
  at: Date;
  entity: NewEvent['entity'];
  entityId: string;
  label: string | null;
  fromState: string | null;
  toState: string | null;
  message: string | null;
  data: unknown;
}

/**
 * Appends events in one statement. The experiment row's `last_event_seq` is bumped under
 * its row lock, so concurrent writers to one experiment serialize and numbers never skip.
 * Also announces the experiments on `eventsChannel` at commit.
 */
export async function appendEvents(tx: Queryable, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((event, ord) => ({
    ord,
    experiment_id: event.experimentId,
    entity: event.entity,
    entity_id: event.entityId,
    label: event.label ?? null,
    from_state: event.fromState ?? null,
    to_state: event.toState ?? null,
    message: event.message ?? null,
    data: event.data ?? null,
  }));
  // $1: jsonb array of events. Locks experiments in id order to avoid deadlocks between batches.
  await tx.query(
    `with input as (
       select * from jsonb_to_recordset($1::jsonb) as x(ord int, experiment_id uuid, entity text, entity_id text,
         label text, from_state text, to_state text, message text, data jsonb)),
     counts as (select experiment_id, count(*)::int as n from input group by experiment_id),
     locked as (select e.id from experiments e join counts c on c.experiment_id = e.id order by e.id for update of e),
     bumped as (
       update experiments e set last_event_seq = e.last_event_seq + c.n
       from counts c, locked l where e.id = c.experiment_id and l.id = e.id
       returning e.id, e.last_event_seq - c.n as base)
     insert into events (experiment_id, seq, entity, entity_id, label, from_state, to_state, message, data)
     select i.experiment_id, b.base + row_number() over (partition by i.experiment_id order by i.ord),
       i.entity, i.entity_id, i.label, i.from_state, i.to_state, i.message, i.data
     from input i join bumped b on b.id = i.experiment_id`,
    [JSON.stringify(rows)],
  );
  const ids = [...new Set(events.map((event) => event.experimentId))];
  for (let start = 0; start < ids.length; start += 100) {
    await tx.query('select pg_notify($1, $2)', [eventsChannel, ids.slice(start, start + 100).join(',')]);
  }
}

/** Events of one experiment after `afterSeq`, oldest first. */
export async function listEvents(db: Queryable, experimentId: string, afterSeq = 0, limit = 1000): Promise<EventRecord[]> {
  const rows = await db.query<any>(
    `select experiment_id, seq, at, entity, entity_id, label, from_state, to_state, message, data
     from events where experiment_id = $1 and seq > $2 order by seq limit $3`,
    [experimentId, afterSeq, limit],
  );
  return rows.map((row) => ({
    experimentId: row.experiment_id,
    seq: row.seq,
    at: row.at,
    entity: row.entity,
    entityId: row.entity_id,
    label: row.label,
    fromState: row.from_state,
    toState: row.to_state,
    message: row.message,
    data: row.data,
  }));
}
