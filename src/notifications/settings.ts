/**
 * A user's notification settings: which experiment events notify them by default, their
 * email address and webhook URL, and the webhook's signing secret (generated here, shown
 * once, rotatable; kept encrypted under the platform key like SSH credentials, because it
 * must be read back to sign). Each user reads and writes only their own.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { ValidationError, type FieldProblem } from '../domain/errors.ts';
import {
  checkEmailAddress,
  checkWebhookUrl,
  defaultNotificationEvents,
  notificationEvents,
  type NotificationEvent,
} from '../domain/notification.ts';
import type { Queryable } from '../store/port.ts';
import { decryptSecret, encryptSecret } from '../credentials/credentials.ts';
import type { AddressPolicy } from './address-policy.ts';

/** Who asks: a user of a gateway. */
export interface SettingsOwner {
  userId: string;
  gatewayId: string;
}

/** A user's settings as the API shows them: never the secret itself. */
export interface NotificationSettings {
  events: NotificationEvent[];
  email: string | null;
  webhookUrl: string | null;
  /** True when the user has a webhook secret (shown once, when made). */
  webhookSecretSet: boolean;
  /** True when this Drover can send email (an SMTP server is configured). */
  emailAvailable: boolean;
  updatedAt: string | null;
}

/** A change of settings: a key left out stays as it is; null removes an address. */
export interface SettingsChange {
  events?: NotificationEvent[];
  email?: string | null;
  webhookUrl?: string | null;
}

/** What the settings routes need from the platform. */
export interface SettingsPolicy {
  platformKey: Buffer;
  /** False when no SMTP server is configured: an email address is then refused. */
  emailAvailable: boolean;
  /** The platform's webhook address policy, checked here on an IP literal (host names: at each send). */
  webhookAddresses: AddressPolicy;
}

const secretContext = (gatewayId: string, userId: string) => `drover-webhook-secret:${gatewayId}/${userId}`;

/** A new webhook secret: `whsec_` and 32 random bytes in base64url; the HMAC key is this text's bytes. */
function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** The signing key of a stored (encrypted) webhook secret. @throws {Error} when it does not decrypt. */
export function decryptWebhookSecret(platformKey: Buffer, stored: string, gatewayId: string, userId: string): Buffer {
  return decryptSecret(platformKey, stored, secretContext(gatewayId, userId));
}

/** The user's settings (the defaults when they have set none). */
export async function getNotificationSettings(
  db: Queryable,
  owner: SettingsOwner,
  policy: Pick<SettingsPolicy, 'emailAvailable'>,
): Promise<NotificationSettings> {
  const rows = await db.query<any>(
    `select events, email, webhook_url, webhook_secret is not null as secret_set, updated_at
     from notification_settings where user_id = $1`,
    [owner.userId],
  );
  const row = rows[0];
  return {
    events: row ? row.events : [...defaultNotificationEvents],
    email: row?.email ?? null,
    webhookUrl: row?.webhook_url ?? null,
    webhookSecretSet: row?.secret_set ?? false,
    emailAvailable: policy.emailAvailable,
    updatedAt: row ? new Date(row.updated_at).toISOString() : null,
  };
}

/**
 * Changes the user's settings. Setting a webhook URL when the user has no secret makes one,
 * returned once as `webhookSecret`.
 * @throws {ValidationError} naming each bad field: an event not known, an address that is
 * not one plain address (or no SMTP server to send to it), a URL that is not http(s), holds
 * credentials, or is an IP literal the platform does not allow.
 */
export async function updateNotificationSettings(
  db: Queryable,
  owner: SettingsOwner,
  change: SettingsChange,
  policy: SettingsPolicy,
): Promise<NotificationSettings & { webhookSecret?: string }> {
  const problems: FieldProblem[] = [];
  if (change.events !== undefined) {
    const unknown = change.events.filter((event) => !notificationEvents.includes(event));
    if (unknown.length > 0) {
      problems.push({
        field: 'events',
        message: `must be some of ${notificationEvents.join(', ')}; not ${unknown.join(', ')}`,
      });
    }
  }
  if (typeof change.email === 'string') {
    problems.push(...checkEmailAddress(change.email, 'email'));
    if (!policy.emailAvailable) {
      problems.push({
        field: 'email',
        message:
          'this Drover sends no email: the platform operator has not configured an SMTP server (notifications.email.smtpUrl)',
      });
    }
  }
  if (typeof change.webhookUrl === 'string') {
    const urlProblems = checkWebhookUrl(change.webhookUrl, 'webhookUrl');
    problems.push(...urlProblems);
    if (urlProblems.length === 0) {
      const host = new URL(change.webhookUrl).hostname.replace(/^\[(.*)\]$/, '$1');
      const refusal = isIP(host) !== 0 ? policy.webhookAddresses.refusal(host) : null;
      if (refusal) problems.push({ field: 'webhookUrl', message: refusal });
    }
  }
  if (problems.length > 0) throw new ValidationError('invalid notification settings', problems);

  const secret = typeof change.webhookUrl === 'string' ? newWebhookSecret() : null;
  // $1 user, $2 gateway, $3 events (null: keep), $4 set email?, $5 email, $6 set URL?, $7 URL,
  // $8 a new encrypted secret for a user who has none (null: none needed). Returns whether
  // the new secret was stored.
  const rows = await db.query<{ secret_made: boolean }>(
    `insert into notification_settings as s (user_id, gateway_id, events, email, webhook_url, webhook_secret)
     values ($1, $2, coalesce($3::text[], $9::text[]), $5, $7, $8)
     on conflict (user_id) do update set
       events = coalesce($3::text[], s.events),
       email = case when $4 then $5 else s.email end,
       webhook_url = case when $6 then $7 else s.webhook_url end,
       webhook_secret = coalesce(s.webhook_secret, $8),
       updated_at = now()
     returning (webhook_secret is not distinct from $8 and $8 is not null) as secret_made`,
    [
      owner.userId,
      owner.gatewayId,
      change.events ? [...new Set(change.events)] : null,
      change.email !== undefined,
      change.email ?? null,
      change.webhookUrl !== undefined,
      change.webhookUrl ?? null,
      secret === null
        ? null
        : encryptSecret(policy.platformKey, Buffer.from(secret), secretContext(owner.gatewayId, owner.userId)),
      [...defaultNotificationEvents],
    ],
  );
  const settings = await getNotificationSettings(db, owner, policy);
  return rows[0]?.secret_made && secret !== null ? { ...settings, webhookSecret: secret } : settings;
}

/**
 * Makes the user a new webhook secret, replacing the old one at once (deliveries from now
 * on are signed with it), and returns it: the only time it is shown.
 */
export async function rotateWebhookSecret(
  db: Queryable,
  owner: SettingsOwner,
  platformKey: Buffer,
): Promise<{ webhookSecret: string }> {
  const secret = newWebhookSecret();
  await db.query(
    `insert into notification_settings as s (user_id, gateway_id, webhook_secret) values ($1, $2, $3)
     on conflict (user_id) do update set webhook_secret = excluded.webhook_secret, updated_at = now()`,
    [
      owner.userId,
      owner.gatewayId,
      encryptSecret(platformKey, Buffer.from(secret), secretContext(owner.gatewayId, owner.userId)),
    ],
  );
  return { webhookSecret: secret };
}
