/**
 * The event log: append-only, numbered without gaps per experiment. Every state
 * transition appends its event in the transaction that makes it.
 */
import type { Queryable } from '../store/port.ts';
import { terminalExperimentStates } from '../domain/experiment.ts';
import { queueDeliveriesSql } from './notification-outbox.ts';

/** Channel on which the ids of experiments with new events are announced. */
export const eventsChannel = 'drover_events';

/** Channel on which "some task became ready" is announced, to wake idle workers. */
export const readyChannel = 'drover_ready';

/**
 * Channel on which "who may start may have changed" is announced: an experiment moved to
 * `queued` (one more may wait) or ended (a place freed), or a priority, weight or limit
 * changed. The controller runs its admission pass when it hears one (and now and then
 * regardless), not every pass.
 */
export const admissionChannel = 'drover_admission';

/** The experiment states whose arrival `appendEvents` announces on `admissionChannel`. */
const admissionStates: ReadonlySet<string> = new Set(['queued', ...terminalExperimentStates]);

/** The notice on `admissionChannel` when one of `events` is an experiment's arrival at `queued` or its end; else none. */
export function admissionNotices(events: readonly NewEvent[]): Notice[] {
  const changed = events.some((event) => event.entity === 'experiment' && admissionStates.has(event.toState ?? ''));
  return changed ? [{ channel: admissionChannel, payload: '' }] : [];
}

/** Announces on `admissionChannel` at commit: a setting that orders or limits admission changed. */
export async function announceAdmissionChange(tx: Queryable): Promise<void> {
  await tx.query(`select pg_notify($1, '')`, [admissionChannel]);
}

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

/** A notification to send at commit: `pg_notify(channel, payload)`. */
export interface Notice {
  channel: string;
  payload: string;
}

/**
 * Appends events in one statement. The experiment row's `last_event_seq` is bumped under
 * its row lock, so concurrent writers to one experiment serialize and numbers never skip.
 * Also announces the experiments on `eventsChannel` at commit (and on `admissionChannel`
 * when one arrives at `queued` or ends), sends `notices` (other
 * notifications of the caller's transaction) and queues the notification deliveries of an
 * experiment's start or end (queueDeliveriesSql, notification-outbox.ts), in the same statement.
 */
export async function appendEvents(tx: Queryable, events: NewEvent[], notices: Notice[] = []): Promise<void> {
  const ids = [...new Set(events.map((event) => event.experimentId))];
  const announce = [...notices, ...admissionNotices(events)];
  for (let start = 0; start < ids.length; start += 100) {
    announce.push({ channel: eventsChannel, payload: ids.slice(start, start + 100).join(',') });
  }
  // $1 channels, $2 payloads
  const notify = 'select pg_notify(n.channel, n.payload) from unnest($1::text[], $2::text[]) as n(channel, payload)';
  const channels = announce.map((notice) => notice.channel);
  const payloads = announce.map((notice) => notice.payload);
  if (events.length === 0) {
    if (announce.length > 0) await tx.query(notify, [channels, payloads]);
    return;
  }
  // $1 channels, $2 payloads (notifications), $3 jsonb array of events, $4 their experiment
  // ids. Locks experiments in id order to avoid deadlocks between batches. The id array
  // lets the planner use the primary key (a join against the jsonb rows alone is estimated
  // at 100 rows and scans the whole table). The insert runs whatever the final select reads.
  await tx.query(
    `with input as (select * from ${eventRecordset('$3')}),
     counts as (select experiment_id, count(*)::int as n from input group by experiment_id),
     locked as (select e.id from experiments e where e.id = any($4::uuid[]) order by e.id for update),
     bumped as (
       update experiments e set last_event_seq = e.last_event_seq + c.n
       from counts c, locked l where e.id = any($4::uuid[]) and e.id = c.experiment_id and l.id = e.id
       returning e.id, e.last_event_seq - c.n as base),
     inserted as (
       insert into events (experiment_id, seq, entity, entity_id, label, from_state, to_state, message, data)
       select i.experiment_id, b.base + row_number() over (partition by i.experiment_id order by i.ord),
         i.entity, i.entity_id, i.label, i.from_state, i.to_state, i.message, i.data
       from input i join bumped b on b.id = i.experiment_id
       returning experiment_id, seq, entity, from_state, to_state, at),
     notified as (${queueDeliveriesSql('inserted')})
     ${notify}`,
    [channels, payloads, encodeEvents(events), ids],
  );
}

/**
 * Events as the jsonb parameter that `eventRecordset` reads: one object per event with
 * its position `ord` (0, 1, ...), which orders the numbering within each experiment.
 */
export function encodeEvents(events: NewEvent[]): string {
  return JSON.stringify(
    events.map((event, ord) => ({
      ord,
      experiment_id: event.experimentId,
      entity: event.entity,
      entity_id: event.entityId,
      label: event.label ?? null,
      from_state: event.fromState ?? null,
      to_state: event.toState ?? null,
      message: event.message ?? null,
      data: event.data ?? null,
    })),
  );
}

/** SQL for the rows of `encodeEvents` passed as `parameter` (e.g. `$3`), with the events table's columns. */
export function eventRecordset(parameter: string): string {
  return `jsonb_to_recordset(${parameter}::jsonb) as x(ord int, experiment_id uuid, entity text, entity_id text,
         label text, from_state text, to_state text, message text, data jsonb)`;
}

/** Events of one experiment after `afterSeq`, oldest first. */
export async function listEvents(
  db: Queryable,
  experimentId: string,
  afterSeq = 0,
  limit = 1000,
): Promise<EventRecord[]> {
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
