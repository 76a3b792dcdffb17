/**
 * PGlite adapter of the Store port: PostgreSQL compiled to WebAssembly, in this process.
 * The embedded default for `drover up` and the quick tests.
 */
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { chmod, lstat, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { StoreError, type Queryable, type Store } from './port.ts';

export interface PgliteStoreOptions {
  /** Folder for the database files; omit for an in-memory database. */
  dataDir?: string;
  /**
   * Flush the write-ahead log to disk in `sync()` (default true). PGlite runs PostgreSQL
   * with fsync off, and its WebAssembly file system would ignore fsync anyway (measured:
   * no fsync system call with `fsync=on`), so Drover flushes the WAL files itself before
   * the API acknowledges a write. false makes `sync()` a no-op: faster, and a machine crash
   * may then lose the last acknowledged writes.
   */
  fsync?: boolean;
  /**
   * Start an in-memory database from this dump (see `dumpEmptyPgliteDatabase`) instead of
   * running initdb: about five times faster, for test suites that need many fresh stores.
   */
  template?: Blob;
}

/** A dump of a fresh, empty database, to pass as `template`. */
export async function dumpEmptyPgliteDatabase(): Promise<Blob> {
  const database = await PGlite.create();
  try {
    return await database.dumpDataDir('none');
  } finally {
    await database.close();
  }
}

/** Opens (and creates) an embedded store. Refuses a data folder another live process holds. */
export async function openPgliteStore(options: PgliteStoreOptions): Promise<Store> {
  const releaseLock = options.dataDir ? lockDataDir(options.dataDir) : () => {};
  const pgdata = options.dataDir ? join(options.dataDir, 'pgdata') : undefined;
  let database: PGlite;
  try {
    // pg_trgm backs the experiment list's text search (migration 0005).
    database = await PGlite.create({
      dataDir: pgdata,
      loadDataDir: pgdata ? undefined : options.template,
      extensions: { pg_trgm },
    });
  } catch (error) {
    releaseLock();
    throw new StoreError(`cannot open the embedded store in ${options.dataDir}: ${(error as Error).message}`);
  }
  if (pgdata) await makePrivate(pgdata);
  const run = async <Row>(target: Pick<PGlite, 'query'>, sql: string, params?: unknown[]) =>
    (await target.query<Row>(sql, params as any[])).rows;
  return {
    // In this process alone (the data folder is locked), and without autovacuum.
    exclusive: true,
    needsAnalyze: true,
    query: (sql, params) => run(database, sql, params),
    // PGlite is one connection; its transaction() serializes callers for us.
    transaction: (work) =>
      database.transaction((tx) => work({ query: (sql, params) => run(tx, sql, params) } satisfies Queryable)),
    async listen(channel, onNotify) {
      const unsubscribe = await database.listen(channel, onNotify);
      return async () => unsubscribe();
    },
    async sync() {
      if (pgdata && options.fsync !== false) await flushWriteAheadLog(join(pgdata, 'pg_wal'));
    },
    async close() {
      if (!database.closed) await database.close();
      if (pgdata) await makePrivate(pgdata).catch(() => {});
      releaseLock();
    },
  };
}

/**
 * Makes the database files 0600 and their folders 0700. PGlite's WebAssembly file system
 * chmods every file it creates to 0666 (measured: one chmodSync per file, whatever the
 * process umask), so the umask cannot do it. Run at open and at close; files PGlite makes
 * in between are still unreachable to others, because the data folder itself is 0700
 * (see keepDataPrivate in main.ts).
 */
async function makePrivate(folder: string): Promise<void> {
  await chmod(folder, 0o700);
  for (const name of await readdir(folder, { recursive: true })) {
    const path = join(folder, name);
    const info = await lstat(path).catch(() => null);
    if (info?.isDirectory()) await chmod(path, 0o700);
    else if (info?.isFile() && (info.mode & 0o077) !== 0) await chmod(path, 0o600);
  }
}

/** fsyncs the newest WAL segments (a commit may straddle two) and the folder itself. */
async function flushWriteAheadLog(walDir: string): Promise<void> {
  const names = (await readdir(walDir)).filter((name) => /^[0-9A-F]{24}$/.test(name));
  const segments = await Promise.all(
    names.map(async (name) => ({ name, modified: (await stat(join(walDir, name))).mtimeMs })),
  );
  segments.sort((a, b) => b.modified - a.modified);
  for (const path of [...segments.slice(0, 2).map((segment) => join(walDir, segment.name)), walDir]) {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** One process per data folder: PGlite has no postmaster to stop a second opener. */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = join(dataDir, 'drover.pid');
  try {
    const holder = Number(readFileSync(lockFile, 'utf8'));
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new StoreError(
        `the data folder ${dataDir} is in use by process ${holder}; stop it or pick another --data-dir`,
      );
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
