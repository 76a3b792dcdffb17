/**
 * Store port: SQL against PostgreSQL (the embedded server or any other) through one tiny
 * contract, in the spirit of pg-boss's `executeSql`. No connection or driver type leaks
 * through it.
 */

/** How a statement is run. */
export interface QueryOptions {
  /**
   * The statement is hot and its text is the same at every call (values only in
   * parameters): the adapter may prepare it once per connection and reuse it, which saves
   * the server parsing and planning it again (default false). Leave it off for a text
   * built from values: each distinct text would stay prepared on every connection. A pooler
   * between Drover and PostgreSQL must keep prepared statements per client (PgBouncer 1.21+
   * with `max_prepared_statements` in transaction mode, or session mode).
   */
  prepared?: boolean;
}

/** Something that runs SQL: the store itself or an open transaction. */
export interface Queryable {
  /** Runs one statement with `$1...` parameters and returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Row[]>;
}

/** The store: SQL, transactions and notifications. */
export interface Store extends Queryable {
  /**
   * Only this process can use the store (the embedded store: this process holds its data
   * folder's lock): a task lease or the controller's leadership still held at start was
   * held by a process that died, and need not be waited out.
   */
  readonly exclusive: boolean;
  /**
   * Runs `work` in one transaction and commits, or rolls back if it throws. Serialization
   * failures and deadlocks are retried a few times, so `work` must be safe to re-run.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Calls `onNotify` with each payload sent on `channel` (LISTEN/NOTIFY). Returns an unsubscribe. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Closes connections; for the embedded store, also stops its server. */
  close(): Promise<void>;
}

/**
 * Thrown when the store cannot be opened or a migration fails. A start-up error (family:
 * errors that stop a process with a message, see domain/errors.ts); a query that fails
 * later throws the driver's own error, which a task attempt records as `internal`.
 */
export class StoreError extends Error {
  override name = 'StoreError';
}

/** PostgreSQL error codes worth retrying a whole transaction for: serialization failure, deadlock. */
const retryableSqlStates = new Set(['40001', '40P01']);

/**
 * Runs `work`, and runs it again (up to 5 attempts in all) when it fails with a
 * serialization failure or a deadlock: what `Store.transaction` promises, for adapters and
 * for single statements run outside a transaction. `work` must be safe to re-run.
 */
export async function retryOnConflict<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt < 5 && retryableSqlStates.has((error as { code?: string }).code ?? '')) continue;
      throw error;
    }
  }
}

/**
 * The store as seen from inside the open transaction `tx`: its queries run in `tx`, and a
 * `transaction` it is asked for joins `tx` (no savepoint: the outer transaction commits or
 * rolls back the whole). For a caller that must commit its own row with what a command
 * writes, such as an idempotency key with the experiments it created.
 */
export function joinTransaction(store: Store, tx: Queryable): Store {
  return {
    exclusive: store.exclusive,
    query: (sql, params, options) => tx.query(sql, params, options),
    transaction: (work) => work(tx),
    listen: (channel, onNotify) => store.listen(channel, onNotify),
    close: () => Promise.reject(new StoreError('a joined transaction cannot close the store')),
  };
}

/** Node's socket errors when the server is down, restarting or gone. */
const unreachableSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
/** PostgreSQL's: admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down). */
const unreachableSqlStates = new Set(['57P01', '57P02', '57P03']);
/** node-postgres's own words for a connection that ended or never came. */
const unreachableMessages =
  /^(Connection terminated|Client was closed and is not queryable|Client has encountered a connection error|timeout exceeded when trying to connect)/;

/**
 * Whether `error` says the store could not be reached or ended the session (its server is
 * down, restarting or shutting down), rather than refused a statement: a request that
 * failed so is worth trying again shortly (the API answers it 503 with Retry-After).
 */
export function isStoreUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (unreachableSocketCodes.has(code) || unreachableSqlStates.has(code))) return true;
  // SQLSTATE class 08: connection exceptions.
  if (typeof code === 'string' && /^08[0-9A-Z]{3}$/.test(code)) return true;
  return unreachableMessages.test(error.message);
}
