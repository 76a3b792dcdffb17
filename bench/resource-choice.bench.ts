/**
 * What resource `auto` costs a creation: POST /api/v1/experiments (drafts, so nothing runs)
 * with a named resource and with `auto`, sequentially, on a real in-process Drover with the
 * demo and test-cluster catalogues. `auto` for pi-monte-carlo asks three schedulers at once:
 * local (nothing to ask), hpc-slurm (`sbatch --test-only` over SSH) and hpc-pbs (`qstat`
 * over SSH), and reads Drover's own line. Needs the test cluster (scripts/start-slurm.sh).
 *
 *   npm run bench:resource-choice -- [--requests 50]
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot, startTestDrover } from '../test/harness.ts';

const { values: flags } = parseArgs({ options: { requests: { type: 'string', default: '50' } } });
const requests = Number(flags.requests);

const drover = await startTestDrover(
  { catalogue: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(',') },
  ['api'],
);
try {
  const results: Record<string, number[]> = {};
  // Alternating, so that load on the machine falls on both alike; the first of each warms up.
  for (let index = 0; index <= requests; index++) {
    for (const resource of ['local', 'hpc-slurm', 'auto']) {
      const started = performance.now();
      const created = await drover.call('POST', '/api/v1/experiments', {
        application: 'pi-monte-carlo',
        resource,
        inputs: { samples: 1000, seed: index },
        launch: false,
      });
      const elapsed = performance.now() - started;
      if (created.status !== 201) throw new Error(`${resource}: ${created.status} ${JSON.stringify(created.body)}`);
      if (index > 0) (results[resource] ??= []).push(elapsed);
    }
  }
  const percentile = (values: number[], p: number) =>
    [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];
  console.log(`| resource | p50 ms | p99 ms | requests |\n| --- | --- | --- | --- |`);
  for (const [resource, values] of Object.entries(results)) {
    console.log(
      `| ${resource} | ${percentile(values, 50).toFixed(1)} | ${percentile(values, 99).toFixed(1)} | ${values.length} |`,
    );
  }
} finally {
  await drover.stop();
}
