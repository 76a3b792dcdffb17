/**
 * The delivery log as its owner reads it: each delivery with its channel, event, target,
 * state, attempts and how each went. A user sees their own deliveries only (admins too:
 * notifications are personal), newest first, a page at a time.
 */
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import {
  deliveryStates,
  notificationChannels,
  type AttemptOutcome,
  type DeliveryState,
  type NotificationChannel,
  type NotificationEvent,
} from '../domain/notification.ts';
import { uuidPattern } from '../domain/validate-inputs.ts';
import type { Queryable } from '../store/port.ts';
import { retryFailedDelivery } from '../state/notification-outbox.ts';

/** One attempt of a delivery. */
export interface DeliveryAttempt {
  attempt: number;
  startedAt: string;
  finishedAt: string | null;
  outcome: AttemptOutcome;
  status: string | null;
  error: string | null;
}

/** One delivery as the log shows it. */
export interface Delivery {
  /** Also the idempotency key its attempts carried. */
  id: string;
  /** `<experiment id>:<seq>`. */
  eventId: string;
  experimentId: string;
  experimentName: string;
  event: NotificationEvent;
  channel: NotificationChannel;
  target: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: string | null;
  lastError: string | null;
  occurredAt: string;
  /** When the next attempt is due (pending), or its claim ends (sending); null once final. */
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  attemptLog: DeliveryAttempt[];
}

/** Filters of the log. */
export interface DeliveryFilter {
  experimentId?: string;
  state?: DeliveryState;
  channel?: NotificationChannel;
  limit?: number;
  cursor?: string;
}

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());

function toDelivery(row: any): Delivery {
  const final = row.state === 'delivered' || row.state === 'failed';
  return {
    id: row.id,
    eventId: `${row.experiment_id}:${row.event_seq}`,
    experimentId: row.experiment_id,
    experimentName: row.experiment_name,
    event: row.event,
    channel: row.channel,
    target: row.target,
    state: row.state,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    occurredAt: iso(row.occurred_at)!,
    nextAttemptAt: final ? null : iso(row.next_attempt_at),
    deliveredAt: iso(row.delivered_at),
    attemptLog: (row.attempt_log ?? []).map((attempt: any) => ({
      attempt: attempt.attempt,
      startedAt: iso(attempt.started_at)!,
      finishedAt: iso(attempt.finished_at),
      outcome: attempt.outcome,
      status: attempt.status,
      error: attempt.error,
    })),
  };
}

const columns = `d.id, d.experiment_id, d.event_seq, x.name as experiment_name, d.event, d.channel, d.target, d.state,
  d.attempts, d.last_status, d.last_error, d.occurred_at, d.next_attempt_at, d.delivered_at, d.created_at::text as created_key,
  (select json_agg(a order by a.attempt) from notification_attempts a where a.delivery_id = d.id) as attempt_log`;

/**
 * A page of the user's deliveries, newest first; `nextCursor` continues it.
 * @throws {ValidationError} naming a bad filter or cursor.
 */
export async function listDeliveries(
  db: Queryable,
  userId: string,
  filter: DeliveryFilter,
): Promise<{ items: Delivery[]; nextCursor: string | null }> {
  const limit = filter.limit ?? 50;
  const params: unknown[] = [userId];
  const where = ['d.user_id = $1'];
  // Each filter: its field in errors, its value, whether the value is fine, what to say if not, its column.
  const filters: Array<[string, string | undefined, (value: string) => boolean, string, string]> = [
    [
      'experiment',
      filter.experimentId,
      (value) => uuidPattern.test(value),
      'must be an experiment id',
      'experiment_id',
    ],
    [
      'state',
      filter.state,
      (value) => isOneOf(deliveryStates, value),
      `must be one of ${deliveryStates.join(', ')}`,
      'state',
    ],
    [
      'channel',
      filter.channel,
      (value) => isOneOf(notificationChannels, value),
      `must be one of ${notificationChannels.join(', ')}`,
      'channel',
    ],
  ];
  for (const [field, value, valid, message, column] of filters) {
    if (value === undefined) continue;
    if (!valid(value)) throw new ValidationError('invalid filter', [{ field, message }]);
    params.push(value);
    where.push(`d.${column} = $${params.length}`);
  }
  if (filter.cursor !== undefined) {
    const after = decodeCursor(filter.cursor);
    params.push(after.createdAt, after.id);
    where.push(`(d.created_at, d.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(limit + 1);
  const rows = await db.query<any>(
    `select ${columns} from notification_deliveries d join experiments x on x.id = d.experiment_id
     where ${where.join(' and ')} order by d.created_at desc, d.id desc limit $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toDelivery),
    nextCursor:
      rows.length > limit && last
        ? Buffer.from(JSON.stringify({ createdAt: last.created_key, id: last.id })).toString('base64url')
        : null,
  };
}

const isOneOf = (values: readonly string[], value: string) => values.includes(value);

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      typeof value.createdAt === 'string' &&
      !Number.isNaN(Date.parse(value.createdAt)) &&
      uuidPattern.test(value.id)
    ) {
      return value;
    }
  } catch {
    // below
  }
  throw new ValidationError('invalid cursor', [
    { field: 'cursor', message: 'pass the nextCursor of the previous page as it is' },
  ]);
}

/** One of the user's deliveries. @throws {NotFoundError} when they have none of that id. */
export async function getDelivery(db: Queryable, userId: string, id: string): Promise<Delivery> {
  if (!uuidPattern.test(id)) throw new NotFoundError(`delivery ${JSON.stringify(id)}`);
  const rows = await db.query<any>(
    `select ${columns} from notification_deliveries d join experiments x on x.id = d.experiment_id
     where d.id = $1 and d.user_id = $2`,
    [id, userId],
  );
  if (rows.length === 0) throw new NotFoundError(`delivery ${id}`);
  return toDelivery(rows[0]);
}

/**
 * Sends a failed delivery of the user's again, with a fresh count of attempts.
 * @throws {NotFoundError} when they have no delivery of that id; ConflictError when it has not failed.
 */
export async function redeliver(db: Queryable, userId: string, id: string): Promise<Delivery> {
  const current = await getDelivery(db, userId, id);
  if (current.state !== 'failed' || !(await retryFailedDelivery(db, userId, id))) {
    throw new ConflictError(
      `the delivery is ${current.state}; only a failed delivery is sent again`,
      [],
      'invalid-state',
    );
  }
  return getDelivery(db, userId, id);
}
