/**
 * The dispatch outbox of the RabbitMQ adapter: every time a task becomes `ready`, a row is
 * written in the same transaction, and a relay (dispatch/rabbitmq-queue.ts) publishes the
 * due rows with publisher confirms and deletes them after the confirm. So a task is never
 * ready without its message, nor sent without being ready.
 *
 * The row is written by a trigger on `tasks` (migration 0016), not by each statement that
 * makes a task ready: there are many (creation, a successor's release, admission, a retry,
 * lease recovery, a resume or resubmit) and a new one could forget it; a trigger cannot.
 * The trigger exists only while the deployment dispatches through RabbitMQ
 * (`setDispatchOutbox`), so the Postgres queue pays nothing for it.
 */
import type { TaskKind } from '../domain/task.ts';
import type { Queryable, Store } from '../store/port.ts';

/** An advisory lock that serializes starts changing the triggers (DDL on `tasks`). */
const outboxSwitchLock = 74_110_016;

/**
 * Creates the outbox triggers on `tasks` (`enabled`) or drops them, when they are not
 * already so. Enabling also writes a row for every task ready now that has none, so a
 * deployment that switches from the Postgres queue to RabbitMQ loses no ready task.
 * Called at start by every process: all processes of one deployment must agree on the
 * adapter (one with the Postgres queue drops the triggers of the others).
 */
export async function setDispatchOutbox(store: Store, enabled: boolean): Promise<void> {
  const present = async (db: Queryable) =>
    (
      await db.query<{ n: number }>(
        `select count(*)::int as n from pg_trigger where tgrelid = 'tasks'::regclass and tgname like 'tasks_dispatch_outbox%'`,
      )
    )[0]!.n === 2;
  if ((await present(store)) === enabled) return;
  await store.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [outboxSwitchLock]);
    if ((await present(tx)) === enabled) return;
    if (!enabled) {
      await tx.query('drop trigger if exists tasks_dispatch_outbox_insert on tasks');
      await tx.query('drop trigger if exists tasks_dispatch_outbox_update on tasks');
      await tx.query('delete from dispatch_outbox');
      return;
    }
    // Row triggers whose WHEN is checked without calling the function: only a task that
    // becomes ready costs an insert.
    await tx.query(`create or replace trigger tasks_dispatch_outbox_insert after insert on tasks
      for each row when (new.state = 'ready') execute function dispatch_outbox_write()`);
    await tx.query(`create or replace trigger tasks_dispatch_outbox_update after update of state on tasks
      for each row when (new.state = 'ready' and old.state <> 'ready') execute function dispatch_outbox_write()`);
    await tx.query(`insert into dispatch_outbox (task_id, kind, priority, available_at)
      select t.id, t.kind, t.priority, t.run_at from tasks t
      where t.state = 'ready' and not exists (select 1 from dispatch_outbox o where o.task_id = t.id)`);
  });
}

/** A row of the outbox to publish. */
export interface OutboxMessage {
  /** The row's id: the message id, the same for each publish of the row. */
  id: number;
  taskId: number;
  kind: TaskKind;
  priority: number;
}

/**
 * In the caller's transaction: locks up to `limit` due rows that no other relay holds
 * (`SKIP LOCKED`), deletes at once those whose task is no longer ready (nothing is sent
 * for them), and returns the rest, oldest first, to publish; the caller deletes them with
 * `deleteOutboxMessages` after the broker confirmed them, before it commits.
 */
export async function takeDueOutboxMessages(tx: Queryable, limit: number): Promise<OutboxMessage[]> {
  // $1 limit
  const rows = await tx.query<{ id: number; task_id: number; kind: TaskKind; priority: number }>(
    `with due as (
       select o.id from dispatch_outbox o where o.available_at <= now()
       order by o.available_at, o.id limit $1 for update skip locked),
     stale as (
       delete from dispatch_outbox o using due
       where o.id = due.id and not exists (select 1 from tasks t where t.id = o.task_id and t.state = 'ready')
       returning o.id)
     select o.id, o.task_id, o.kind, o.priority from dispatch_outbox o
     where o.id in (select id from due) and o.id not in (select id from stale)
     order by o.available_at, o.id`,
    [limit],
    { prepared: true },
  );
  return rows.map((row) => ({
    id: row.id,
    taskId: row.task_id,
    kind: row.kind,
    priority: row.priority,
  }));
}

/** Deletes published rows (after their confirms), in the transaction that took them. */
export async function deleteOutboxMessages(tx: Queryable, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await tx.query('delete from dispatch_outbox where id = any($1::int8[])', [ids], { prepared: true });
}

/** When the next row not yet due becomes due (a retry's backoff), or null when none waits. */
export async function nextOutboxDueAt(db: Queryable): Promise<Date | null> {
  const rows = await db.query<{ at: Date | null }>(
    'select min(available_at) as at from dispatch_outbox where available_at > now()',
    [],
    { prepared: true },
  );
  return rows[0]?.at ?? null;
}
