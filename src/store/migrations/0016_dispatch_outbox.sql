-- The RabbitMQ dispatch's transactional outbox (issue 14): one row per time a task became
-- ready, written in the same transaction by a trigger on tasks, published by a relay with
-- publisher confirms and deleted after the confirm (src/dispatch/rabbitmq-queue.ts). So a
-- task is never ready without its message, nor sent without being ready.
--
-- The triggers are not created here: state/dispatch-outbox.ts creates them when a process
-- starts with the RabbitMQ adapter and drops them when one starts with the Postgres queue,
-- so the Postgres queue pays nothing for the outbox (no trigger fires, no row is written).
create table dispatch_outbox (
  id bigserial primary key,
  task_id bigint not null,
  kind text not null,
  priority integer not null,
  -- the task's run_at: a retry after a backoff is published when it is due, not before
  available_at timestamptz not null
);

create index dispatch_outbox_due on dispatch_outbox (available_at, id);

-- The message (its outbox row's id) whose claim started a task's running attempt: a
-- message that comes back (its worker died) takes over only the attempt it started, never
-- a later one another message started. Null under the Postgres queue.
alter table tasks add column dispatch_message bigint;

-- One statement per line end below: migrate.ts splits on semicolons at line ends.
create function dispatch_outbox_write() returns trigger language plpgsql as $$ begin insert into dispatch_outbox (task_id, kind, priority, available_at) values (new.id, new.kind, new.priority, new.run_at); return null; end $$;
