-- A creating request's Idempotency-Key and its answer (src/api/idempotency.ts), so a client
-- that retries after a lost answer gets the first answer again instead of a second
-- experiment. Written in the transaction that creates, so a key is stored exactly when its
-- experiments are. Kept 24 hours; a user's expired keys go at their next keyed request.
create table idempotency_keys (
  user_id text not null references users (id) on delete cascade,
  key text not null,
  -- sha-256 of the method, the route and the body: the same key with another request is refused
  fingerprint text not null,
  status smallint not null,
  -- the answer's body (the JSON sent) and Location header
  body json not null,
  location text,
  created_at timestamptz not null default now(),
  primary key (user_id, key)
);
