-- Parameter sweeps (issue 13): one request creates a parent and N experiments over varied
-- inputs. Each element is a normal experiment that names its sweep and its index in it;
-- resubmitting a failed element adds a newer experiment at the same index (the sweep shows
-- the newest per index, the older ones stay as history).
create table sweeps (
  id uuid primary key default gen_random_uuid(),
  gateway_id text not null references gateways (id),
  owner_id text not null references users (id),
  name text not null,
  application text not null,
  resource text not null,
  -- the inputs every element shares, and the varied ones as asked ({ n: { values: [...] } } ...)
  inputs jsonb not null,
  vary jsonb not null,
  -- the varied inputs in the order asked (jsonb keeps keys in its own order): the product's
  -- loop order and the elements' columns
  varied_inputs text[] not null,
  combine text not null check (combine in ('product', 'zip')),
  -- what the elements were created with besides inputs (queue, nodes, ..., priority, notify), for clones
  settings jsonb not null,
  element_count int not null check (element_count between 1 and 1000),
  -- the sweep it was cloned from
  parent_id uuid references sweeps (id) on delete set null,
  created_at timestamptz not null default now()
);
create index sweeps_by_gateway on sweeps (gateway_id, created_at desc, id desc);
create index sweeps_by_owner on sweeps (owner_id, created_at desc, id desc);

alter table experiments
  add column sweep_id uuid references sweeps (id),
  add column sweep_index int check (sweep_index >= 0),
  add constraint experiments_sweep_element check ((sweep_id is null) = (sweep_index is null));
-- A sweep's elements by index, newest attempt first (the sweep page, resubmit-failed).
create index experiments_by_sweep on experiments (sweep_id, sweep_index, created_at desc) where sweep_id is not null;
