#!/usr/bin/env node
// Runs the compiled CLI and server (dist/drover.js, built from src/ by `npm run build`, which
// `npm install` and `npm start` run): starting from JavaScript takes a fraction of the time
// that transforming the TypeScript at every start did.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/drover.js', import.meta.url);
if (!existsSync(entry)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.stderr.write(
    `drover: not built yet (no ${fileURLToPath(entry)})\n  build it with: cd ${root} && npm run build\n`,
  );
  process.exit(1);
}
// Stack traces name the .ts files and lines (dist/*.js.map).
process.setSourceMapsEnabled(true);
// Node.js 22.1+ keeps the compiled code between runs; 20 has no such cache.
module.enableCompileCache?.();
await import(entry.href);
