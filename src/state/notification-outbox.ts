/**
 * The notification outbox: every write of a notification delivery. A delivery is written by
 * the same statement that writes the experiment event causing it (appendEvents in
 * events.ts and the claim statement in claim-tasks.ts, the only two that write an
 * experiment's start or end), so it commits or rolls back with the state change, and
 * nothing is lost. Deliverers (src/notifications/deliverer.ts) claim due deliveries with
 * `FOR UPDATE SKIP LOCKED` under a claim that runs out, so several processes never send
 * one delivery at once in the normal case, and a delivery whose sender died is claimed
 * again: at least once, each attempt with the delivery's id as its idempotency key.
 */
import {
  notificationRetryDelayMs,
  type AttemptOutcome,
  type NotificationChannel,
  type NotificationEvent,
  type RetryPolicy,
} from '../domain/notification.ts';
import type { Queryable } from '../store/port.ts';

/**
 * SQL of a data-modifying CTE body that queues the deliveries of the events in `events` (a
 * relation with the events table's `experiment_id`, `seq`, `entity`, `from_state`,
 * `to_state` and `at`, such as an insert's RETURNING): one per experiment start or end
 * (as notificationEventOf in domain/notification.ts: queued -> executing is `started`;
 * completed, failed, canceled except a draft's cancel) and channel the owner has set up,
 * for the events the experiment's own choice (`experiments.notify`), else its owner's
 * defaults, name, less the channels the experiment turned off. An owner without settings
 * costs one index probe. Reads the experiment rows as the statement began (owner and
 * choice never change in it).
 */
export function queueDeliveriesSql(events: string): string {
  return `insert into notification_deliveries (gateway_id, user_id, experiment_id, event_seq, event, channel, target, occurred_at)
     select x.gateway_id, x.owner_id, n.experiment_id, n.seq, n.event, c.channel, c.target, n.at
     from (
       select ev.experiment_id, ev.seq, ev.at,
         case when ev.from_state = 'queued' and ev.to_state = 'executing' then 'started'
           when ev.to_state in ('completed', 'failed', 'canceled') and ev.from_state is distinct from 'created' then ev.to_state
         end as event
       from ${events} ev where ev.entity = 'experiment') n
     join experiments x on x.id = n.experiment_id
     join notification_settings s on s.user_id = x.owner_id
     cross join lateral (values
       ('email', s.email, coalesce((x.notify ->> 'email')::boolean, true)),
       ('webhook', s.webhook_url, coalesce((x.notify ->> 'webhook')::boolean, true))) as c(channel, target, wanted)
     where n.event is not null and c.target is not null and c.wanted
       and n.event = any(case when x.notify ? 'events'
         then array(select jsonb_array_elements_text(x.notify -> 'events')) else s.events end)
     on conflict (experiment_id, event_seq, channel) do nothing`;
}

/** A delivery a deliverer claimed, with what its message says. */
export interface ClaimedDelivery {
  /** The delivery's id: the idempotency key of every attempt. */
  id: string;
  /** `<experiment id>:<event seq>`: the event that caused it. */
  eventId: string;
  gatewayId: string;
  userId: string;
  channel: NotificationChannel;
  target: string;
  event: NotificationEvent;
  /** This attempt's number, from 1. */
  attempt: number;
  occurredAt: Date;
  experiment: { id: string; name: string; application: string; state: string; failure: string | null };
  /** The owner's webhook secret, encrypted (null when none). */
  webhookSecret: string | null;
}

/**
 * Claims up to `limit` due deliveries: pending ones whose time has come, and sending ones
 * whose claim ran out (their sender died; its attempt is marked `interrupted`). Each gets
 * attempt + 1, an attempt row, and a claim of `claimMs` (longer than a send may take).
 * A delivery whose claim ran out on its last attempt is `failed` instead. One statement.
 */
export async function claimDeliveries(
  db: Queryable,
  limit: number,
  claimMs: number,
  maxAttempts: number,
): Promise<ClaimedDelivery[]> {
  // $1 limit, $2 claim in ms, $3 max attempts. Returns the claimed deliveries with their
  // experiment and the owner's encrypted webhook secret.
  const rows = await db.query<any>(
    `with given_up as (
       update notification_deliveries set state = 'failed', next_attempt_at = now(),
         last_error = 'its last attempt was interrupted (the process sending it stopped)'
       where state = 'sending' and next_attempt_at <= now() and attempts - attempt_base >= $3
       returning id, attempts),
     picked as (
       select id from notification_deliveries
       where state in ('pending', 'sending') and next_attempt_at <= now() and attempts - attempt_base < $3
       order by next_attempt_at limit $1 for update skip locked),
     claimed as (
       update notification_deliveries d set state = 'sending', attempts = d.attempts + 1,
         next_attempt_at = now() + $2 * interval '1 millisecond'
       where d.id = any(array(select id from picked))
       returning d.id, d.gateway_id, d.user_id, d.experiment_id, d.event_seq, d.event, d.channel, d.target,
         d.attempts, d.occurred_at),
     interrupted as (
       update notification_attempts a set outcome = 'interrupted', finished_at = now(),
         error = 'the process sending it stopped before it could record how it went'
       where a.outcome = 'sending'
         and (a.delivery_id in (select id from claimed) or (a.delivery_id, a.attempt) in (select id, attempts from given_up))),
     logged as (insert into notification_attempts (delivery_id, attempt) select id, attempts from claimed)
     select c.*, x.name, x.application, x.failure ->> 'message' as failure, s.webhook_secret
     from claimed c join experiments x on x.id = c.experiment_id
       left join notification_settings s on s.user_id = c.user_id`,
    [limit, claimMs, maxAttempts],
  );
  return rows.map((row) => ({
    id: row.id,
    eventId: `${row.experiment_id}:${row.event_seq}`,
    gatewayId: row.gateway_id,
    userId: row.user_id,
    channel: row.channel,
    target: row.target,
    event: row.event,
    attempt: row.attempts,
    occurredAt: new Date(row.occurred_at),
    experiment: {
      id: row.experiment_id,
      name: row.name,
      application: row.application,
      state: row.event === 'started' ? 'executing' : row.event,
      failure: row.failure,
    },
    webhookSecret: row.webhook_secret,
  }));
}

/** How one attempt went, as a sender reports it. */
export interface AttemptResult {
  ok: boolean;
  /** The HTTP status or the SMTP server's reply, when there was one. */
  status: string | null;
  /** Why it failed (never a secret). */
  error: string | null;
  /** Worth another attempt (a timeout, a 5xx, a refused connection), or final (a 4xx, an address not allowed). */
  retryable: boolean;
}

/**
 * Records how attempt `attempt` of a delivery went: `delivered`; or, when it failed,
 * `pending` again after the backoff of `policy`, or `failed` when it was final or the last
 * (attempts count from the owner's last "send again").
 * Guarded by the claim (state `sending`, the same attempt): a sender whose claim ran out and
 * was taken over changes nothing. Returns the delivery's new state, or null when guarded off.
 */
export async function recordAttempt(
  db: Queryable,
  deliveryId: string,
  attempt: number,
  result: AttemptResult,
  policy: RetryPolicy,
): Promise<'delivered' | 'pending' | 'failed' | null> {
  const outcome: AttemptOutcome = result.ok ? 'delivered' : 'failed';
  // $1 id, $2 attempt, $3 delivered, $4 retryable, $5 max attempts, $6 status, $7 error,
  // $8 delay before the next attempt in ms, $9 the attempt's outcome. Returns the new state.
  const rows = await db.query<{ state: 'delivered' | 'pending' | 'failed' }>(
    `with moved as (
       update notification_deliveries set
         state = case when $3 then 'delivered' when $4 and attempts - attempt_base < $5 then 'pending' else 'failed' end,
         last_status = $6, last_error = $7,
         next_attempt_at = now() + $8 * interval '1 millisecond',
         delivered_at = case when $3 then now() end
       where id = $1 and state = 'sending' and attempts = $2
       returning state),
     attempted as (
       update notification_attempts set outcome = $9, status = $6, error = $7, finished_at = now()
       where delivery_id = $1 and attempt = $2 and outcome = 'sending' and exists (select 1 from moved))
     select state from moved`,
    [
      deliveryId,
      attempt,
      result.ok,
      result.retryable,
      policy.maxAttempts,
      result.status,
      result.error,
      result.ok ? 0 : notificationRetryDelayMs(attempt, policy),
      outcome,
    ],
  );
  return rows[0]?.state ?? null;
}

/**
 * Sends a `failed` delivery of `userId` again: `pending` now, with a fresh count of
 * attempts (`attempt_base`) and its earlier attempts kept in the log. Returns false when there is no failed delivery of that id of theirs.
 */
export async function retryFailedDelivery(db: Queryable, userId: string, deliveryId: string): Promise<boolean> {
  const rows = await db.query(
    `update notification_deliveries set state = 'pending', next_attempt_at = now(), attempt_base = attempts
     where id = $1 and user_id = $2 and state = 'failed' returning id`,
    [deliveryId, userId],
  );
  return rows.length > 0;
}
