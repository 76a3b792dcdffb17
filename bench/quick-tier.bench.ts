/**
 * Quick-tier benchmark: runs `npm test` (the quick tier, `scripts/run-tests.js quick`) several
 * times in a row, optionally beside busy loops that keep every core loaded, and prints each
 * run's wall time and result. The bar: under 60 s on an idle machine, and every run
 * green on a busy one (a flaky test shows up here as a red run, which fails the bench).
 *
 *   npm run bench:quick-tier -- [--runs 5] [--busy N]
 *
 * `--busy N` starts N processes that spin (at nice 10, so the tests still get their share, as
 * they would beside other work) for as long as the runs last; 0 (the default) runs alone.
 * Exits 1 when any run failed.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, busy: { type: 'string', default: '0' } },
});
const runs = wholeNumber(flags.runs!, '--runs', 1);
const busy = wholeNumber(flags.busy!, '--busy', 0);

const spinners = Array.from({ length: busy }, () =>
  spawn('nice', ['-n', '10', process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
const stopSpinners = () => spinners.forEach((spinner) => spinner.kill('SIGKILL'));
process.on('exit', stopSpinners);

console.log(
  `quick tier x${runs} on Node.js ${process.version}, ${cpus().length} cores, ${busy} busy loop(s) beside it, load ${loadavg()[0].toFixed(2)}`,
);
const results: Array<{ seconds: number; code: number; tests: string }> = [];
for (let run = 1; run <= runs; run++) {
  const started = performance.now();
  const { code, output } = await runQuickTier();
  const seconds = (performance.now() - started) / 1000;
  // The spec reporter's closing summary: "ℹ tests 356", "ℹ pass 356", "ℹ fail 0".
  const count = (name: string) => output.match(new RegExp(`ℹ ${name} (\\d+)`))?.[1] ?? '?';
  const tests = `${count('pass')}/${count('tests')} passed`;
  results.push({ seconds, code, tests });
  console.log(`run ${run}: ${seconds.toFixed(1)} s, exit ${code}, ${tests}, load ${loadavg()[0].toFixed(2)}`);
  if (code !== 0) console.log(output.split('\n').filter(isFailureLine).slice(0, 40).join('\n'));
}
stopSpinners();

const times = results.map((result) => result.seconds).sort((a, b) => a - b);
const green = results.filter((result) => result.code === 0).length;
console.log(
  `median ${times[Math.floor((times.length - 1) / 2)].toFixed(1)} s (min ${times[0].toFixed(1)}, max ${times.at(-1)!.toFixed(1)}); ${green} of ${runs} runs green`,
);
process.exitCode = green === runs ? 0 : 1;

/** One `npm test`, its exit code and everything it printed. */
function runQuickTier(): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['test', '--silent'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function isFailureLine(line: string): boolean {
  return /✖|not ok|Error|failing tests/.test(line);
}

function wholeNumber(value: string, flag: string, minimum: number): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) {
    console.error(`${flag} must be a whole number >= ${minimum}, got ${value}`);
    process.exit(2);
  }
  return number;
}
