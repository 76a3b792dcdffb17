/**
 * Parameter sweeps as users read them: one sweep with its elements (the newest experiment
 * at each index, the varied inputs, state, progress and headline values), counts per state,
 * and the list of sweeps. Who may see a sweep is who may see its experiments: its owner,
 * and the admins of its gateway. Writes are in sweep-commands.ts.
 */
import type { InputValue } from '../domain/application.ts';
import { experimentStates, terminalExperimentStates, type ExperimentState } from '../domain/experiment.ts';
import { NotFoundError } from '../domain/errors.ts';
import type { SweepCombination, Vary } from '../domain/sweep.ts';
import { uuidPattern } from '../domain/validate-inputs.ts';
import type { Principal } from '../catalogue/users.ts';
import type { Queryable } from '../store/port.ts';
import { decodeCursor, encodeCursor, listSweepElements, visibility, type ExperimentSummary } from './queries.ts';

/** What a sweep's elements were created with besides their inputs (kept for clones). */
export interface SweepSettings {
  queue?: string;
  nodes?: number;
  coresPerNode?: number;
  walltimeMinutes?: number;
  memoryMb?: number;
  priority?: number;
  notify?: unknown;
}

/** A sweep as lists show it. */
export interface SweepSummary {
  id: string;
  name: string;
  owner: string;
  application: string;
  resource: string;
  /** The inputs every element shares. */
  inputs: Record<string, unknown>;
  /** What varies, per input, as asked. */
  vary: Vary;
  combine: SweepCombination;
  settings: SweepSettings;
  /** The sweep it was cloned from, or null. */
  parentId: string | null;
  createdAt: Date;
  /** How many elements (indexes) it has. */
  elementCount: number;
  /** How many elements are in each state (the newest experiment at each index); states with none left out. */
  counts: Partial<Record<ExperimentState, number>>;
  /** How many elements have ended (completed, failed or canceled). */
  finished: number;
}

/** One element of a sweep: its index, the values it varies, and its newest experiment. */
export interface SweepElement {
  index: number;
  /** The varied inputs' values of this element. */
  inputs: Record<string, InputValue>;
  experiment: ExperimentSummary;
  /** Older experiments at this index (each failed and was resubmitted), newest first. */
  previous: string[];
}

/** A sweep with its elements in index order. */
export interface SweepDetail extends SweepSummary {
  elements: SweepElement[];
}

const sweepColumns = `s.id, s.name, u.name as owner, s.application, s.resource, s.inputs, s.vary, s.varied_inputs, s.combine,
  s.settings, s.parent_id, s.created_at, s.element_count`;

function toSummary(row: any, counts: Partial<Record<ExperimentState, number>>): SweepSummary {
  const terminal = new Set<string>(terminalExperimentStates);
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    application: row.application,
    resource: row.resource,
    inputs: row.inputs,
    vary: Object.fromEntries(row.varied_inputs.map((name: string) => [name, row.vary[name]])),
    combine: row.combine,
    settings: row.settings,
    parentId: row.parent_id,
    createdAt: row.created_at,
    elementCount: row.element_count,
    counts,
    finished: Object.entries(counts).reduce((sum, [state, count]) => sum + (terminal.has(state) ? count! : 0), 0),
  };
}

/** The counts per state of each sweep's newest experiments per index. */
async function countStates(
  db: Queryable,
  sweepIds: string[],
): Promise<Map<string, Partial<Record<ExperimentState, number>>>> {
  const counts = new Map<string, Partial<Record<ExperimentState, number>>>(sweepIds.map((id) => [id, {}]));
  if (sweepIds.length === 0) return counts;
  // $1 the sweeps: the newest experiment at each index (experiments_by_sweep), counted per state.
  const rows = await db.query<{ sweep_id: string; state: ExperimentState; n: number }>(
    `select sweep_id, state, count(*)::int as n from (
       select distinct on (e.sweep_id, e.sweep_index) e.sweep_id, e.state from experiments e
       where e.sweep_id = any($1::uuid[]) order by e.sweep_id, e.sweep_index, e.created_at desc, e.id desc) newest
     group by sweep_id, state`,
    [sweepIds],
  );
  for (const row of rows) counts.get(row.sweep_id)![row.state] = row.n;
  for (const [id, byState] of counts) counts.set(id, inStateOrder(byState));
  return counts;
}

/** Counts per state in the order of experimentStates, so every answer lists them alike. */
function inStateOrder(byState: Partial<Record<ExperimentState, number>>): Partial<Record<ExperimentState, number>> {
  return Object.fromEntries(experimentStates.filter((state) => byState[state]).map((state) => [state, byState[state]]));
}

/**
 * One sweep with its elements; NotFoundError when it does not exist or the principal may
 * not see it (another user's, another gateway's: the same answer).
 */
export async function getSweep(db: Queryable, principal: Principal, id: string): Promise<SweepDetail> {
  const row = await findSweepRow(db, principal, id);
  const elements = await listSweepElements(db, id);
  const varied: string[] = row.varied_inputs;
  // Counted from the elements read, not by a second query: that one could see later states,
  // and the counts then disagree with the table beside them.
  const counts: Partial<Record<ExperimentState, number>> = {};
  for (const { experiment } of elements) counts[experiment.state] = (counts[experiment.state] ?? 0) + 1;
  return {
    ...toSummary(row, inStateOrder(counts)),
    elements: elements.map(({ experiment, previous }) => {
      const { inputs, ...summary } = experiment;
      return {
        index: summary.sweep!.index,
        inputs: Object.fromEntries(varied.map((name) => [name, inputs[name]])),
        experiment: summary,
        previous,
      };
    }),
  };
}

/** A sweep's stored row, if the principal may see it. @throws {NotFoundError} otherwise. */
export async function findSweepRow(db: Queryable, principal: Principal, id: string): Promise<any> {
  if (!uuidPattern.test(id)) throw new NotFoundError(`sweep ${JSON.stringify(id)}`);
  const params: unknown[] = [id];
  const rows = await db.query<any>(
    `select ${sweepColumns}, s.owner_id from sweeps s join users u on u.id = s.owner_id
     where s.id = $1 and ${visibility(principal, params, 's')}`,
    params,
  );
  if (rows.length === 0) throw new NotFoundError(`sweep ${id}`);
  return rows[0];
}

/** Filters for listing sweeps. */
export interface SweepFilter {
  application?: string;
  cursor?: string;
  /** Page size, 1-200 (default 50). */
  limit?: number;
}

/**
 * The sweeps the principal may see, newest first, with counts per state; `nextCursor`
 * for the next page.
 */
export async function listSweeps(
  db: Queryable,
  principal: Principal,
  filter: SweepFilter,
): Promise<{ items: SweepSummary[]; nextCursor: string | null }> {
  const params: unknown[] = [];
  const where = [visibility(principal, params, 's')];
  if (filter.application) {
    params.push(filter.application);
    where.push(`s.application = $${params.length}`);
  }
  if (filter.cursor) {
    const cursor = decodeCursor(filter.cursor);
    params.push(cursor.createdAt, cursor.id);
    where.push(`(s.created_at, s.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
  params.push(limit + 1);
  const rows = await db.query<any>(
    `select ${sweepColumns}, to_char(s.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at
     from sweeps s join users u on u.id = s.owner_id
     where ${where.join(' and ')} order by s.created_at desc, s.id desc limit $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  const counts = await countStates(
    db,
    page.map((row) => row.id),
  );
  const last = rows.length > limit ? page[limit - 1] : null;
  return {
    items: page.map((row) => toSummary(row, counts.get(row.id)!)),
    nextCursor: last ? encodeCursor(last.cursor_at, last.id) : null,
  };
}
