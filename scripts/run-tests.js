#!/usr/bin/env node
/**
 * Runs one tier of tests: `node scripts/run-tests.js quick|pg|slurm|browser|container`.
 *
 * - quick: every `*.test.ts` under src/, test/ and web/src/ (the UI's pure modules), except the tiers that need a service
 *   (`*.pg.test.ts`, `*.slurm.test.ts`, `*.browser.test.ts`, `*.container.test.ts`); two files at a time. First it starts
 *   an embedded PostgreSQL server for the run in a temporary folder and migrates its template
 *   database (test/test-database.ts), passes its URL in DROVER_TEST_POSTGRES_URL, and stops
 *   and removes it after the run. Its files run compiled to JavaScript (scripts/build-tests.js, about a
 *   second) rather than through tsx, which cost every test process about 0.45 s of CPU to load
 *   and a file that starts a Drover about 1.9 s to load the server.
 * - pg: every `*.pg.test.ts`, one file at a time, after checking that PostgreSQL answers at
 *   DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) and RabbitMQ at
 *   RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672; the RabbitMQ queue's tests).
 *   Either down fails the tier.
 * - slurm: every `*.slurm.test.ts`, three files at a time (they mostly wait for the
 *   cluster), after checking that the test cluster of scripts/start-slurm.sh answers
 *   (sshd on 127.0.0.1:2222 and `scontrol ping`) and that PostgreSQL does (the test that
 *   kills a worker runs Drover's roles as separate processes).
 * - browser: every `*.browser.test.ts`, one file at a time, after building the web UI
 *   (`npm run build`) and checking that Chromium is installed (scripts/install-chromium.sh).
 * - container: every `*.container.test.ts`, one file at a time, after
 *   scripts/build-base-images.sh (installs podman and podman-compose when missing, builds or
 *   loads the base images' local stand-ins; needs root) and checking the test cluster as the
 *   slurm tier does. The tests get CONTAINERS_CONF, podman's configuration for this machine.
 *
 * Every tier starts the embedded server of its run, as the quick tier does, since the tests that
 * start a Drover in process (test/harness.ts) take a database from it: without one they would
 * start the checkout's shared server, which outlives the run (one left per clean clone in CI).
 *
 * Every tier first builds the server and CLI (scripts/build-server.js, well under a second), so
 * the tests that spawn bin/drover.js never run a stale dist/.
 *
 * Exits with the test runner's code; exits 1 when no file matches, the build fails or
 * PostgreSQL is down.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServer } from './build-server.js';
import { buildTests } from './build-tests.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const defaultDatabaseUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
const defaultRabbitmqUrl = 'amqp://guest:guest@127.0.0.1:5672';

const tiers = {
  quick: {
    matches: (file) => file.endsWith('.test.ts') && !/\.(pg|slurm|browser|container)\.test\.ts$/.test(file),
    concurrency: 2,
    compiled: true,
    before: startTestServer,
  },
  pg: {
    matches: (file) => file.endsWith('.pg.test.ts'),
    concurrency: 1,
    before: async () => {
      await checkPostgres();
      await checkRabbitmq();
      return startTestServer();
    },
  },
  browser: {
    matches: (file) => file.endsWith('.browser.test.ts'),
    concurrency: 1,
    before: async () => {
      await checkChromium();
      await buildWebUi();
      return startTestServer();
    },
  },
  container: {
    matches: (file) => file.endsWith('.container.test.ts'),
    concurrency: 1,
    before: async () => {
      const environment = prepareContainers();
      await checkCluster();
      return { environment };
    },
  },
  slurm: {
    matches: (file) => file.endsWith('.slurm.test.ts'),
    concurrency: 3,
    before: async () => {
      await checkCluster();
      await checkPostgres();
      return startTestServer();
    },
  },
};

const tierName = process.argv[2];
const tier = tiers[tierName];
if (!tier || process.argv.length > 3) {
  console.error(`usage: node scripts/run-tests.js ${Object.keys(tiers).join('|')}`);
  process.exit(1);
}

const files = ['src', 'test', join('web', 'src')]
  .flatMap((folder) => listFiles(join(root, folder)))
  .map((file) => relative(root, file))
  .filter((file) => tier.matches(file))
  .sort();
if (files.length === 0) {
  console.error(`no test files for the ${tierName} tier under src/, test/ or web/src/`);
  process.exit(1);
}

const buildMilliseconds = await buildServer().catch((error) => {
  console.error(`building the server and CLI failed (npm run build:server): ${error.message}`);
  process.exit(1);
});
console.error(`built dist/ (npm run build:server) in ${Math.round(buildMilliseconds)} ms`);
let compiled;
if (tier.compiled) {
  compiled = await buildTests(files).catch((error) => {
    for (const message of error.errors ?? []) {
      const where = message.location ? `${message.location.file}:${message.location.line}: ` : '';
      console.error(`${where}${message.text}`);
    }
    console.error(`compiling the test files failed: ${error.message.split('\n')[0]}`);
    process.exit(1);
  });
  // Removed however the run ends (process.exit included).
  process.on('exit', () => rmSync(compiled.folder, { recursive: true, force: true }));
  console.error(
    `compiled ${files.length} test files (scripts/build-tests.js) in ${Math.round(compiled.milliseconds)} ms`,
  );
}
const setUp = (tier.before && (await tier.before())) || {};

const child = spawn(
  process.execPath,
  [
    ...(compiled ? ['--enable-source-maps'] : ['--import', 'tsx']),
    '--test',
    `--test-concurrency=${tier.concurrency}`,
    '--test-reporter=spec',
    ...(compiled ? compiled.files : files),
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, ...setUp.environment } },
);
child.on('error', (error) => {
  console.error(`cannot start the test runner: ${error.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  setUp.after?.();
  process.exit(code ?? (signal ? 1 : 0));
});

/**
 * Starts the run's PostgreSQL server with its template database; returns the environment
 * that points the tests at it, and how to stop and remove it after the run.
 */
async function startTestServer() {
  const { execFileSync } = await import('node:child_process');
  const testDatabase = join(root, 'test', 'test-database.ts');
  let answer;
  try {
    answer = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', testDatabase, 'start-run'], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      }).toString(),
    );
  } catch (error) {
    console.error(`cannot start the tests' PostgreSQL server: ${error.message.split('\n')[0]}`);
    process.exit(1);
  }
  return {
    environment: { DROVER_TEST_POSTGRES_URL: answer.url },
    after: () => {
      try {
        execFileSync(process.execPath, ['--import', 'tsx', testDatabase, 'stop-run', answer.dataDir], {
          cwd: root,
          stdio: 'inherit',
        });
      } catch {
        console.error(
          `stopping the tests' PostgreSQL server failed; stop it with: node --import tsx ${testDatabase} stop-run ${answer.dataDir}`,
        );
      }
    },
  };
}

/** Files below `folder`, recursively; a missing folder has none. node_modules and dot-folders are skipped. */
function listFiles(folder) {
  let entries;
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw error;
  }
  return entries.flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) return [];
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return listFiles(path);
    return entry.isFile() ? [path] : [];
  });
}

/** Exits 1 unless PostgreSQL answers `select 1` at DATABASE_URL. */
async function checkPostgres() {
  const databaseUrl = process.env.DATABASE_URL || defaultDatabaseUrl;
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    const reason = error.message || error.code || String(error);
    console.error(
      `PostgreSQL is not reachable at ${withoutPassword(databaseUrl)} (${reason}); start it (see scripts/start-postgres.sh)`,
    );
    process.exit(1);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Exits 1 unless RabbitMQ accepts a connection at RABBITMQ_URL (the RabbitMQ queue's tests run in the pg tier). */
async function checkRabbitmq() {
  const rabbitmqUrl = process.env.RABBITMQ_URL || defaultRabbitmqUrl;
  const { default: amqp } = await import('amqplib');
  try {
    const connection = await amqp.connect(rabbitmqUrl, { timeout: 5000 });
    await connection.close();
  } catch (error) {
    const reason = error.message || error.code || String(error);
    console.error(
      `RabbitMQ is not reachable at ${withoutPassword(rabbitmqUrl)} (${reason}); start it (see scripts/start-rabbitmq.sh)`,
    );
    process.exit(1);
  }
}

/** Exits 1 unless Chromium runs (the browser tier drives it through playwright-core). */
async function checkChromium() {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync(process.env.DROVER_CHROMIUM || 'chromium', ['--version'], { stdio: 'pipe', timeout: 30_000 });
  } catch (error) {
    console.error(
      `Chromium does not run (${error.message.split('\n')[0]}); install it with: bash scripts/install-chromium.sh`,
    );
    process.exit(1);
  }
}

/** Builds the web UI the tests load (web/dist), so they never test a stale build. */
async function buildWebUi() {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  } catch {
    console.error('building the web UI failed (npm run build)');
    process.exit(1);
  }
}

/** Exits 1 unless the test cluster answers: sshd on 127.0.0.1:2222 and slurmctld. */
/**
 * Runs scripts/build-base-images.sh (podman and the base images, see there); returns the
 * environment for podman. Exits 1 when it fails: the tier never skips.
 */
function prepareContainers() {
  const started = performance.now();
  const result = spawnSync('bash', [join(root, 'scripts', 'build-base-images.sh')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const conf = result.stdout?.toString().trim().split('\n').pop();
  if (result.status !== 0 || !conf) {
    console.error(
      `scripts/build-base-images.sh failed (exit ${result.status ?? result.signal}): the container tier cannot run`,
    );
    process.exit(1);
  }
  console.error(`podman and the base images ready in ${Math.round((performance.now() - started) / 1000)} s`);
  return { CONTAINERS_CONF: conf };
}

async function checkCluster() {
  const { connect } = await import('node:net');
  const { execFileSync } = await import('node:child_process');
  const fix = 'start it with: bash scripts/start-slurm.sh';
  const sshd = await new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 2222, timeout: 3000 });
    socket.once('data', (banner) => {
      socket.destroy();
      resolve(banner.toString().startsWith('SSH-'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
  if (!sshd) {
    console.error(`the test cluster's sshd does not answer on 127.0.0.1:2222; ${fix}`);
    process.exit(1);
  }
  let ping;
  try {
    ping = execFileSync('scontrol', ['ping'], { stdio: 'pipe', timeout: 10_000 }).toString();
  } catch (error) {
    ping = error.message.split('\n')[0];
  }
  if (!/is UP/.test(ping)) {
    console.error(`slurmctld does not answer (scontrol ping: ${ping.trim()}); ${fix}`);
    process.exit(1);
  }
}

function withoutPassword(connectionString) {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return connectionString;
  }
}
