/**
 * A parameter sweep on the test cluster goes as job arrays (issue 13), through the HTTP API
 * with the real worker and controller: each element is its own experiment with its own job,
 * an element of an array (`123_4` on Slurm, `123[4]` through the PBS wrappers), its own
 * output and exit code; one element failing leaves the others completed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { projectRoot, startTestDrover, waitFor, type TestDrover } from './harness.ts';

let drover: TestDrover;

/** Writes its number to out.txt and exits with the code it is given. */
const element = {
  name: 'array-element',
  title: 'Write a number, exit with a code',
  inputs: [
    { name: 'n', type: 'integer', minimum: 0, maximum: 1000 },
    { name: 'code', type: 'integer', minimum: 0, maximum: 255, default: 0 },
  ],
  outputs: ['out.txt'],
  deployments: {
    '*': {
      command: ['bash', '-c', 'echo "element $1" > out.txt; exit "$2"', 'array-element', '{{n}}', '{{code}}'],
      queue: 'debug',
      walltimeMinutes: 5,
    },
  },
};

before(async () => {
  drover = await startTestDrover({
    catalogue: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(','),
  });
  const created = await drover.call('POST', '/api/v1/applications', element);
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
after(async () => {
  await drover?.stop();
});

const arrayElementId: Record<string, RegExp> = { 'hpc-slurm': /^(\d+)_(\d+)$/, 'hpc-pbs': /^(\d+)\[(\d+)\]/ };

describe('a sweep on the cluster', { concurrency: true }, () => {
  for (const resource of ['hpc-slurm', 'hpc-pbs']) {
    it(`goes to ${resource} as job arrays, each element with its own job, output and exit code`, async (t) => {
      const created = await drover.call('POST', '/api/v1/sweeps', {
        application: 'array-element',
        resource,
        combine: 'zip',
        vary: { n: { values: [1, 2, 3, 4, 5, 6] }, code: { values: [0, 0, 3, 0, 0, 0] } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const sweep = await waitFor(
        'every element to end',
        async () => {
          const shown = await drover.call('GET', `/api/v1/sweeps/${created.body.id}`);
          return shown.body.finished === 6 ? shown.body : null;
        },
        180_000,
      );
      assert.deepEqual(sweep.counts, { completed: 5, failed: 1 });
      const jobs = [];
      for (const { index, experiment } of sweep.elements) {
        const detail = (await drover.call('GET', `/api/v1/experiments/${experiment.id}`)).body;
        assert.equal(detail.state, index === 2 ? 'failed' : 'completed', JSON.stringify(detail.failure));
        assert.equal(detail.job.exitCode, index === 2 ? 3 : 0);
        const out = await drover.call('GET', `/api/v1/experiments/${experiment.id}/outputs/out.txt`);
        assert.equal(out.body, `element ${index + 1}\n`);
        jobs.push(detail.job.nativeId as string);
      }
      // Elements that reach the login node together share one sbatch/qsub: fewer submits
      // than elements (one array when all six come within the batcher's gathering window).
      const units = new Set(jobs.map((id) => arrayElementId[resource].exec(id)?.[1] ?? id));
      t.diagnostic(`${resource}: ${jobs.join(' ')}`);
      assert.ok(
        jobs.some((id) => arrayElementId[resource].test(id)),
        `no element went in an array: ${jobs.join(' ')}`,
      );
      assert.ok(units.size <= 3, `${units.size} submits for 6 elements: ${jobs.join(' ')}`);
    });
  }
});
