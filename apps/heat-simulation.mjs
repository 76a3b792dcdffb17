#!/usr/bin/env node
/**
 * 1-D heat diffusion, u_t = alpha * u_xx on x in [0, 1], from t = 0 to t = 1 (dimensionless),
 * solved with implicit (backward) Euler steps, which are stable for any step size.
 * The run is paced to take about `--duration` seconds of wall time, split evenly between
 * `--steps` output steps; each prints one `step i/N t=... max=... mean=...` line.
 *
 *   node heat-simulation.mjs --duration 5 --steps 50 --grid 100 --alpha 0.1 \
 *     --label run --boundary fixed|insulated
 *
 * Initial temperature: a Gaussian pulse of 100 at x = 0.3 plus a block of 50 on [0.6, 0.8].
 * Boundaries: `fixed` holds both ends at 0; `insulated` lets no heat through (the mean is kept).
 * Writes profile.csv (x,temperature at t = 1) and result.json in the current directory.
 * Exit codes: 0 done, 2 bad arguments, 1 other failure, 128+n when stopped by signal n
 * (result.json and profile.csv then hold the state reached, with status "interrupted").
 */
import { renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const END_TIME = 1;
/** Largest implicit time step; smaller than one output step when there are few steps. */
const MAX_DT = 1e-3;

function usage() {
  return [
    'usage: node heat-simulation.mjs [--duration <0.5..3600 s>] [--steps <1..100000>] [--grid <3..10000>]',
    '         [--alpha <0.0001..0.5>] [--label <text>] [--boundary fixed|insulated]',
  ].join('\n');
}

function fail(message) {
  process.stderr.write(`heat-simulation: ${message}\n${usage()}\n`);
  process.exit(2);
}

/**
 * `--opt value` becomes `--opt=value`, so a value that starts with `-` (a label such as
 * `--x`) is taken as the value rather than as another option.
 */
function joinValues(argv, valueOptions) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (valueOptions.includes(arg) && i + 1 < argv.length) {
      out.push(`${arg}=${argv[i + 1]}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

function parseNumber(name, text, min, max, fallback, integer) {
  if (text === undefined || text.trim() === '') return fallback;
  const pattern = integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
  if (!pattern.test(text.trim()))
    fail(`--${name} must be a ${integer ? 'whole number' : 'number'}, got ${JSON.stringify(text)}`);
  const value = Number(text);
  if (!Number.isFinite(value) || (integer && !Number.isSafeInteger(value)) || value < min || value > max) {
    fail(`--${name} must be between ${min} and ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function writeAtomic(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

let options;
try {
  ({ values: options } = parseArgs({
    args: joinValues(process.argv.slice(2), ['--duration', '--steps', '--grid', '--alpha', '--label', '--boundary']),
    options: {
      duration: { type: 'string' },
      steps: { type: 'string' },
      grid: { type: 'string' },
      alpha: { type: 'string' },
      label: { type: 'string' },
      boundary: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  fail(error.message);
}
if (options.help) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}
const duration = parseNumber('duration', options.duration, 0.5, 3600, 5, false);
const steps = parseNumber('steps', options.steps, 1, 100_000, 50, true);
const grid = parseNumber('grid', options.grid, 3, 10_000, 100, true);
const alpha = parseNumber('alpha', options.alpha, 0.0001, 0.5, 0.1, false);
// The label is data only: kept exactly as given (an absent label is "run").
const label = options.label ?? 'run';
const boundary = options.boundary === undefined || options.boundary === '' ? 'fixed' : options.boundary;
if (boundary !== 'fixed' && boundary !== 'insulated')
  fail(`--boundary must be fixed or insulated, got ${JSON.stringify(boundary)}`);

let stopSignal = null;
const signalNumbers = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
let wakeUp = null;
for (const signal of Object.keys(signalNumbers)) {
  process.on(signal, () => {
    stopSignal = signal;
    wakeUp?.();
  });
}
/** Sleeps `ms`, or less when a signal arrives. */
function sleep(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wakeUp = null;
      resolve();
    }
    wakeUp = done;
  });
}

// ---- the model ---------------------------------------------------------------------

const dx = 1 / (grid - 1);
const xs = Float64Array.from({ length: grid }, (_, i) => i * dx);
let u = Float64Array.from(xs, (x) => 100 * Math.exp(-(((x - 0.3) / 0.05) ** 2)) + (x >= 0.6 && x <= 0.8 ? 50 : 0));
if (boundary === 'fixed') {
  u[0] = 0;
  u[grid - 1] = 0;
}

const stepTime = END_TIME / steps;
const substeps = Math.max(1, Math.ceil(stepTime / MAX_DT - 1e-9));
const dt = stepTime / substeps;
const r = (alpha * dt) / (dx * dx);

/**
 * Backward Euler: (I - r D2) u_new = u_old, a tridiagonal system with constant
 * coefficients, so the Thomas factors are computed once. Fixed ends are held at 0;
 * insulated ends use a mirrored ghost node (zero gradient).
 */
const lower = new Float64Array(grid);
const diagonal = new Float64Array(grid).fill(1 + 2 * r);
const upper = new Float64Array(grid);
for (let i = 0; i < grid; i++) {
  lower[i] = -r;
  upper[i] = -r;
}
if (boundary === 'fixed') {
  diagonal[0] = 1;
  upper[0] = 0;
  diagonal[grid - 1] = 1;
  lower[grid - 1] = 0;
} else {
  upper[0] = -2 * r;
  lower[grid - 1] = -2 * r;
}
lower[0] = 0;
upper[grid - 1] = 0;
const factor = new Float64Array(grid); // modified upper coefficients c'
const pivot = new Float64Array(grid); // 1 / (b_i - a_i c'_{i-1})
pivot[0] = 1 / diagonal[0];
factor[0] = upper[0] * pivot[0];
for (let i = 1; i < grid; i++) {
  pivot[i] = 1 / (diagonal[i] - lower[i] * factor[i - 1]);
  factor[i] = upper[i] * pivot[i];
}
let next = new Float64Array(grid);

function advance() {
  next[0] = u[0] * pivot[0];
  for (let i = 1; i < grid; i++) next[i] = (u[i] - lower[i] * next[i - 1]) * pivot[i];
  for (let i = grid - 2; i >= 0; i--) next[i] -= factor[i] * next[i + 1];
  [u, next] = [next, u];
}

/** Mean temperature over [0, 1] (trapezoidal rule), maximum and minimum. */
function stats() {
  let sum = (u[0] + u[grid - 1]) / 2;
  let max = -Infinity;
  let min = Infinity;
  for (let i = 0; i < grid; i++) {
    if (i > 0 && i < grid - 1) sum += u[i];
    if (u[i] > max) max = u[i];
    if (u[i] < min) min = u[i];
  }
  return { mean: sum * dx, max, min };
}

// ---- the run -----------------------------------------------------------------------

const initial = stats();
const started = performance.now();
const wallSeconds = () => (performance.now() - started) / 1000;

function writeOutputs(stepsCompleted, status) {
  const final = stats();
  const rows = ['x,temperature'];
  for (let i = 0; i < grid; i++) rows.push(`${Number(xs[i].toFixed(10))},${u[i]}`);
  writeAtomic('profile.csv', rows.join('\n') + '\n');
  const result = {
    status,
    label,
    boundary,
    steps,
    stepsCompleted,
    gridPoints: grid,
    diffusivity: alpha,
    durationSeconds: duration,
    simulatedTime: stepsCompleted * stepTime,
    endTime: END_TIME,
    scheme: 'backward Euler, Thomas algorithm',
    timeStep: dt,
    substepsPerStep: substeps,
    initial: { mean: initial.mean, max: initial.max, min: initial.min },
    final: { mean: final.mean, max: final.max, min: final.min },
    wallTimeSeconds: Number(wallSeconds().toFixed(6)),
  };
  writeAtomic('result.json', JSON.stringify(result, null, 2) + '\n');
  return result;
}

function format(value) {
  return value.toFixed(6);
}

process.stdout.write(
  `heat-simulation: label=${JSON.stringify(label)} steps=${steps} grid=${grid} alpha=${alpha} boundary=${boundary} duration=${duration}s\n`,
);
process.stdout.write(`step 0/${steps} t=${format(0)} max=${format(initial.max)} mean=${format(initial.mean)}\n`);

for (let step = 1; step <= steps; step++) {
  for (let k = 0; k < substeps; k++) advance();
  // Pace against the wall clock, so the whole run takes about `duration` seconds
  // however long each step's arithmetic took.
  const due = (duration * 1000 * step) / steps - (performance.now() - started);
  if (due > 0) await sleep(due);
  else if (step % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
  if (stopSignal) {
    writeOutputs(step, `interrupted by ${stopSignal}`);
    process.stderr.write(
      `heat-simulation: stopped by ${stopSignal} at step ${step}/${steps}; partial results written\n`,
    );
    process.exit(128 + signalNumbers[stopSignal]);
  }
  const now = stats();
  process.stdout.write(
    `step ${step}/${steps} t=${format(step * stepTime)} max=${format(now.max)} mean=${format(now.mean)}\n`,
  );
}

const result = writeOutputs(steps, 'completed');
process.stdout.write(
  `done: final mean=${format(result.final.mean)} max=${format(result.final.max)} wall time ${result.wallTimeSeconds.toFixed(3)}s\n`,
);
