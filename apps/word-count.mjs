#!/usr/bin/env node
/**
 * Word count of a text file: lines, words and characters from the system `wc -l -w -m`
 * (run without a shell), plus the most frequent words, counted here while streaming the
 * file (memory grows with the number of distinct words, not with the file size).
 *
 *   node word-count.mjs --file <path> [--top 10] [--ignore-case true|false]
 *
 * Writes counts.json and counts.txt in the current directory.
 * Exit codes: 0 done, 2 bad arguments (including a missing or unreadable file), 1 other failure.
 */
import { execFile } from 'node:child_process';
import { createReadStream, renameSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs, promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const DEFAULT_TOP = 10;
const MAX_TOP = 1000;
/** A pending piece of text without a newline is cut at its last non-word character once it is this long. */
const MAX_PENDING = 4 * 1024 * 1024;
/** A word: letters, digits and marks, with single inner apostrophes or hyphens (don't, well-known). */
const WORD = /[\p{L}\p{N}\p{M}]+(?:['\u2019-][\p{L}\p{N}\p{M}]+)*/gu;
/** A character that can never be inside a word. */
const NOT_WORD_CHARACTER = /[^\p{L}\p{N}\p{M}'\u2019-]/u;
/** An absurdly long word (more than MAX_PENDING characters) is listed by this many of its first characters. */
const LONG_WORD_KEPT = 64;

function usage() {
  return 'usage: node word-count.mjs --file <path> [--top <1..1000>] [--ignore-case true|false]';
}

function fail(message) {
  process.stderr.write(`word-count: ${message}\n${usage()}\n`);
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

function parseInteger(name, text, min, max, fallback) {
  if (text === undefined || text.trim() === '') return fallback;
  if (!/^[+-]?\d+$/.test(text.trim())) fail(`--${name} must be a whole number, got ${JSON.stringify(text)}`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    fail(`--${name} must be between ${min} and ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseBoolean(name, text, fallback) {
  if (text === undefined || text.trim() === '') return fallback;
  const lower = text.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  fail(`--${name} must be true or false, got ${JSON.stringify(text)}`);
}

function writeAtomic(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Lines, words, characters from `wc -l -w -m`, in a UTF-8 locale so -m counts characters. */
async function runWc(file) {
  const { stdout } = await execFileAsync('wc', ['-l', '-w', '-m', '--', file], {
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
    maxBuffer: 1024 * 1024,
  });
  // wc prints the counts in a fixed order (lines, words, characters), then the file name.
  const match = /^\s*(\d+)\s+(\d+)\s+(\d+)/.exec(stdout);
  if (!match) throw new Error(`cannot read wc output: ${JSON.stringify(stdout.slice(0, 200))}`);
  return { lines: Number(match[1]), words: Number(match[2]), characters: Number(match[3]) };
}

/**
 * Streams the file once: word frequencies for the top list, and lines / whitespace-separated
 * words / characters as a cross-check of (or stand-in for) wc.
 */
async function scan(file, ignoreCase) {
  const frequencies = new Map();
  let tokens = 0;
  let lines = 0;
  let words = 0;
  let characters = 0;
  let inWord = false;

  const countWords = (text) => {
    for (const match of text.matchAll(WORD)) {
      const word = ignoreCase ? match[0].toLowerCase() : match[0];
      frequencies.set(word, (frequencies.get(word) ?? 0) + 1);
      tokens++;
    }
  };

  let pending = '';
  let skipping = false;
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1024 * 1024 });
  for await (const chunk of stream) {
    // Characters are code points (the decoder never splits a surrogate pair across chunks).
    characters += chunk.length - (chunk.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0);
    for (let at = chunk.indexOf('\n'); at >= 0; at = chunk.indexOf('\n', at + 1)) lines++;
    words += chunk.match(/\S+/g)?.length ?? 0;
    // A word that runs on from the previous chunk was counted there already.
    if (inWord && /^\S/.test(chunk)) words--;
    inWord = /\S$/.test(chunk);
    // Count words up to the last complete line; keep the rest for the next chunk.
    pending += chunk;
    if (skipping) {
      // Still inside an over-long word that was already counted: drop the rest of it.
      const end = pending.search(NOT_WORD_CHARACTER);
      if (end < 0) {
        pending = '';
        continue;
      }
      pending = pending.slice(end);
      skipping = false;
    }
    let cut = pending.lastIndexOf('\n');
    if (cut < 0 && pending.length > MAX_PENDING) {
      // A very long line: cut after the last character that cannot be part of a word.
      cut = pending.length - 1;
      while (cut >= 0 && !NOT_WORD_CHARACTER.test(pending[cut])) cut--;
      if (cut < 0) {
        // Megabytes without a break: one "word", counted once by its first characters.
        countWords(pending.slice(0, LONG_WORD_KEPT));
        pending = '';
        skipping = true;
        continue;
      }
    }
    if (cut >= 0) {
      countWords(pending.slice(0, cut + 1));
      pending = pending.slice(cut + 1);
    }
  }
  countWords(pending);
  return { frequencies, tokens, node: { lines, words, characters } };
}

let options;
try {
  ({ values: options } = parseArgs({
    args: joinValues(process.argv.slice(2), ['--file', '--top', '--ignore-case']),
    options: {
      file: { type: 'string' },
      top: { type: 'string' },
      'ignore-case': { type: 'string' },
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
const file = options.file;
if (file === undefined || file === '') fail('--file is required');
const top = parseInteger('top', options.top, 1, MAX_TOP, DEFAULT_TOP);
const ignoreCase = parseBoolean('ignore-case', options['ignore-case'], true);

let stats;
try {
  stats = statSync(file);
} catch (error) {
  fail(`cannot read ${JSON.stringify(file)}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
}
if (!stats.isFile()) fail(`${JSON.stringify(file)} is not a regular file`);

const started = process.hrtime.bigint();
process.stdout.write(`word-count: counting ${file} (${stats.size} bytes)\n`);

const [wcResult, scanned] = await Promise.allSettled([runWc(file), scan(file, ignoreCase)]);
if (scanned.status === 'rejected') {
  process.stderr.write(`word-count: cannot read ${JSON.stringify(file)}: ${scanned.reason.message}\n`);
  process.exit(2);
}
const { frequencies, tokens, node } = scanned.value;
let counts;
let countedBy;
if (wcResult.status === 'fulfilled') {
  counts = wcResult.value;
  countedBy = 'wc -l -w -m';
} else {
  process.stderr.write(
    `word-count: wc failed (${wcResult.reason.message.trim()}); using counts computed in node instead\n`,
  );
  counts = node;
  countedBy = 'node (wc failed)';
}

// Most frequent first; equal counts in alphabetical order so the list is stable.
const ranked = [...frequencies.entries()]
  .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  .slice(0, top)
  .map(([word, count]) => ({ word, count }));

const result = {
  file,
  bytes: stats.size,
  lines: counts.lines,
  words: counts.words,
  characters: counts.characters,
  countedBy,
  nodeCounts: node,
  ignoreCase,
  top,
  wordTokens: tokens,
  distinctWords: frequencies.size,
  topWords: ranked,
  elapsedSeconds: Number((Number(process.hrtime.bigint() - started) / 1e9).toFixed(6)),
};
writeAtomic('counts.json', JSON.stringify(result, null, 2) + '\n');

const width = Math.max(4, ...ranked.map((entry) => entry.word.length));
const text = [
  `file:           ${file}`,
  `lines:          ${counts.lines}`,
  `words:          ${counts.words}`,
  `characters:     ${counts.characters}`,
  `bytes:          ${stats.size}`,
  `counted by:     ${countedBy}`,
  `distinct words: ${frequencies.size} (${ignoreCase ? 'case ignored' : 'case sensitive'})`,
  '',
  `top ${ranked.length} word${ranked.length === 1 ? '' : 's'}:`,
  ...ranked.map((entry, index) => `${String(index + 1).padStart(5)}  ${entry.word.padEnd(width)}  ${entry.count}`),
  '',
].join('\n');
writeAtomic('counts.txt', text);
process.stdout.write(text);
