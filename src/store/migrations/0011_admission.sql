-- Admission (issue 13): a launched experiment over a limit waits `queued` instead of
-- being refused. `admitted_at` says when its first tasks were made ready: at launch when
-- no limit applies to its queue, else when the controller's admission pass found it a
-- place. Until then its root tasks wait `pending` on the admission (one pending
-- dependency more than their edges) and `waiting_reason` / `waiting_place` say why and
-- where it stands, as the last admission pass saw it.
alter table experiments
  add column admitted_at timestamptz,
  add column waiting_reason text,
  add column waiting_place int,
  -- The owner's own priority for it: orders the owner's line, not others' (domain/admission.ts).
  add column priority smallint not null default 0 check (priority between -5 and 5);

-- Everything launched before this migration was admitted at its launch.
update experiments set admitted_at = launched_at where launched_at is not null;

-- The admission pass reads the waiting experiments in launch order (a batch: its items in order).
create index experiments_waiting on experiments (launched_at, created_at, id) where state = 'queued' and admitted_at is null;

-- Fair share: the weight a gateway admin gives a user (2: about twice the starts of a user of weight 1).
-- Double precision, as the API reads it: a `real` turned 0.01000000000000001 into less than 0.01.
alter table users add column share_weight double precision not null default 1
  check (share_weight >= 0.01 and share_weight <= 1000);

-- Caps the platform operator sets on a whole gateway, on all its resources together (null: none).
alter table gateways
  add column max_active_experiments int check (max_active_experiments > 0),
  add column max_active_cores int check (max_active_cores > 0);
