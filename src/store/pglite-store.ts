/**
 * PGlite adapter of the Store port: PostgreSQL compiled to WebAssembly, in this process.
 * The embedded default for `drover up` and the quick tests.
 */
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { StoreError, type Queryable, type Store } from './port.ts';

export interface PgliteStoreOptions {
  /** Folder for the database files; omit for an in-memory database. */
  dataDir?: string;
  /**
   * Flush the write-ahead log to disk at each commit (PostgreSQL `fsync=on`). PGlite
   * itself starts with fsync off; Drover turns it on for a data folder by default so a
   * `201 Created` survives a machine crash, not only a killed process.
   */
  fsync?: boolean;
}

/** Opens (and creates) an embedded store. Refuses a data folder another live process holds. */
export async function openPgliteStore(options: PgliteStoreOptions): Promise<Store> {
  const releaseLock = options.dataDir ? lockDataDir(options.dataDir) : () => {};
  // PGlite's default start parameters include -F (fsync off); replace it on purpose.
  const startParams = PGlite.defaultStartParams.filter((param) => param !== '-F');
  startParams.push('-c', `fsync=${options.fsync === false || !options.dataDir ? 'off' : 'on'}`);
  let database: PGlite;
  try {
    database = await PGlite.create({
      dataDir: options.dataDir ? join(options.dataDir, 'pgdata') : undefined,
      startParams,
    });
  } catch (error) {
    releaseLock();
    throw new StoreError(`cannot open the embedded store in ${options.dataDir}: ${(error as Error).message}`);
  }
  const run = async <Row>(target: Pick<PGlite, 'query'>, sql: string, params?: unknown[]) =>
    (await target.query<Row>(sql, params as any[])).rows;
  return {
    kind: 'pglite',
    query: (sql, params) => run(database, sql, params),
    // PGlite is one connection; its transaction() serializes callers for us.
    transaction: (work) =>
      database.transaction((tx) => work({ query: (sql, params) => run(tx, sql, params) } satisfies Queryable)),
    async listen(channel, onNotify) {
      const unsubscribe = await database.listen(channel, onNotify);
      return async () => unsubscribe();
    },
    async close() {
      if (!database.closed) await database.close();
      releaseLock();
    },
  };
}

/** One process per data folder: PGlite has no postmaster to stop a second opener. */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = join(dataDir, 'drover.pid');
  try {
    const holder = Number(readFileSync(lockFile, 'utf8'));
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new StoreError(`the data folder ${dataDir} is in use by process ${holder}; stop it or pick another --data-dir`);
    }
  } catch (error) {
    if (error instanceof StoreError) throw error;
  }
  writeFileSync(lockFile, String(process.pid));
  return () => rmSync(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
