/**
 * Idle memory of `drover up`, as a user starts it: `node bin/drover.js up` in a fresh data
 * folder, then `--idle` seconds (default 10) after it is ready, the memory of Drover's node
 * process and of every process of its embedded PostgreSQL server (the postmaster of
 * `<dataDir>/postgres` and its children). RSS counts each process's shared pages again
 * (PostgreSQL's shared buffers, the libraries); PSS (/proc/<pid>/smaps_rollup) splits them
 * between the processes that share them, so the PSS sum is what all of them hold together.
 * The peer in the same run: `drover up` on the machine's PostgreSQL (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres), where only the node process is Drover's.
 *
 *   npm run bench:memory -- [--runs 3] [--idle 10] [--store embedded|pg|all]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { removeCluster } from '../src/store/embedded-server.ts';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    idle: { type: 'string', default: '10' },
    store: { type: 'string', default: 'all' },
  },
});
const runs = Number(flags.runs);
const idleSeconds = Number(flags.idle);
const stores = flags.store === 'all' ? ['embedded', 'pg'] : [flags.store!];
if (!(runs > 0) || !(idleSeconds >= 0) || !stores.every((store) => store === 'embedded' || store === 'pg')) {
  console.error('usage: npm run bench:memory -- [--runs N] [--idle SECONDS] [--store embedded|pg|all]');
  process.exit(1);
}
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const postgresUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

interface Sample {
  nodeRss: number;
  nodePss: number;
  serverRss: number;
  serverPss: number;
  serverProcesses: number;
}

/** kB of a field in a /proc file (VmRSS in status, Pss in smaps_rollup); 0 for a process that just ended. */
function kilobytes(file: string, field: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // A backend whose idle connection closed between the listing and this read.
    return 0;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

function memoryOf(pids: number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    rss += kilobytes(`/proc/${pid}/status`, 'VmRSS');
    pss += kilobytes(`/proc/${pid}/smaps_rollup`, 'Pss');
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}

/** The postmaster (from postmaster.pid) and its children. */
function serverProcesses(dataDir: string): number[] {
  const postmaster = Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

async function measure(store: string): Promise<Sample> {
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-memory-bench-'));
  let database: string | undefined;
  let databaseUrl = '';
  if (store === 'pg') {
    database = `drover_memory_bench_${process.pid}`;
    await admin(`create database ${database}`);
    const url = new URL(postgresUrl);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  }
  const child = spawn(
    process.execPath,
    [join(projectRoot, 'bin/drover.js'), 'up', '--data-dir', dataDir, '--port', '0'],
    {
      env: { ...process.env, DATABASE_URL: databaseUrl, DROVER_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  try {
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk) => {
        output += chunk;
        if (/API:\s+http/.test(output)) resolve();
      });
      child.on('exit', (code) => reject(new Error(`drover up exited with ${code}:\n${output}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const node = memoryOf([child.pid!]);
    const serverPids = store === 'embedded' ? serverProcesses(dataDir) : [];
    const server = memoryOf(serverPids);
    return {
      nodeRss: node.rss,
      nodePss: node.pss,
      serverRss: server.rss,
      serverPss: server.pss,
      serverProcesses: serverPids.length,
    };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    removeCluster(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
    if (database) await admin(`drop database if exists ${database} with (force)`);
  }
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const mb = (value: number) => value.toFixed(0);

console.log(`idle ${idleSeconds} s after ready, ${runs} runs each, medians in MB`);
console.log('| store | node RSS | node PSS | server processes | server RSS | server PSS | total RSS | total PSS |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
// Alternate the stores so that a change in the machine's load touches both alike.
const samples = new Map<string, Sample[]>(stores.map((store) => [store, []]));
for (let run = 0; run < runs; run++) {
  for (const store of stores) samples.get(store)!.push(await measure(store));
}
for (const [store, taken] of samples) {
  const pick = (field: keyof Sample) => median(taken.map((sample) => sample[field]));
  const total = (rss: keyof Sample, server: keyof Sample) =>
    median(taken.map((sample) => sample[rss] + sample[server]));
  console.log(
    `| ${store === 'embedded' ? 'embedded server' : 'PostgreSQL (DATABASE_URL; server not counted)'} | ${mb(pick('nodeRss'))} | ${mb(pick('nodePss'))} | ${pick('serverProcesses')} | ${mb(pick('serverRss'))} | ${mb(pick('serverPss'))} | ${mb(total('nodeRss', 'serverRss'))} | ${mb(total('nodePss', 'serverPss'))} |`,
  );
}
