/**
 * Admission benchmark: what one controller admission pass costs (experiments/admission.ts:
 * read the waiting experiments, what is active and each owner's usage, plan, write the
 * admissions and the waiting reasons) with many experiments waiting. The controller runs it
 * every pass (1 s by default), so its steady cost, when nothing frees, is what a flood costs.
 *
 * For each size: a fresh migrated database on the test PostgreSQL server; `--users` owners
 * launch `size` experiments between them (held, as launches into a limited queue are) on
 * one resource whose queue runs at most 50 at once (and 8 per user); jobs of earlier runs
 * give them usage. Then: the first pass (admits 50, records every other's reason and
 * place), and `--passes` further passes with nothing freed (p50 and p99).
 *
 *   npm run bench:admission -- [--sizes 1000,10000] [--users 20] [--passes 20]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openTestStore } from '../test/test-database.ts';
import { createUser, ensureGateway } from '../src/catalogue/users.ts';
import { upsertResource } from '../src/catalogue/catalogue.ts';
import { recordCreatedMany, type NewExperiment } from '../src/state/experiment-state.ts';
import { experimentDag } from '../src/domain/task.ts';
import { admitWaiting } from '../src/experiments/admission.ts';

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' },
    users: { type: 'string', default: '20' },
    passes: { type: 'string', default: '20' },
  },
});
const sizes = flags.sizes!.split(',').map(Number);
const userCount = Number(flags.users);
const passes = Number(flags.passes);

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

async function measure(size: number): Promise<string> {
  const store = await openTestStore();
  try {
    await ensureGateway(store, { id: 'default', name: 'Bench' });
    await upsertResource(
      store,
      'default',
      {
        name: 'cluster',
        kind: 'local',
        config: {
          scratchDir: '/tmp/drover-bench-admission',
          queues: [{ name: 'normal', maxWalltimeMinutes: 60, maxCores: 8, maxJobsPerUser: 8, maxActiveJobs: 50 }],
        },
      },
      { operator: true },
    );
    const owners: string[] = [];
    for (let index = 0; index < userCount; index++) {
      owners.push((await createUser(store, { gatewayId: 'default', name: `user${index}`, role: 'user' })).id);
    }
    // Usage: a finished one-core job of an hour per earlier experiment, more for the first users.
    const history: NewExperiment[] = owners.flatMap((ownerId, index) =>
      Array.from({ length: userCount - index }, (_, n) => experiment(ownerId, `history ${n}`, true, false)),
    );
    const past = await recordCreatedMany(store, history, experimentDag);
    const pastIds = past.map((created) => created.row.id);
    await store.query(
      `insert into jobs (experiment_id, task_id, gateway_id, resource, submission_key, state, workdir, started_at, ended_at)
       select t.experiment_id, t.id, 'default', 'cluster', 'bench-' || t.id, 'completed', '/tmp',
         now() - interval '3 hours', now() - interval '2 hours'
       from tasks t where t.experiment_id = any($1::uuid[]) and t.kind = 'submit'`,
      [pastIds],
    );
    // Seeding, not a transition: these ran to their end two hours ago.
    await store.query(
      `update experiments set state = 'completed', finished_at = now() - interval '2 hours' where id = any($1::uuid[])`,
      [pastIds],
    );
    for (let start = 0; start < size; start += 1000) {
      const chunk = Array.from({ length: Math.min(1000, size - start) }, (_, n) =>
        experiment(owners[(start + n) % owners.length], `waiting ${start + n}`, true, true),
      );
      await recordCreatedMany(store, chunk, experimentDag);
    }
    let started = performance.now();
    const first = await admitWaiting(store, 168);
    const firstMs = performance.now() - started;
    const times: number[] = [];
    for (let pass = 0; pass < passes; pass++) {
      started = performance.now();
      const steady = await admitWaiting(store, 168);
      times.push(performance.now() - started);
      if (steady.admitted !== 0) throw new Error('a steady pass admitted something: nothing had freed');
    }
    return `| ${size.toLocaleString('en')} | ${userCount} | ${first.admitted} | ${firstMs.toFixed(0)} | ${percentile(times, 0.5).toFixed(1)} | ${percentile(times, 0.99).toFixed(1)} |`;
  } finally {
    await store.close();
  }
}

function experiment(ownerId: string, name: string, launch: boolean, held: boolean): NewExperiment {
  return {
    gatewayId: 'default',
    ownerId,
    name,
    application: 'bench',
    applicationVersion: '1',
    resource: 'cluster',
    inputs: {},
    settings: { queue: 'normal', nodes: 1, coresPerNode: 1, walltimeMinutes: 60 },
    parentId: null,
    message: 'bench',
    launch,
    held,
  };
}

process.stdout.write(
  '| waiting | users | admitted by the first pass | first pass (ms) | steady pass p50 (ms) | steady pass p99 (ms) |\n| --- | --- | --- | --- | --- | --- |\n',
);
for (const size of sizes) process.stdout.write(`${await measure(size)}\n`);
