/**
 * API benchmark: a real in-process Drover (the API role alone, so launched experiments stay
 * queued and only the API's work is timed) on a fresh PostgreSQL database, driven over HTTP.
 *
 * - create: POST /api/v1/experiments at 1 and 16 clients, drafts and launched: experiments/s,
 *   p50 and p99 per request.
 * - bulk: POST /api/v1/experiments/batch with 1,000 items (drafts and launched): experiments/s.
 * - list: 200,000 experiments seeded by SQL through the real schema (two gateways, many
 *   owners, applications, resources, states, clones, input values), then each list filter's
 *   p50/p99 over `--requests` sequential requests, for the platform operator (admin of the
 *   bootstrap gateway), the admin of a second gateway and a plain user.
 *
 * The `count` part measures each filter's `GET /experiments/count` (the list's total, counted
 * up to 10,000) beside its list request, on the same seeded database.
 *
 * Each run gets a fresh database on the server at `--database-url` (dropped at the end);
 * results are medians of `--runs` runs (3 by default; the list part runs once per run on its
 * own seeded database, 200,000 rows take about a minute to seed).
 *
 *   npm run bench:api -- [--database-url postgres://postgres@127.0.0.1:5432/postgres]
 *                        [--part create,bulk,list,count] [--runs 3] [--seed 200000] [--requests 200]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pathToFileURL } from 'node:url';
import type { loadConfig as LoadConfig } from '../src/config.ts';
import type { startDrover as StartDrover, RunningDrover } from '../src/main.ts';

const { values: flags } = parseArgs({
  options: {
    'database-url': {
      type: 'string',
      default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    },
    part: { type: 'string', default: 'create,bulk,list' },
    runs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '200000' },
    requests: { type: 'string', default: '200' },
    creates: { type: 'string', default: '2000' },
    // Another checkout of Drover (e.g. `git archive main`, with node_modules linked) run in
    // the same invocation, alternating with this one: the peer before a change.
    peer: { type: 'string' },
    // Keeps the list part's seeded database (and prints its URL), to EXPLAIN its queries.
    'keep-database': { type: 'boolean', default: false },
  },
});
const adminUrl = flags['database-url']!;
const parts = new Set(flags.part!.split(','));
const runs = Number(flags.runs);
const seedCount = Number(flags.seed);
const requestsPerFilter = Number(flags.requests);
const createCount = Number(flags.creates);
const adminToken = 'bench-admin-token-0123456789abcdef';

// ---- a Drover on a fresh database ------------------------------------------------------

interface BenchDrover {
  url: string;
  databaseUrl: string;
  drover: RunningDrover;
  stop(): Promise<void>;
}

/** The Drover under test: this checkout, or the peer's (`--peer`). */
interface Subject {
  label: string;
  root: string;
}
const thisRoot = new URL('..', import.meta.url).pathname;
const subjects: Subject[] = [
  { label: 'this', root: thisRoot },
  ...(flags.peer ? [{ label: 'peer', root: flags.peer }] : []),
];

async function startBenchDrover(subject: Subject = subjects[0]): Promise<BenchDrover> {
  const { loadConfig } = (await import(pathToFileURL(`${subject.root}/src/config.ts`).href)) as {
    loadConfig: typeof LoadConfig;
  };
  const { startDrover } = (await import(pathToFileURL(`${subject.root}/src/main.ts`).href)) as {
    startDrover: typeof StartDrover;
  };
  const database = `drover_bench_${randomBytes(5).toString('hex')}`;
  await withAdmin((client) => client.query(`create database ${database}`));
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-bench-api-'));
  const config = loadConfig(
    {
      databaseUrl: url.toString(),
      dataDir,
      port: 0,
      adminToken,
      logLevel: 'silent',
      limits: { writesPerWindow: 1_000_000_000 },
    },
    {},
  );
  const drover = await startDrover(config, ['api']);
  return {
    url: drover.url!,
    databaseUrl: url.toString(),
    drover,
    async stop() {
      await drover.stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (flags['keep-database']) return console.log(`kept ${url}`);
      await withAdmin((client) => client.query(`drop database if exists ${database} with (force)`));
    },
  };
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function call(base: string, method: string, path: string, body?: unknown, token = adminToken) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : undefined;
}

// ---- statistics -----------------------------------------------------------------------

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);

// ---- create ---------------------------------------------------------------------------

const piItem = (index: number, launch: boolean) => ({
  application: 'pi-monte-carlo',
  resource: 'local',
  name: `bench ${index}`,
  inputs: { samples: 1000, seed: index },
  launch,
});

/** `count` single creations spread over `clients` concurrent clients: per second, p50, p99. */
async function measureCreate(base: string, clients: number, launch: boolean, count: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const index = next++;
        const before = performance.now();
        await call(base, 'POST', '/api/v1/experiments', piItem(index, launch));
        latencies.push(performance.now() - before);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function benchCreate() {
  for (const clients of [1, 16]) {
    for (const launch of [false, true]) {
      const results = new Map<string, { perSecond: number[]; p50: number[]; p99: number[] }>();
      for (let run = 0; run < runs; run++) {
        for (const subject of subjects) {
          const drover = await startBenchDrover(subject);
          try {
            // Warm up the connection pool and the JIT.
            await measureCreate(drover.url, clients, launch, 100);
            const result = await measureCreate(drover.url, clients, launch, createCount);
            const entry = results.get(subject.label) ?? { perSecond: [], p50: [], p99: [] };
            entry.perSecond.push(result.perSecond);
            entry.p50.push(result.p50);
            entry.p99.push(result.p99);
            results.set(subject.label, entry);
          } finally {
            await drover.stop();
          }
        }
      }
      for (const [label, { perSecond, p50, p99 }] of results)
        console.log(
          `create ${launch ? 'launched' : 'drafts'}, ${clients} client${clients > 1 ? 's' : ''} [${label}]: ${median(perSecond).toFixed(0)}/s (runs ${perSecond.map((v) => v.toFixed(0)).join(', ')}), p50 ${ms(median(p50))} ms, p99 ${ms(median(p99))} ms`,
        );
    }
  }
}

// ---- bulk -----------------------------------------------------------------------------

async function benchBulk() {
  for (const launch of [false, true]) {
    const perSecond: number[] = [];
    const seconds: number[] = [];
    for (let run = 0; run < runs; run++) {
      const drover = await startBenchDrover();
      try {
        // Warm-up request, then three timed ones; the run's figure is their median.
        await call(drover.url, 'POST', '/api/v1/experiments/batch', {
          items: Array.from({ length: 1000 }, (_, index) => piItem(index, launch)),
        });
        const timings: number[] = [];
        for (let request = 0; request < 3; request++) {
          const items = Array.from({ length: 1000 }, (_, index) => piItem(index, launch));
          const before = performance.now();
          const created = await call(drover.url, 'POST', '/api/v1/experiments/batch', { items });
          timings.push(performance.now() - before);
          if (created.items.length !== 1000) throw new Error('bulk creation returned the wrong count');
        }
        seconds.push(median(timings) / 1000);
        perSecond.push(1000 / (median(timings) / 1000));
      } finally {
        await drover.stop();
      }
    }
    console.log(
      `bulk 1,000 ${launch ? 'launched' : 'drafts'} in one request: ${median(perSecond).toFixed(0)} experiments/s (${ms(median(seconds) * 1000)} ms per request; runs ${perSecond.map((v) => v.toFixed(0)).join(', ')})`,
    );
  }
}

// ---- list -----------------------------------------------------------------------------

const applications = [
  'pi-monte-carlo',
  'word-count',
  'heat-simulation',
  ...Array.from({ length: 20 }, (_, i) => `app-${i}`),
];
const resourceNames = ['local', 'cluster-a', 'cluster-b', 'cluster-c', 'cluster-d', 'rare-cluster'];
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

/**
 * Seeds `count` experiments by SQL, through the real schema (search_text filled as the
 * writer does): 3/4 in the bootstrap gateway over 40 owners, 1/4 in a second gateway; a
 * month of creation times; states mostly finished, a few rare; 1 % clones of 20 parents.
 */
async function seed(databaseUrl: string, users: Record<string, string[]>, count: number) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const started = performance.now();
    await client.query(
      `insert into experiments (gateway_id, owner_id, name, application, application_version, resource,
         inputs, settings, state, created_at, updated_at)
       select case when n % 4 = 0 then 'second' else 'default' end,
         case when n % 4 = 0 then ($2::text[])[1 + (hashint4(n) & 2147483647) % array_length($2, 1)]
           else ($1::text[])[1 + (hashint4(n) & 2147483647) % array_length($1, 1)] end,
         format('run %s %s%s', n, ($3::text[])[1 + (n * 7) % 10], case when n % 1000 = 7 then ' needle' else '' end),
         ($4::text[])[1 + (n * 13) % array_length($4, 1)], '1',
         case when n % 500 = 7 then 'rare-cluster' else ($5::text[])[1 + (n * 3) % 5] end,
         jsonb_build_object('samples', n % 10000, 'seed', n, 'label', format('sample-%s', n)),
         '{"queue":"normal","nodes":1,"coresPerNode":1,"walltimeMinutes":10}',
         case when n % 2000 = 7 then 'blocked' when n % 100 = 1 then 'queued' when n % 100 = 2 then 'executing'
           when n % 10 = 3 then 'failed' when n % 20 = 4 then 'canceled' when n % 50 = 5 then 'created'
           else 'completed' end,
         now() - interval '30 days' + n * (interval '30 days' / $6::int),
         now() - interval '30 days' + n * (interval '30 days' / $6::int)
       from generate_series(1, $6::int) as n`,
      [users.default, users.second, words, applications, resourceNames.slice(0, 5), count],
    );
    // What the writer (recordCreatedMany) stores for the text search, in the columns this
    // checkout's experiment_search has (none before migration 0005; the experiment's
    // gateway, owner, application, resource and creation time from migration 0006 on).
    const searchColumns = (
      await client.query<{ column_name: string }>(
        `select column_name from information_schema.columns
         where table_schema = current_schema() and table_name = 'experiment_search'
           and column_name in ('gateway_id', 'owner_id', 'application', 'resource', 'created_at')`,
      )
    ).rows.map((row) => row.column_name);
    const hasSearch = (await client.query(`select to_regclass('experiment_search') as found`)).rows[0].found !== null;
    if (hasSearch)
      await client.query(
        `insert into experiment_search (experiment_id, search_text${searchColumns.map((column) => `, ${column}`).join('')})
       select e.id, concat_ws(E'\\n', e.id::text, e.name, e.application,
         (select string_agg(value, E'\\n' order by key) from jsonb_each_text(e.inputs)))${searchColumns.map((column) => `, e.${column}`).join('')}
       from experiments e`,
      );
    // 1 % are clones of 20 parents of the bootstrap gateway.
    await client.query(
      `with parents as (select id, row_number() over () as k from (select id from experiments where gateway_id = 'default' order by created_at limit 20) p)
       update experiments e set parent_id = p.id from parents p
       where e.gateway_id = 'default' and (hashtext(e.id::text) & 2147483647) % 100 = 0 and p.k = 1 + (hashtext(e.id::text) & 2147483647) % 20`,
    );
    await client.query('vacuum analyze experiments');
    if (hasSearch) await client.query('vacuum analyze experiment_search');
    console.log(`seeded ${count} experiments in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const parent = await client.query<{ parent_id: string }>(
      `select parent_id from experiments where parent_id is not null group by 1 order by count(*) desc limit 1`,
    );
    const middle = await client.query<{ created_at: Date; id: string }>(
      `select created_at, id from experiments where gateway_id = 'default' order by created_at desc, id desc offset 5000 limit 1`,
    );
    return {
      parentId: parent.rows[0].parent_id,
      cursor: Buffer.from(JSON.stringify([middle.rows[0].created_at.toISOString(), middle.rows[0].id])).toString(
        'base64url',
      ),
    };
  } finally {
    await client.end();
  }
}

async function benchList(listResults: Map<string, number[][]>, subject: Subject) {
  const drover = await startBenchDrover(subject);
  try {
    // The operator is the bootstrap gateway's admin; a second gateway with its own admin.
    const second = await call(drover.url, 'POST', '/api/v1/gateways', { id: 'second', name: 'Second' });
    const secondAdmin: string = second.admin.token;
    const users: Record<string, string[]> = { default: [], second: [] };
    const tokens: Record<string, string> = {};
    for (let i = 0; i < 40; i++) {
      const user = await call(drover.url, 'POST', '/api/v1/users', { name: `user-${i}` });
      users.default.push(user.id);
      if (i === 0) tokens.user = user.token;
    }
    for (let i = 0; i < 10; i++) {
      const user = await call(drover.url, 'POST', '/api/v1/users', { name: `second-user-${i}` }, secondAdmin);
      users.second.push(user.id);
    }
    const { parentId, cursor } = await seed(drover.databaseUrl, users, seedCount);
    const since = new Date(Date.now() - 16 * 86_400_000).toISOString();
    const until = new Date(Date.now() - 15 * 86_400_000).toISOString();
    const filters: Array<[string, string]> = [
      ['no filter (first page)', ''],
      ['state=blocked (rare)', 'state=blocked'],
      ['state=completed (common)', 'state=completed'],
      ['state=queued,executing', 'state=queued,executing'],
      ['application=app-7', 'application=app-7'],
      ['resource=rare-cluster (rare)', 'resource=rare-cluster'],
      ['owner=user-3', 'owner=user-3'],
      ['parent=<id>', `parent=${parentId}`],
      ['created in one day', `since=${since}&until=${until}`],
      ['q=needle (rare word)', 'q=needle'],
      ['q=charlie (common word)', 'q=charlie'],
      ['q=sample-12345 (input value)', 'q=sample-12345'],
      ['q=zzz (no match)', 'q=zzz'],
      ['cursor (page 101)', `cursor=${cursor}`],
      ['state=failed&application=app-3&q=echo', 'state=failed&application=app-3&q=echo'],
    ];
    const principals: Array<[string, string]> = [
      ['operator', adminToken],
      ['gateway admin', secondAdmin],
      ['user', tokens.user],
    ];
    for (const [who, token] of principals) {
      for (const [label, query] of filters) {
        if (label.startsWith('owner') && who === 'user') continue;
        if (label.startsWith('cursor') && who !== 'operator') continue;
        const paths: Array<[string, string]> = [['', `/api/v1/experiments?limit=50${query ? `&${query}` : ''}`]];
        // The list's total (`GET /experiments/count`, capped at 10,000) for the same filter.
        if (parts.has('count') && !label.startsWith('cursor'))
          paths.push([' (count)', `/api/v1/experiments/count${query ? `?${query}` : ''}`]);
        for (const [suffix, path] of paths) {
          for (let i = 0; i < 10; i++) await call(drover.url, 'GET', path, undefined, token);
          const latencies: number[] = [];
          for (let i = 0; i < requestsPerFilter; i++) {
            const before = performance.now();
            await call(drover.url, 'GET', path, undefined, token);
            latencies.push(performance.now() - before);
          }
          const key = `${who}: ${label}${suffix}${subjects.length > 1 ? ` [${subject.label}]` : ''}`;
          // Printed as it goes too: a slow peer (a sequential scan per search) may take long.
          console.log(`  ${key}: p50 ${ms(percentile(latencies, 50))} ms, p99 ${ms(percentile(latencies, 99))} ms`);
          const entry = listResults.get(key) ?? [[], []];
          entry[0].push(percentile(latencies, 50));
          entry[1].push(percentile(latencies, 99));
          listResults.set(key, entry);
        }
      }
    }
  } finally {
    await drover.stop();
  }
}

// ---- main -----------------------------------------------------------------------------

console.log(`PostgreSQL at ${new URL(adminUrl).host}; ${runs} run(s); node ${process.version}`);
if (parts.has('create')) await benchCreate();
if (parts.has('bulk')) await benchBulk();
if (parts.has('list') || parts.has('count')) {
  const listResults = new Map<string, number[][]>();
  for (let run = 0; run < runs; run++) for (const subject of subjects) await benchList(listResults, subject);
  console.log(`\nlist at ${seedCount} experiments, ${requestsPerFilter} requests per filter (median of ${runs}):`);
  console.log('| who: filter | p50 ms | p99 ms |\n| --- | --- | --- |');
  for (const [key, [p50, p99]] of listResults) console.log(`| ${key} | ${ms(median(p50))} | ${ms(median(p99))} |`);
}
