/**
 * The quick tier's PostgreSQL: one embedded server (src/store/embedded-server.ts, fsync
 * off) per checkout, in `<tmpdir>/drover-test-postgres-<checkout hash>`, with a migrated
 * template database `drover_template_<migrations hash>`; each test gets its own database
 * copied from it (`create database ... template`, milliseconds), dropped when it is done.
 *
 * `npm test` (scripts/run-tests.js) starts a server of its own for the run, in a new
 * temporary folder (`test-database.ts start-run`), passes its URL in
 * DROVER_TEST_POSTGRES_URL, and stops and removes it after (`stop-run <folder>`): runs side by
 * side (CI runs the quick tier on three Node.js versions at once) never share one. A test
 * file run alone (`node --import tsx --test file`) starts the checkout's shared server on
 * demand, or reuses the one already running, and leaves it running for the next run
 * (`node --import tsx test/test-database.ts stop` stops it).
 *
 * The pg tier does not use this: it runs on the machine's PostgreSQL (test/fresh-postgres.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { removeCluster, startEmbeddedServer } from '../src/store/embedded-server.ts';
import { migrate } from '../src/store/migrate.ts';
import type { Store } from '../src/store/port.ts';
import { openPostgresStore } from '../src/store/postgres-store.ts';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const migrationsDir = join(projectRoot, 'src', 'store', 'migrations');
/** Serializes template builds between test processes. */
const templateLock = 74_110_003;

/** The shared test server's data folder for this checkout. */
export const testServerDir = join(
  tmpdir(),
  `drover-test-postgres-${createHash('sha256').update(projectRoot).digest('hex').slice(0, 12)}`,
);

/** A fresh test database: its URL, and how to drop it. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

let serverUrl: Promise<string> | undefined;

/**
 * Connection string of the test server's `postgres` database: DROVER_TEST_POSTGRES_URL, or
 * the shared server of this checkout, started (or adopted) on first call.
 */
export function testServerUrl(): Promise<string> {
  serverUrl ??= process.env.DROVER_TEST_POSTGRES_URL
    ? Promise.resolve(process.env.DROVER_TEST_POSTGRES_URL)
    : startSharedServer().then((server) => server.urlOf('postgres'));
  return serverUrl;
}

/**
 * Creates a database for one test: migrated (a copy of the template) unless `migrated` is
 * false (an empty one, for tests of the migrations themselves).
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = await testServerUrl();
  const template = options.migrated === false ? 'template0' : await ensureTemplate(adminUrl);
  const name = `drover_test_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (admin) => admin.query(`create database ${name} template ${template} strategy file_copy`));
  return {
    url: databaseUrl(adminUrl, name),
    async drop() {
      await withClient(adminUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/** A store on a fresh test database; closing the store drops the database. */
export async function openTestStore(options: { migrated?: boolean } = {}): Promise<Store> {
  return openStoreDroppingOnClose(await createTestDatabase(options));
}

/** Opens a store on `database`; closing the store drops the database (also when opening fails). */
export async function openStoreDroppingOnClose(database: TestDatabase): Promise<Store> {
  let store: Store;
  try {
    store = await openPostgresStore({ connectionString: database.url });
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    ...store,
    async close() {
      try {
        await store.close();
      } finally {
        await database.drop();
      }
    },
  };
}

/** Starts or adopts the checkout's test server; a lock folder keeps two first starts apart. */
async function startSharedServer() {
  const lock = `${testServerDir}.lock`;
  for (const deadline = Date.now() + 120_000; ;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A holder that died mid-start leaves its lock: older than a start can take.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline)
        throw new Error(`the test server's lock ${lock} is held for too long`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    mkdirSync(testServerDir, { recursive: true, mode: 0o700 });
    return await startEmbeddedServer({ dataDir: testServerDir, durable: false });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The migrated template for the current migrations, built once per server. */
async function ensureTemplate(adminUrl: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of readdirSync(migrationsDir).sort()) {
    hash.update(file).update(readFileSync(join(migrationsDir, file)));
  }
  const template = `drover_template_${hash.digest('hex').slice(0, 12)}`;
  await withClient(adminUrl, async (admin) => {
    await admin.query('select pg_advisory_lock($1)', [templateLock]);
    const found = await admin.query('select 1 from pg_database where datname = $1', [template]);
    if (found.rowCount) return;
    const building = `${template}_building`;
    await admin.query(`drop database if exists ${building} with (force)`);
    await admin.query(`create database ${building} template template0`);
    const store = await openPostgresStore({ connectionString: databaseUrl(adminUrl, building) });
    try {
      await migrate(store);
    } finally {
      await store.close();
    }
    // Renamed only when complete, so a half-built template is never copied.
    await admin.query(`alter database ${building} rename to ${template}`);
    await admin.query(`alter database ${template} is_template true`);
  });
  return template;
}

function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

// `node --import tsx test/test-database.ts start-run | stop-run <folder> | stop`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [command, folder] = process.argv.slice(2);
  if (command === 'start-run') {
    const dataDir = mkdtempSync(join(tmpdir(), 'drover-test-run-'));
    const server = await startEmbeddedServer({ dataDir, durable: false });
    await ensureTemplate(server.urlOf('postgres'));
    process.stdout.write(JSON.stringify({ url: server.urlOf('postgres'), dataDir }) + '\n');
  } else if (command === 'stop-run' && folder) {
    await (await startEmbeddedServer({ dataDir: folder, durable: false })).stop();
    removeCluster(folder);
    rmSync(folder, { recursive: true, force: true });
  } else if (command === 'stop') {
    await (await startSharedServer()).stop();
  } else {
    process.stderr.write('usage: node --import tsx test/test-database.ts start-run | stop-run <folder> | stop\n');
    process.exitCode = 1;
  }
}
