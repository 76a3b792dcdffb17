-- Notifications (issue 12): each user's defaults, an experiment's own choice, and the
-- outbox: one delivery per experiment event and channel, written by the statement that
-- writes the event (src/state/notification-outbox.ts), sent and retried by the deliverer.

-- A user's defaults: which experiment events notify them, and where to.
create table notification_settings (
  user_id text primary key references users (id) on delete cascade,
  gateway_id text not null references gateways (id),
  -- of started, completed, failed, canceled
  events text[] not null default '{completed,failed,canceled}',
  email text,
  webhook_url text,
  -- the HMAC key that signs the user's webhooks: AES-256-GCM under the platform key, as
  -- credentials.secret (it must be read back to sign, so it cannot be hashed)
  webhook_secret text,
  updated_at timestamptz not null default now()
);

-- An experiment's own choice, over its owner's defaults: {"events": [...], "email": bool,
-- "webhook": bool}, each key optional; null follows the defaults.
alter table experiments add column notify jsonb;

create table notification_deliveries (
  -- also the idempotency key every attempt of this delivery carries
  id uuid primary key default gen_random_uuid(),
  gateway_id text not null,
  user_id text not null references users (id) on delete cascade,
  experiment_id uuid not null references experiments (id) on delete cascade,
  -- the event that caused it: (experiment_id, event_seq) is the event id
  event_seq integer not null,
  event text not null check (event in ('started', 'completed', 'failed', 'canceled')),
  channel text not null check (channel in ('email', 'webhook')),
  -- the address or URL at the time of the event
  target text not null,
  -- pending: waits for next_attempt_at; sending: claimed until next_attempt_at (a sender
  -- that died leaves it to be claimed again then); delivered and failed are final
  state text not null default 'pending' check (state in ('pending', 'sending', 'delivered', 'failed')),
  attempts integer not null default 0,
  -- attempts made before the owner asked for it again: the limit counts from here
  attempt_base integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_status text,
  last_error text,
  occurred_at timestamptz not null,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  unique (experiment_id, event_seq, channel)
);
create index notification_deliveries_due on notification_deliveries (next_attempt_at) where state in ('pending', 'sending');
create index notification_deliveries_by_user on notification_deliveries (user_id, created_at desc, id desc);

-- Every attempt of a delivery: started when claimed, so an attempt whose sender died shows.
create table notification_attempts (
  delivery_id uuid not null references notification_deliveries (id) on delete cascade,
  attempt integer not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  outcome text not null default 'sending' check (outcome in ('sending', 'delivered', 'failed', 'interrupted')),
  -- the HTTP status or the SMTP server's reply
  status text,
  error text,
  primary key (delivery_id, attempt)
);
