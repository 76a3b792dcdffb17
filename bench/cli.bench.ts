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
 * Prints median and p90 of the wall time and of the CPU time (user + system, read with bash's
 * `times`: on a busy machine the wall time is mostly the wait for a core) per command and way,
 * and each command's tsx/built wall ratio, for each of `--rounds` rounds (default 3) and the
 * median of the rounds' medians. Every run goes through `bash -c` (a few ms, alike for all).
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

const ways: Record<'built' | 'tsx', string[]> = {
  built: [join(projectRoot, 'bin', 'drover.js')],
  tsx: ['--import', 'tsx', join(projectRoot, 'src', 'cli', 'main.ts')],
};

/** One run: wall milliseconds from spawn to exit, and the CPU milliseconds (user + system) it used. */
interface Run {
  wall: number;
  cpu: number;
}

/**
 * Runs `node ...args` under bash, whose `times` then prints the CPU time of its children: on
 * a busy machine, wall time mostly measures the wait for a core, CPU time what the command
 * costs. Throws when the command fails.
 */
function timeRun(args: string[], environment: NodeJS.ProcessEnv): Promise<Run> {
  const started = performance.now();
  const script = '"$@" >/dev/null || exit $?; times';
  return new Promise((resolve, reject) =>
    execFile(
      'bash',
      ['-c', script, 'bash', process.execPath, ...args],
      { cwd: projectRoot, env: environment, timeout: 60_000 },
      (error, stdout, stderr) => {
        const wall = performance.now() - started;
        if (error) return reject(new Error(`node ${args.join(' ')} failed: ${stderr || error.message}`));
        // `times` prints the shell's own user and system time, then its children's: "0m0.290s 0m0.040s".
        const children = stdout.trim().split('\n').at(-1)!.split(' ').map(seconds);
        resolve({ wall, cpu: (children[0]! + children[1]!) * 1000 });
      },
    ),
  );
}

/** Seconds of bash's "1m2.345s". */
function seconds(text: string): number {
  const [, minutes, rest] = /^(\d+)m([\d.]+)s$/.exec(text) ?? [];
  if (minutes === undefined) throw new Error(`cannot read the time "${text}" that bash's times printed`);
  return Number(minutes) * 60 + Number(rest);
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

  const header = '| command | built | tsx | tsx / built | node -e 0 | CPU: built | CPU: tsx | CPU: node -e 0 |';
  const rule = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const columns = ['built', 'tsx', 'floor'] as const;
  const roundMedians = new Map<string, number[]>();
  const record = (key: string, value: number) => roundMedians.set(key, [...(roundMedians.get(key) ?? []), value]);
  for (let round = 1; round <= rounds; round++) {
    console.log(`\nround ${round} of ${rounds}: ${runs} runs of each; wall and CPU milliseconds, median / p90\n`);
    console.log(header);
    console.log(rule);
    for (const [name, args] of Object.entries(commands)) {
      const samples: Record<(typeof columns)[number], Run[]> = { built: [], tsx: [], floor: [] };
      for (let run = 0; run < runs; run++) {
        samples.built.push(await timeRun([...ways.built, ...args], environment));
        samples.tsx.push(await timeRun([...ways.tsx, ...args], environment));
        samples.floor.push(await timeRun(['-e', '0'], environment));
      }
      const median = (way: (typeof columns)[number], key: keyof Run) =>
        quantile(
          samples[way].map((run) => run[key]),
          0.5,
        );
      const cell = (way: (typeof columns)[number], key: keyof Run) =>
        `${median(way, key).toFixed(0)} / ${quantile(
          samples[way].map((run) => run[key]),
          0.9,
        ).toFixed(0)}`;
      console.log(
        `| \`drover ${name}\` | ${cell('built', 'wall')} | ${cell('tsx', 'wall')} | ` +
          `${(median('tsx', 'wall') / median('built', 'wall')).toFixed(1)}x | ${cell('floor', 'wall')} | ` +
          `${cell('built', 'cpu')} | ${cell('tsx', 'cpu')} | ${cell('floor', 'cpu')} |`,
      );
      for (const way of columns)
        for (const key of ['wall', 'cpu'] as const) record(`${name} ${way} ${key}`, median(way, key));
    }
  }
  console.log(`\nmedian of the ${rounds} rounds' medians, milliseconds\n`);
  console.log(header);
  console.log(rule);
  for (const name of Object.keys(commands)) {
    const value = (way: (typeof columns)[number], key: keyof Run) =>
      quantile(roundMedians.get(`${name} ${way} ${key}`)!, 0.5);
    console.log(
      `| \`drover ${name}\` | ${value('built', 'wall').toFixed(0)} | ${value('tsx', 'wall').toFixed(0)} | ` +
        `${(value('tsx', 'wall') / value('built', 'wall')).toFixed(1)}x | ${value('floor', 'wall').toFixed(0)} | ` +
        `${value('built', 'cpu').toFixed(0)} | ${value('tsx', 'cpu').toFixed(0)} | ${value('floor', 'cpu').toFixed(0)} |`,
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
