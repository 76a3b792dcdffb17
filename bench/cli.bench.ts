/**
 * CLI startup benchmark: wall time of whole `drover` commands, spawn to exit, as a user at a
 * terminal waits for them. Starts a real Drover (`drover up` as a child process, embedded
 * store in a temporary data folder, the demo catalogue, one draft experiment for `show`), then
 * runs each command `--runs` times (default 20) each way, interleaved so that other load on
 * the machine falls on both alike:
 *
 * - `built`: `node bin/drover.js ...`, the compiled dist/ (`npm run build:server`, which this
 *   benchmark runs first);
 * - `tsx`: `node --import tsx src/cli/main.ts ...`, the sources transformed at start (how
 *   bin/drover.js ran before the build step; tsx's cache is warm after the first run);
 * - `node -e 0`: Node.js starting and exiting, the floor under any command.
 *
 * Prints median and p90 in milliseconds per command and way, and each command's tsx/built
 * ratio, for each of `--rounds` rounds (default 3) and the median of the rounds' medians.
 * Results and the machine they were measured on: bench/README.md.
 *
 *   npm run bench:cli -- [--runs 20] [--rounds 3]
 *   (the same as node --import tsx bench/cli.bench.ts ...)
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: { runs: { type: 'string', default: '20' }, rounds: { type: 'string', default: '3' } },
});
const runs = Number(flags.runs);
const rounds = Number(flags.rounds);
if (!(Number.isInteger(runs) && runs > 0 && Number.isInteger(rounds) && rounds > 0)) {
  throw new Error(`--runs and --rounds take positive integers, got ${flags.runs} and ${flags.rounds}`);
}

type Way = 'built' | 'tsx';
const ways: Record<Way, string[]> = {
  built: [join(projectRoot, 'bin', 'drover.js')],
  tsx: ['--import', 'tsx', join(projectRoot, 'src', 'cli', 'main.ts')],
};

/** Milliseconds from spawn to exit of `node ...args`; throws when it fails. */
function timeRun(args: string[], environment: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { cwd: projectRoot, env: environment, timeout: 60_000 }, (error, _out, stderr) =>
      error
        ? reject(new Error(`node ${args.join(' ')} failed: ${stderr || error.message}`))
        : resolve(performance.now() - started),
    ),
  );
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** `drover up` on a fresh data folder; resolves once it serves, with its data folder. */
async function startDrover(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [ways.built[0]!, 'up', '--data-dir', dataDir, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DROVER_LOG_LEVEL: 'warn' },
  });
  let output = '';
  child.stderr!.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`drover up did not start in 120 s:\n${output}`)), 120_000);
    child.on('exit', (code) => reject(new Error(`drover up exited with ${code}:\n${output}`)));
    const check = setInterval(() => {
      if (!output.includes('Drover is running')) return;
      clearInterval(check);
      clearTimeout(timer);
      resolve();
    }, 50);
  });
  return child;
}

const dataDir = await mkdtemp(join(tmpdir(), 'drover-cli-bench-'));
execFileSync(process.execPath, [join(projectRoot, 'scripts', 'build-server.js')], { stdio: 'inherit' });
const drover = await startDrover(dataDir);
try {
  // The CLI reads the address and admin token that `drover up` saved in the data folder.
  const { url, token } = JSON.parse(await readFile(join(dataDir, 'cli.json'), 'utf8')) as {
    url: string;
    token: string;
  };
  const created = await fetch(`${url}/api/v1/experiments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      application: 'pi-monte-carlo',
      resource: 'local',
      inputs: { samples: 1000 },
      launch: false,
    }),
  });
  if (created.status !== 201)
    throw new Error(`creating the draft to show failed: ${created.status} ${await created.text()}`);
  const { id } = (await created.json()) as { id: string };
  const environment = { ...process.env, DROVER_DATA_DIR: dataDir };
  const commands: Record<string, string[]> = { '--help': ['--help'], ls: ['ls'], 'show <id>': ['show', id] };

  // One untimed run of each, so tsx's transform cache and the OS's file cache are warm.
  for (const args of Object.values(commands))
    for (const way of Object.values(ways)) await timeRun([...way, ...args], environment);

  const roundMedians = new Map<string, number[]>();
  const record = (key: string, value: number) => roundMedians.set(key, [...(roundMedians.get(key) ?? []), value]);
  for (let round = 1; round <= rounds; round++) {
    console.log(`\nround ${round} of ${rounds}: ${runs} runs of each, milliseconds (median / p90)\n`);
    console.log('| command | built | tsx | tsx / built | node -e 0 |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const [name, args] of Object.entries(commands)) {
      const samples: Record<Way | 'floor', number[]> = { built: [], tsx: [], floor: [] };
      for (let run = 0; run < runs; run++) {
        samples.built.push(await timeRun([...ways.built, ...args], environment));
        samples.tsx.push(await timeRun([...ways.tsx, ...args], environment));
        samples.floor.push(await timeRun(['-e', '0'], environment));
      }
      const cell = (values: number[]) => `${quantile(values, 0.5).toFixed(0)} / ${quantile(values, 0.9).toFixed(0)}`;
      const ratio = quantile(samples.tsx, 0.5) / quantile(samples.built, 0.5);
      console.log(
        `| \`drover ${name}\` | ${cell(samples.built)} | ${cell(samples.tsx)} | ${ratio.toFixed(1)}x | ${cell(samples.floor)} |`,
      );
      record(`${name} built`, quantile(samples.built, 0.5));
      record(`${name} tsx`, quantile(samples.tsx, 0.5));
      record(`${name} floor`, quantile(samples.floor, 0.5));
    }
  }
  console.log(`\nmedian of the ${rounds} rounds' medians, milliseconds\n`);
  console.log('| command | built | tsx | tsx / built | node -e 0 |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const name of Object.keys(commands)) {
    const [built, tsx, floor] = (['built', 'tsx', 'floor'] as const).map((way) =>
      quantile(roundMedians.get(`${name} ${way}`)!, 0.5),
    );
    console.log(
      `| \`drover ${name}\` | ${built!.toFixed(0)} | ${tsx!.toFixed(0)} | ${(tsx! / built!).toFixed(1)}x | ${floor!.toFixed(0)} |`,
    );
  }
} finally {
  if (drover.exitCode === null) {
    const exited = new Promise((resolve) => drover.once('exit', resolve));
    drover.kill('SIGTERM');
    await exited;
  }
  await rm(dataDir, { recursive: true, force: true });
}
