/**
 * Sweep benchmark: what the API's sweep calls cost at the largest sweep (1,000 elements):
 * `POST /sweeps` (validate 1,000 elements, store the sweep and its launched experiments with
 * their task DAGs in one transaction), `GET /sweeps/{id}` (every element's newest experiment,
 * counts per state), `GET /sweeps` and `POST /sweeps/{id}/cancel` (1,000 cancels in one
 * transaction). A real Drover on a fresh test database, API role only, so the launched
 * experiments stay queued and nothing else loads the machine. Each call `--runs` times on a
 * new sweep; medians and maxima in milliseconds.
 *
 *   node --import tsx bench/sweeps.bench.ts [--elements 1000] [--runs 5]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startTestDrover } from '../test/harness.ts';

const { values: flags } = parseArgs({
  options: { elements: { type: 'string', default: '1000' }, runs: { type: 'string', default: '5' } },
});
const elements = Number(flags.elements);
const runs = Number(flags.runs);

const drover = await startTestDrover({}, ['api']);
const timings: Record<string, number[]> = { create: [], show: [], list: [], cancel: [] };
async function timed(name: string, call: () => Promise<{ status: number; body: unknown }>, expected: number) {
  const started = performance.now();
  const answer = await call();
  timings[name].push(performance.now() - started);
  if (answer.status !== expected) throw new Error(`${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as { id: string; elementCount: number };
}
try {
  for (let run = 0; run < runs; run++) {
    const body = {
      application: 'pi-monte-carlo',
      resource: 'local',
      vary: {
        samples: { range: { from: 1000, to: 1000 + (elements / 10 - 1) * 10, step: 10 } },
        seed: { range: { from: 1, to: 10, step: 1 } },
      },
    };
    const sweep = await timed('create', () => drover.call('POST', '/api/v1/sweeps', body), 201);
    if (sweep.elementCount !== elements) throw new Error(`made ${sweep.elementCount} elements`);
    await timed('show', () => drover.call('GET', `/api/v1/sweeps/${sweep.id}`), 200);
    await timed('list', () => drover.call('GET', '/api/v1/sweeps'), 200);
    await timed('cancel', () => drover.call('POST', `/api/v1/sweeps/${sweep.id}/cancel`), 202);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`${elements} elements, ${runs} runs (ms)`);
  for (const [name, values] of Object.entries(timings))
    console.log(
      `${name.padEnd(8)} median ${median(values).toFixed(0).padStart(6)}   max ${Math.max(...values)
        .toFixed(0)
        .padStart(6)}`,
    );
} finally {
  await drover.stop();
}
