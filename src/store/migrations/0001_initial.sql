-- Drover schema, version 1. One schema for PostgreSQL and PGlite.
-- Every state column is guarded by a check; transitions happen in src/state/*.

create table gateways (
  id text primary key,
  name text not null,
  -- colours and logo for the web UI: {"primary": "#..."}
  theme jsonb not null default '{}',
  created_at timestamptz not null default now()
);

create table users (
  id text primary key default gen_random_uuid()::text,
  gateway_id text not null references gateways (id),
  name text not null,
  role text not null check (role in ('user', 'admin')),
  -- sha256 of the bearer token; the token itself is never stored
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  unique (gateway_id, name)
);

create table resources (
  gateway_id text not null references gateways (id),
  name text not null,
  kind text not null check (kind in ('local', 'slurm', 'pbs')),
  -- scratch directory, queues with limits, connection settings
  config jsonb not null default '{}',
  updated_at timestamptz not null default now(),
  primary key (gateway_id, name)
);

create table applications (
  gateway_id text not null references gateways (id),
  name text not null,
  version text not null,
  -- the ApplicationSpec: inputs, outputs, deployments
  spec jsonb not null,
  updated_at timestamptz not null default now(),
  primary key (gateway_id, name)
);

create table uploads (
  id uuid primary key default gen_random_uuid(),
  gateway_id text not null references gateways (id),
  owner_id text not null references users (id),
  filename text not null,
  size bigint not null,
  created_at timestamptz not null default now()
);

create table experiments (
  id uuid primary key default gen_random_uuid(),
  gateway_id text not null references gateways (id),
  owner_id text not null references users (id),
  name text not null,
  application text not null,
  application_version text not null,
  resource text not null,
  inputs jsonb not null,
  -- queue, nodes, coresPerNode, walltimeMinutes, memoryMb chosen at submit
  settings jsonb not null,
  parent_id uuid references experiments (id) on delete set null,
  state text not null default 'created' check (state in
    ('created', 'queued', 'executing', 'blocked', 'canceling', 'completed', 'failed', 'canceled')),
  -- while blocked: why, until when, and the state to return to
  blocked_reason text,
  blocked_until timestamptz,
  state_before_block text,
  failure jsonb,
  -- the seq of this experiment's newest event; bumped under the row lock so events are gapless
  last_event_seq integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  launched_at timestamptz,
  finished_at timestamptz
);
create index experiments_by_gateway on experiments (gateway_id, created_at desc, id desc);
create index experiments_by_owner on experiments (owner_id, created_at desc, id desc);
create index experiments_by_parent on experiments (parent_id);

create table tasks (
  id bigserial primary key,
  experiment_id uuid not null references experiments (id) on delete cascade,
  kind text not null check (kind in ('env-setup', 'stage-in', 'submit', 'monitor', 'stage-out', 'cleanup', 'noop')),
  state text not null check (state in ('pending', 'ready', 'running', 'completed', 'failed', 'canceled', 'skipped')),
  -- how many dependencies are not yet complete; the task becomes ready at 0
  pending_dependencies integer not null default 0,
  attempt integer not null default 0,
  max_attempts integer not null default 3,
  run_at timestamptz not null default now(),
  lease_owner text,
  lease_expires_at timestamptz,
  -- running without a worker lease: a monitor task waiting on its job
  detached boolean not null default false,
  priority integer not null default 0,
  failure jsonb,
  result jsonb,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);
create index tasks_ready on tasks (priority desc, id) where state = 'ready';
create index tasks_leased on tasks (lease_expires_at) where state = 'running' and not detached;
create index tasks_by_experiment on tasks (experiment_id);

create table task_dependencies (
  task_id bigint not null references tasks (id) on delete cascade,
  depends_on bigint not null references tasks (id) on delete cascade,
  primary key (depends_on, task_id)
);

create table jobs (
  id bigserial primary key,
  experiment_id uuid not null references experiments (id) on delete cascade,
  task_id bigint not null references tasks (id) on delete cascade,
  gateway_id text not null,
  resource text not null,
  -- from task id and attempt; the scheduler carries it so a retried submit adopts the job
  submission_key text not null unique,
  native_id text,
  state text not null check (state in
    ('submitting', 'queued', 'running', 'completed', 'failed', 'canceled', 'timed-out', 'lost')),
  native_state text,
  reason text,
  exit_code integer,
  queue text,
  node_list text,
  workdir text not null,
  details jsonb not null default '{}',
  cancel_requested boolean not null default false,
  submitted_at timestamptz not null default now(),
  started_at timestamptz,
  ended_at timestamptz,
  updated_at timestamptz not null default now()
);
create index jobs_active on jobs (gateway_id, resource) where state in ('submitting', 'queued', 'running');
create index jobs_by_experiment on jobs (experiment_id);

create table events (
  experiment_id uuid not null references experiments (id) on delete cascade,
  seq integer not null,
  at timestamptz not null default clock_timestamp(),
  entity text not null check (entity in ('experiment', 'task', 'job')),
  entity_id text not null,
  -- for tasks: the task kind; for jobs: the native id
  label text,
  from_state text,
  to_state text,
  message text,
  data jsonb,
  primary key (experiment_id, seq)
);
