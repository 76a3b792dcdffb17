/**
 * A 1,000-element sweep on the test Slurm through the whole of Drover (issue 13's
 * benchmark): `POST /api/v1/sweeps` on a real in-process Drover (API, worker and controller
 * with their default settings) with the demo and test-cluster catalogues, then, from
 * Drover's own `/metrics` and store:
 *
 * - the submit commands on the login node (`drover_resource_commands_total` of program
 *   `bash`: the batch submit commands, and any find a retry makes) until every element's
 *   job is recorded;
 * - seconds from the request until Slurm has every element (each element's job recorded:
 *   its sbatch answered);
 * - squeue calls per poll (`program="squeue"` commands against
 *   `drover_scheduler_polls_total`) while the elements are queued and running.
 *
 * The sweep is canceled and the cluster's jobs of hpcuser cleared (`scancel -u hpcuser`) at
 * the end. Needs the test cluster (scripts/start-slurm.sh) and root.
 *
 * It also prints (stderr) the CPU Drover and its PostgreSQL backends used until Slurm had
 * every element and, with TRACE=1, the counts of tasks done by kind every 100 ms and when
 * every element was past each task before its job: where the time goes.
 *
 *   npm run bench:sweep-array -- [--elements 1000] [--runs 1] [--skip-cancel]
 *
 * `--skip-cancel` leaves the cancel-all out (A/B runs of the submit side).
 *
 * One run per process is what to read: a second run's cancel of the first's 1,000 jobs
 * keeps the controller busy (one scancel each) through its polls.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { projectRoot, startTestDrover } from '../test/harness.ts';

const { values: flags } = parseArgs({
  options: {
    elements: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '1' },
    'skip-cancel': { type: 'boolean', default: false },
  },
});
const elements = Number(flags.elements);

const drover = await startTestDrover({
  catalogue: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(','),
});
const application = {
  name: 'array-element',
  title: 'Write a number',
  inputs: [{ name: 'n', type: 'integer', minimum: 0, maximum: 100000 }],
  outputs: ['out.txt'],
  deployments: { '*': { command: ['bash', '-c', 'echo "$1" > out.txt', 'array-element', '{{n}}'], queue: 'debug' } },
};

/** CPU seconds (user + system) each backend of the benchmark's database has used so far, by pid. */
async function databaseCpu(): Promise<Map<number, number>> {
  const rows = await drover.drover.store.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = current_database()',
  );
  const seconds = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesized command): utime, stime in ticks.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      seconds.set(pid, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // Not on this machine, or gone: not counted.
    }
  }
  return seconds;
}

/** The sum of the samples of `metric` whose labels include every one of `labels`. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = (await drover.call('GET', '/metrics')).body as string;
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    if (Object.entries(labels).every(([key, value]) => (match[2] ?? '').includes(`${key}="${value}"`)))
      sum += Number(match[3]);
  }
  return sum;
}

try {
  const created = await drover.call('POST', '/api/v1/applications', application);
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  console.log('| run | elements | answered (s) | Slurm has all (s) | submit commands | squeue per poll | polls |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (let run = 1; run <= Number(flags.runs); run++) {
    const before = {
      bash: await metric('drover_resource_commands_total', { resource: 'hpc-slurm', program: 'bash' }),
      squeue: await metric('drover_resource_commands_total', { resource: 'hpc-slurm', program: 'squeue' }),
      polls: await metric('drover_scheduler_polls_total', { resource: 'hpc-slurm' }),
    };
    const cpuBefore = { drover: process.cpuUsage(), database: await databaseCpu() };
    const started = performance.now();
    const sweep = await drover.call('POST', '/api/v1/sweeps', {
      application: 'array-element',
      resource: 'hpc-slurm',
      vary: { n: { range: { from: 1, to: elements, step: 1 } } },
    });
    if (sweep.status !== 201) throw new Error(JSON.stringify(sweep.body));
    const answered = (performance.now() - started) / 1000;
    let recorded = 0;
    const reached: Record<string, number> = {};
    while (recorded < elements) {
      if (performance.now() - started > 600_000) throw new Error(`only ${recorded} jobs after 10 minutes`);
      await sleep(100);
      const rows = await drover.drover.store.query<{ count: number }>(
        'select count(*)::int as count from jobs j join experiments e on e.id = j.experiment_id where e.sweep_id = $1',
        [sweep.body.id],
      );
      recorded = rows[0].count;
      if (!process.env.TRACE) continue;
      // When each kind of task before the job was done for every element (where time goes):
      // only when asked, as its query every 100 ms costs the store CPU the run measures.
      const kinds = await drover.drover.store.query<{ kind: string; count: number }>(
        `select t.kind, count(*)::int as count from tasks t join experiments e on e.id = t.experiment_id
         where e.sweep_id = $1 and (t.state = 'completed' or (t.kind = 'submit' and t.state = 'running'))
         group by t.kind`,
        [sweep.body.id],
      );
      for (const { kind, count } of kinds)
        if (count === elements) reached[kind] ??= (performance.now() - started) / 1000;
      console.error(((performance.now() - started) / 1000).toFixed(1), JSON.stringify(kinds), recorded);
    }
    const allIn = (performance.now() - started) / 1000;
    // CPU used until then, which load sways far less than the seconds: Drover's process
    // (API, worker, controller) and the PostgreSQL backends serving it.
    const droverCpu = process.cpuUsage(cpuBefore.drover);
    let databaseSeconds = 0;
    for (const [pid, seconds] of await databaseCpu()) databaseSeconds += seconds - (cpuBefore.database.get(pid) ?? 0);
    if (process.env.TRACE) console.error(`every element past: ${JSON.stringify(reached)}`);
    console.error(
      `CPU until Slurm had all: Drover ${((droverCpu.user + droverCpu.system) / 1e6).toFixed(1)} s, ` +
        `PostgreSQL ${databaseSeconds.toFixed(1)} s; load average ${loadavg()[0].toFixed(1)}`,
    );
    const bash =
      (await metric('drover_resource_commands_total', { resource: 'hpc-slurm', program: 'bash' })) - before.bash;
    // A few more polls with every element queued or running.
    await sleep(10_000);
    const squeue =
      (await metric('drover_resource_commands_total', { resource: 'hpc-slurm', program: 'squeue' })) - before.squeue;
    const polls = (await metric('drover_scheduler_polls_total', { resource: 'hpc-slurm' })) - before.polls;
    console.log(
      `| ${run} | ${elements} | ${answered.toFixed(2)} | ${allIn.toFixed(2)} | ${bash} | ${(squeue / polls).toFixed(2)} | ${polls} |`,
    );
    // Cancel all: until every element has ended (its job killed, stage-out run).
    if (flags['skip-cancel']) continue;
    const canceling = performance.now();
    await drover.call('POST', `/api/v1/sweeps/${sweep.body.id}/cancel`);
    for (;;) {
      const shown = await drover.call('GET', `/api/v1/sweeps/${sweep.body.id}`);
      if (shown.body.finished === elements) break;
      if (performance.now() - canceling > 600_000) throw new Error(`${shown.body.finished} ended after 10 minutes`);
      await sleep(500);
    }
    console.error(
      `cancel all: every element ended ${((performance.now() - canceling) / 1000).toFixed(1)} s after the request`,
    );
    execFileSync('scancel', ['-u', 'hpcuser']);
  }
} finally {
  await drover.stop();
  execFileSync('scancel', ['-u', 'hpcuser']);
}
