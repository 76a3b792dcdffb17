#!/usr/bin/env node
/**
 * `npm run lint`: the three checks, each run even when an earlier one fails, so one run
 * shows every kind of finding; exits 1 when any failed.
 *
 * - boundaries (`npm run lint:boundaries`): dependency-cruiser with .dependency-cruiser.cjs,
 *   the layering of README.md's "How it is built"; fails on an import that runs back up a
 *   layer, an adapter imported outside resources/ and main.ts, or a cycle.
 * - code (`npm run lint:code`): ESLint with eslint.config.js (typescript-eslint recommended).
 * - format (`npm run lint:format`): `prettier --check`; `npm run format` rewrites the files.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const checks = ['lint:boundaries', 'lint:code', 'lint:format'];

const results = checks.map((script) => {
  const started = performance.now();
  const { status, error } = spawnSync('npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit' });
  if (error) console.error(`cannot run npm run ${script}: ${error.message}`);
  return { script, ok: status === 0, seconds: (performance.now() - started) / 1000 };
});

for (const { script, ok, seconds } of results) {
  console.log(`${ok ? 'ok    ' : 'FAILED'} npm run ${script} (${seconds.toFixed(1)} s)`);
}
process.exit(results.every((result) => result.ok) ? 0 : 1);
