#!/usr/bin/env node
/**
 * Monte Carlo estimate of pi: draws `samples` points uniformly in the unit square from a
 * seeded PRNG (mulberry32) and counts those inside the quarter circle; pi ~ 4 * inside / samples.
 *
 *   node pi-monte-carlo.mjs --samples 1000000 [--seed 42]
 *
 * Prints progress every 10% to stdout in Drover's `::drover progress` and `::drover value`
 * lines, and writes result.json in the current directory.
 * Exit codes: 0 done, 2 bad arguments, 1 other failure, 128+n when stopped by signal n.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const MAX_SAMPLES = 2_000_000_000;
const MAX_SEED = 0xffff_ffff;
const DEFAULT_SEED = 42;
/** Samples drawn between checks for progress and signals. */
const CHUNK = 1_000_000;

function usage() {
  return 'usage: node pi-monte-carlo.mjs --samples <1..2000000000> [--seed <0..4294967295>]';
}

function fail(message) {
  process.stderr.write(`pi-monte-carlo: ${message}\n${usage()}\n`);
  process.exit(2);
}

/**
 * `--opt value` becomes `--opt=value`, so a value that starts with `-` is taken as the
 * value rather than as another option (the gateway always passes each value separately).
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

/** A whole number in [min, max] from a decimal string; `fallback` when empty or absent. */
function parseInteger(name, text, min, max, fallback) {
  if (text === undefined || text.trim() === '') {
    if (fallback === undefined) fail(`--${name} is required`);
    return fallback;
  }
  if (!/^[+-]?\d+$/.test(text.trim())) fail(`--${name} must be a whole number, got ${JSON.stringify(text)}`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    fail(`--${name} must be between ${min} and ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
function mulberry32(seed) {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function writeJsonAtomic(path, value) {
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

let options;
try {
  ({ values: options } = parseArgs({
    args: joinValues(process.argv.slice(2), ['--samples', '--seed']),
    options: {
      samples: { type: 'string' },
      seed: { type: 'string' },
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
const samples = parseInteger('samples', options.samples, 1, MAX_SAMPLES, undefined);
const seed = parseInteger('seed', options.seed, 0, MAX_SEED, DEFAULT_SEED);

let stopSignal = null;
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {
    stopSignal = signal;
  });
}
const signalNumbers = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

const random = mulberry32(seed);
const started = process.hrtime.bigint();
const elapsedSeconds = () => Number(process.hrtime.bigint() - started) / 1e9;

function summary(done, inside, status) {
  const p = done > 0 ? inside / done : 0;
  const estimate = 4 * p;
  return {
    status,
    estimate,
    pi: Math.PI,
    absoluteError: Math.abs(estimate - Math.PI),
    relativeError: Math.abs(estimate - Math.PI) / Math.PI,
    /** One standard deviation of the estimate: 4 * sqrt(p (1 - p) / n). */
    standardError: done > 0 ? 4 * Math.sqrt((p * (1 - p)) / done) : null,
    samples,
    samplesDrawn: done,
    inside,
    seed,
    prng: 'mulberry32',
    elapsedSeconds: Number(elapsedSeconds().toFixed(6)),
  };
}

process.stdout.write(`pi-monte-carlo: ${samples} samples, seed ${seed}\n`);

let done = 0;
let inside = 0;
let nextDecile = 1;
while (done < samples) {
  // Stop each chunk at the next 10% mark, so progress lines report exact fractions.
  const decileEnd = Math.ceil((samples * nextDecile) / 10);
  const end = Math.min(done + CHUNK, decileEnd, samples);
  for (let i = done; i < end; i++) {
    const x = random();
    const y = random();
    if (x * x + y * y < 1) inside++;
  }
  done = end;
  while (nextDecile <= 10 && done >= Math.ceil((samples * nextDecile) / 10)) {
    const estimate = (4 * inside) / done;
    // Drover's progress lines (see the README, "Progress from inside the job"): any program can print them.
    process.stdout.write(
      `::drover progress ${done}/${samples} ${nextDecile * 10}% of the samples drawn\n` +
        `::drover value estimate=${estimate.toFixed(8)} elapsed_s=${elapsedSeconds().toFixed(2)}\n`,
    );
    nextDecile++;
  }
  if (done < samples) {
    // Let signal handlers run between chunks.
    await new Promise((resolve) => setImmediate(resolve));
    if (stopSignal) {
      writeJsonAtomic('result.json', summary(done, inside, `interrupted by ${stopSignal}`));
      process.stderr.write(
        `pi-monte-carlo: stopped by ${stopSignal} after ${done} samples; partial result in result.json\n`,
      );
      process.exit(128 + signalNumbers[stopSignal]);
    }
  }
}

const result = summary(done, inside, 'completed');
writeJsonAtomic('result.json', result);
process.stdout.write(
  `pi ~ ${result.estimate} (error ${result.absoluteError.toExponential(3)}, standard error ${result.standardError.toExponential(3)}) in ${result.elapsedSeconds.toFixed(3)}s\n`,
);
