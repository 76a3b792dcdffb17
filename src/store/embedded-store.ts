/**
 * The embedded store: the data folder's own PostgreSQL server (embedded-server.ts) through
 * the node-postgres adapter, held by one Drover process at a time.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { removeCluster, startEmbeddedServer } from './embedded-server.ts';
import { openPostgresStore } from './postgres-store.ts';
import { StoreError, type Store } from './port.ts';

/** The advisory lock that says "a Drover process holds this data folder". */
const dataFolderLock = 74_110_002;
/** How long a start waits for a killed holder's session to end before refusing. */
const lockWaitMs = 3000;

export interface EmbeddedStoreOptions {
  /** Drover's data folder; the server's cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /**
   * A throwaway server in a new temporary folder, fsync off, removed when the store closes
   * (`drover up --memory`): nothing survives a stop.
   */
  throwaway?: boolean;
}

/**
 * Starts (or adopts) the data folder's server and opens the store on it. The process holds
 * a PostgreSQL advisory lock on a connection of its own for as long as the store is open:
 * a second live Drover on the same folder is refused, and the server frees the lock of a
 * Drover that was killed, so a restart after `kill -9` is never refused. The store is
 * therefore `exclusive`. Closing it stops the server.
 * @throws {StoreError} when the server cannot start, or another live Drover holds the folder.
 */
export async function openEmbeddedStore(options: EmbeddedStoreOptions): Promise<Store> {
  const serverDir = options.throwaway ? mkdtempSync(join(tmpdir(), 'drover-memory-')) : options.dataDir;
  const removeThrowaway = () => {
    if (!options.throwaway) return;
    removeCluster(serverDir);
    rmSync(serverDir, { recursive: true, force: true });
  };
  let server;
  try {
    server = await startEmbeddedServer({ dataDir: serverDir, durable: !options.throwaway });
  } catch (error) {
    removeThrowaway();
    throw error;
  }
  const lock = new pg.Client({ connectionString: server.url, application_name: `drover pid ${process.pid}` });
  // A lost lock connection (the server stopped under us) surfaces on the next query.
  lock.on('error', () => {});
  try {
    await lock.connect();
    await takeDataFolderLock(lock, options.dataDir);
  } catch (error) {
    // The server stays up: it may belong to the Drover that holds the folder.
    await lock.end().catch(() => {});
    throw error;
  }
  let store: Store;
  try {
    store = await openPostgresStore({ connectionString: server.url });
  } catch (error) {
    await lock.end().catch(() => {});
    throw error;
  }
  const running = server;
  const watchdog = options.throwaway ? watchThrowaway(server.pid, server.clusterDir, serverDir) : undefined;
  return {
    ...store,
    // This process alone holds the folder: a lease still held at start was a dead process's.
    exclusive: true,
    async close() {
      // Before the server stops: its pid must not be signalled once it may belong to another program.
      watchdog?.kill('SIGKILL');
      await store.close();
      await lock.end().catch(() => {});
      await running.stop();
      removeThrowaway();
    },
  };
}

async function takeDataFolderLock(lock: pg.Client, dataDir: string): Promise<void> {
  const deadline = Date.now() + lockWaitMs;
  for (;;) {
    const { rows } = await lock.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [
      dataFolderLock,
    ]);
    if (rows[0]!.locked) return;
    // A Drover killed a moment ago: its session ends as soon as the server reads the closed socket.
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const holder = await lock.query<{ application_name: string }>(
    `select activity.application_name from pg_locks lock join pg_stat_activity activity using (pid)
     where lock.locktype = 'advisory' and lock.objid = $1 and lock.granted`,
    [dataFolderLock],
  );
  const who = holder.rows[0]?.application_name || 'another Drover';
  throw new StoreError(
    `the data folder ${dataDir} is in use by ${who}; stop it first, or pick another --data-dir (or set DATABASE_URL)`,
  );
}

/**
 * A throwaway server has no next start to adopt it: a small detached shell waits for this
 * process to end and, if it ends without closing the store (`kill -9`), shuts the server
 * down (SIGQUIT, PostgreSQL's immediate shutdown) and removes its folders. A clean close
 * kills the watcher first. Values travel as arguments, never as shell text.
 */
function watchThrowaway(serverPid: number, clusterDir: string, serverDir: string) {
  const script =
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -QUIT "$2" 2>/dev/null; sleep 2; rm -rf -- "$3" "$4"';
  const watcher = spawn(
    'sh',
    ['-c', script, 'drover-throwaway-watch', String(process.pid), String(serverPid), clusterDir, serverDir],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  watcher.on('error', () => {});
  watcher.unref();
  return watcher;
}
