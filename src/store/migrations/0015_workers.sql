-- Workers as members (issue 14). A worker registers with what it can run and heartbeats;
-- the claim (state/claim-tasks.ts) hands a task only to a worker whose row allows it, and
-- the controller calls a worker lost when its heartbeats stop and puts its tasks back.
create table workers (
  id text primary key,
  state text not null check (state in ('active', 'stopping', 'stopped', 'lost')),
  -- the task kinds it runs
  kinds text[] not null,
  -- the resources it reaches, as names or gateway/name; null: every resource
  resources text[],
  concurrency integer not null check (concurrency > 0),
  version text not null,
  host text not null,
  pid integer not null,
  heartbeat_ms integer not null check (heartbeat_ms > 0),
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  stopped_at timestamptz
);
-- The controller's look for silent workers, every pass.
create index workers_live on workers (heartbeat_at) where state in ('active', 'stopping');

-- Attempts of this run that did not count: the worker died under them (worker_losses too)
-- or handed them back while draining. Each gave the task one more attempt (max_attempts),
-- so a worker's death never fails a task; worker_losses bounds a task that kills every worker.
alter table tasks
  add column uncounted_attempts int not null default 0 check (uncounted_attempts >= 0),
  add column worker_losses int not null default 0 check (worker_losses >= 0);
