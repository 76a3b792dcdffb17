/**
 * Notifications, pure: the experiment events a user can be told of, the channels, a
 * delivery's states, how the owner's defaults and an experiment's own choice combine, the
 * retry schedule, and the checks on an address or URL a user gives.
 */
import { controlCharacterPattern } from './application.ts';
import type { FieldProblem } from './errors.ts';

/** The experiment events that notify: queued -> executing, and the three ends. */
export const notificationEvents = ['started', 'completed', 'failed', 'canceled'] as const;
export type NotificationEvent = (typeof notificationEvents)[number];

/** Where a notification goes. */
export const notificationChannels = ['email', 'webhook'] as const;
export type NotificationChannel = (typeof notificationChannels)[number];

/**
 * A delivery's states: `pending` waits for its next attempt, `sending` is claimed by a
 * deliverer (until its claim runs out), `delivered` and `failed` are final.
 */
export const deliveryStates = ['pending', 'sending', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof deliveryStates)[number];

/** What an attempt came to; `interrupted`: its sender stopped before it could record one. */
export const attemptOutcomes = ['sending', 'delivered', 'failed', 'interrupted'] as const;
export type AttemptOutcome = (typeof attemptOutcomes)[number];

/** The events a user's defaults notify of until they choose: the ends of a run (the scheduler's "mail on end, abort"). */
export const defaultNotificationEvents: readonly NotificationEvent[] = ['completed', 'failed', 'canceled'];

/**
 * An experiment's own choice over its owner's defaults; a key left out follows them.
 * `email: false` or `webhook: false` turns that channel off for this experiment.
 */
export interface ExperimentNotify {
  events?: NotificationEvent[];
  email?: boolean;
  webhook?: boolean;
}

/** The retry schedule of a delivery (config `notifications`). */
export interface RetryPolicy {
  /** Attempts in all before a delivery is `failed`. */
  maxAttempts: number;
  /** Delay after the first failed attempt; doubles after each. */
  retryBaseMs: number;
  /** The longest delay between attempts. */
  retryCapMs: number;
}

/**
 * The delay before attempt `attempt + 1` after attempt `attempt` failed: exponential from
 * `retryBaseMs`, capped at `retryCapMs`, with up to a fifth taken off at random so that
 * the deliveries of one outage do not all come back at once.
 */
export function notificationRetryDelayMs(attempt: number, policy: RetryPolicy, random = Math.random()): number {
  const delay = Math.min(policy.retryCapMs, policy.retryBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (1 - 0.2 * random));
}

/** The notification an experiment's move from `from` to `to` gives, or null. A draft's cancel gives none. */
export function notificationEventOf(from: string | null, to: string | null): NotificationEvent | null {
  if (from === 'queued' && to === 'executing') return 'started';
  if ((to === 'completed' || to === 'failed' || to === 'canceled') && from !== 'created') return to;
  return null;
}

/** The most characters of an email address (RFC 5321's path limit). */
const maxEmailLength = 254;
/**
 * One plain address, `local@domain`: no display name, no list, no comment, no quoting, so
 * that what is stored is exactly one recipient.
 */
const emailPattern =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** Problems with an email address a user gives (`field` names it), none when it is fine. */
export function checkEmailAddress(value: string, field: string): FieldProblem[] {
  if (value.length > maxEmailLength || !emailPattern.test(value)) {
    return [{ field, message: 'must be one email address such as ada@example.org (no name, no list)' }];
  }
  return [];
}

/** The most characters of a webhook URL. */
const maxUrlLength = 2000;

/**
 * Problems with a webhook URL a user gives, none when it is fine: an absolute http or https
 * URL without user name or password (the signature authenticates Drover, and credentials in
 * a URL end up in logs), without a fragment, within 2000 characters. Whether its address may
 * be reached is the platform's setting, checked when it is sent (and here for an IP literal,
 * by the caller).
 */
export function checkWebhookUrl(value: string, field: string): FieldProblem[] {
  const problem = (message: string) => [{ field, message }];
  if (value.length > maxUrlLength) return problem(`must be at most ${maxUrlLength} characters`);
  if (controlCharacterPattern.test(value) || /\s/.test(value))
    return problem('must not hold spaces or control characters');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return problem('must be an absolute URL such as https://example.org/hooks/drover');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return problem('must be an http:// or https:// URL');
  if (url.username || url.password)
    return problem('must not hold a user name or password: the signature authenticates Drover');
  if (url.hash) return problem('must not hold a #fragment');
  return [];
}
