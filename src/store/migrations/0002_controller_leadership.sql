-- Leadership of singleton controller duties: one row, taken or renewed with an expiry.
-- A lease row (rather than a session advisory lock) works through any connection pool
-- and on PGlite alike; a standby takes over once the holder stops renewing.
create table controller_leadership (
  name text primary key,
  holder text not null,
  expires_at timestamptz not null
);
