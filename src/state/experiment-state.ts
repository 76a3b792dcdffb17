/**
 * Experiment transitions: each a guarded update (the row must be in a state the table in
 * domain/experiment.ts allows) plus its event, in the caller's transaction. One move is
 * made elsewhere: claimTasks (task-state.ts) moves the experiments of the tasks it claims
 * from queued to executing inside its claim statement, under the same lock and guard.
 */
import { experimentStatesBefore, isTerminalExperimentState, type ExperimentState } from '../domain/experiment.ts';
import type { Queryable } from '../store/port.ts';
import { appendEvents, type NewEvent } from './events.ts';

export interface ExperimentMove {
  message?: string;
  data?: unknown;
  /** Only move from these states (a subset of what the table allows). */
  from?: ExperimentState[];
  /** Failure detail stored on the experiment when it moves to `failed`. */
  failure?: { code: string; message: string };
  blockedReason?: string;
  blockedUntil?: Date;
}

/** One experiment move in a batch. */
export interface ExperimentMoveRequest extends ExperimentMove {
  experimentId: string;
  to: ExperimentState;
}

/**
 * Moves one experiment to `to` if its current state allows it; returns the state it left,
 * or null when the guard refused (a stale or concurrent writer changes nothing).
 */
export async function moveExperiment(
  tx: Queryable,
  experimentId: string,
  to: ExperimentState,
  move: ExperimentMove = {},
): Promise<ExperimentState | null> {
  const moved = await moveExperiments(tx, [{ ...move, experimentId, to }]);
  return moved.get(experimentId) ?? null;
}

/**
 * Moves many experiments in one statement (one target each), each under its own guard,
 * and appends their events. Returns the state each moved experiment left.
 *
 * With `pending`, the events are pushed there instead, for the caller to append later in
 * the same transaction (one statement for all the events of a worker's exchange).
 */
export async function moveExperiments(
  tx: Queryable,
  moves: ExperimentMoveRequest[],
  pending?: NewEvent[],
): Promise<Map<string, ExperimentState>> {
  const moved = new Map<string, ExperimentState>();
  if (moves.length === 0) return moved;
  const rows = moves.map((move) => ({
    id: move.experimentId,
    target: move.to,
    sources: move.from ?? experimentStatesBefore(move.to),
    terminal: isTerminalExperimentState(move.to),
    failure: move.failure ?? null,
    blocked_reason: move.blockedReason ?? null,
    blocked_until: move.blockedUntil?.toISOString() ?? null,
  }));
  // $1: jsonb array of moves, $2: their ids (so that the planner uses the primary key).
  // Rows are locked in id order so concurrent batches cannot deadlock.
  const updated = await tx.query<{ id: string; previous: ExperimentState }>(
    `with input as (
       select * from jsonb_to_recordset($1::jsonb) as x(id uuid, target text, sources text[], terminal boolean,
         failure jsonb, blocked_reason text, blocked_until timestamptz)),
     old as (select e.id, e.state as previous from experiments e where e.id = any($2::uuid[]) order by e.id for update)
     update experiments e set state = i.target, updated_at = now(),
       failure = coalesce(i.failure, e.failure),
       launched_at = case when i.target = 'queued' then now() else e.launched_at end,
       finished_at = case when i.terminal then now() else e.finished_at end,
       state_before_block = case when i.target = 'blocked' then e.state else null end,
       blocked_reason = case when i.target = 'blocked' then i.blocked_reason else null end,
       blocked_until = case when i.target = 'blocked' then i.blocked_until else null end
     from input i, old
     where e.id = any($2::uuid[]) and e.id = i.id and old.id = e.id and e.state = any(i.sources)
     returning e.id, old.previous`,
    [JSON.stringify(rows), rows.map((row) => row.id)],
  );
  const byId = new Map(moves.map((move) => [move.experimentId, move]));
  for (const row of updated) moved.set(row.id, row.previous);
  const events = updated.map((row): NewEvent => {
    const move = byId.get(row.id)!;
    return {
      experimentId: row.id,
      entity: 'experiment',
      entityId: row.id,
      fromState: row.previous,
      toState: move.to,
      message: move.message ?? move.blockedReason ?? move.failure?.message,
      data: move.data,
    };
  });
  if (pending) pending.push(...events);
  else await appendEvents(tx, events);
  return moved;
}

/**
 * Blocks queued or executing experiments because their resource does not answer, with the
 * reason and when Drover tries again. The move (with its event) happens once; while they
 * stay blocked only the reason and next try are refreshed, so a long outage adds no events.
 */
export async function blockExperiments(
  tx: Queryable,
  experimentIds: string[],
  blocked: { reason: string; nextTryAt: Date },
  pending?: NewEvent[],
): Promise<void> {
  if (experimentIds.length === 0) return;
  const { reason, nextTryAt } = blocked;
  await moveExperiments(
    tx,
    experimentIds.map((experimentId) => ({
      experimentId,
      to: 'blocked' as const,
      from: ['queued', 'executing'] as ExperimentState[],
      blockedReason: reason,
      blockedUntil: nextTryAt,
    })),
    pending,
  );
  await tx.query(
    `update experiments set blocked_reason = $2, blocked_until = $3
     where id = any($1::uuid[]) and state = 'blocked' and (blocked_reason, blocked_until) is distinct from ($2, $3)`,
    [experimentIds, reason, nextTryAt.toISOString()],
  );
}

/** Returns blocked experiments to the state they were blocked in (their resource answers again). */
export async function unblockExperiments(tx: Queryable, experimentIds: string[], message: string): Promise<void> {
  if (experimentIds.length === 0) return;
  const rows = await tx.query<{ id: string; state_before_block: ExperimentState | null }>(
    `select id, state_before_block from experiments where id = any($1::uuid[]) and state = 'blocked' order by id for update`,
    [experimentIds],
  );
  await moveExperiments(
    tx,
    rows.map((row) => ({ experimentId: row.id, to: row.state_before_block === 'queued' ? 'queued' : 'executing', from: ['blocked'] as ExperimentState[], message })),
  );
}

