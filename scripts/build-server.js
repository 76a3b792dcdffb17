#!/usr/bin/env node
/**
 * `npm run build:server`: compiles the server and the CLI (everything `src/cli/main.ts`
 * reaches) into `dist/`, the JavaScript `bin/drover.js` runs, so no command pays for
 * transforming TypeScript at start. `npm install` (prepare), `npm start`, `npm run dev` and
 * every test tier (scripts/run-tests.js) run it first; it takes well under a second.
 *
 * esbuild bundles with code splitting: `dist/drover.js` holds the CLI, and what a command
 * loads by `import()` (the server behind `drover up`, `migrate`, ...) lands in its own
 * `dist/chunk-*.js`, so `drover ls` never loads fastify, pg or ssh2. Packages in
 * node_modules stay external (loaded from node_modules as usual). Source maps name the .ts
 * files; bin/drover.js turns them on for stack traces.
 *
 * Every output file sits directly in `dist/`, and `import.meta.url` keeps naming the source
 * file it was written in, so `new URL('./migrations/', import.meta.url)` and the project root
 * of src/config.ts resolve as they do in the sources (no SQL or asset is copied).
 *
 * Files are written beside their final name and renamed into place, the entry last, so a
 * `drover` started during a build (or two builds at once) never reads half a file.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The build's folder; bin/drover.js runs `dist/drover.js`. */
export const distDir = join(root, 'dist');
const entryName = 'drover.js';

/**
 * How both builds of TypeScript (this one and the quick tier's, scripts/build-tests.js) bundle:
 * ESM for Node.js 20 with code splitting, packages left external, source maps that name the
 * .ts files and lines (the sources themselves are in the checkout).
 */
export const bundleOptions = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  packages: 'external',
  sourcemap: 'linked',
  sourcesContent: false,
  chunkNames: 'chunk-[hash]',
  logLevel: 'silent',
};

/**
 * Builds `src/cli/main.ts` into `dist/`. Resolves with the milliseconds it took; rejects
 * with esbuild's error (file, line, message) when the sources do not compile.
 */
export async function buildServer() {
  const started = performance.now();
  // Loaded here so that importing this module (run-tests.js) costs nothing until it builds.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { drover: 'src/cli/main.ts' },
    outdir: distDir,
    ...bundleOptions,
    write: false,
    plugins: [sourceFileUrls],
  });
  mkdirSync(distDir, { recursive: true });
  const written = new Set();
  const entry = join(distDir, entryName);
  const files = [...result.outputFiles].sort((a, b) => (a.path === entry) - (b.path === entry));
  const suffix = `.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  for (const file of files) {
    writeFileSync(file.path + suffix, file.contents);
    renameSync(file.path + suffix, file.path);
    written.add(basename(file.path));
  }
  // Chunks of an older build: their hashed names are never loaded again.
  for (const name of readdirSync(distDir)) {
    if (!written.has(name) && /^chunk-.*\.js(\.map)?$/.test(name)) rmSync(join(distDir, name), { force: true });
  }
  return performance.now() - started;
}

/**
 * Replaces `import.meta.url` in each source file with that file's own URL, reached from
 * `dist/` (every output file sits there): an expression, not a fixed path, so a moved or
 * cloned checkout still finds its files.
 */
const sourceFileUrls = {
  name: 'source-file-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const fromDist = relative(distDir, args.path).split('\\').join('/');
      const url = `new URL(${JSON.stringify(fromDist)}, import.meta.url).href`;
      return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const milliseconds = await buildServer();
    console.error(`built dist/${entryName} from src/cli/main.ts in ${Math.round(milliseconds)} ms`);
  } catch (error) {
    for (const message of error.errors ?? []) {
      const where = message.location ? `${message.location.file}:${message.location.line}: ` : '';
      console.error(`${where}${message.text}`);
    }
    if (!error.errors) console.error(error.message);
    console.error('building the server and CLI failed (npm run build:server)');
    process.exit(1);
  }
}
