/**
 * Compiles test files to JavaScript for one run of the quick tier (scripts/run-tests.js), so
 * that its test processes run without tsx. Through tsx every test process paid about 0.45 s of
 * CPU to load it, and a file that starts a Drover about 1.9 s to load the server through its
 * module hooks: on the 2-core machine that was a fifth of the tier's CPU. One esbuild build of
 * every file takes about a second.
 *
 * esbuild bundles as for dist/ (scripts/build-server.js `bundleOptions`): code splitting (the
 * modules files share land in chunks), packages in node_modules external and loaded from
 * node_modules as usual. Every output
 * file sits directly in the build folder, named after its source path (`test/cli.test.ts` ->
 * `test~cli.test.js`), and `import.meta.url` keeps naming the source file it was written in,
 * so `new URL('..', import.meta.url)` resolves as in the sources. Source maps name the .ts
 * files and lines (the runner turns them on for stack traces).
 *
 * The build folder is under node_modules/.cache (so packages resolve from it), one per run,
 * and removed after it: runs side by side never share one.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleOptions } from './build-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Builds `files` (paths relative to the project root). Resolves with the compiled files in
 * the same order, the build folder and the milliseconds it took; rejects with esbuild's
 * error when a file does not compile.
 */
export async function buildTests(files) {
  const started = performance.now();
  const esbuild = await import('esbuild');
  const cache = join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const folder = mkdtempSync(join(cache, 'drover-tests-'));
  const names = files.map((file) => file.replace(/\.ts$/, '').split(/[\\/]/).join('~'));
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: Object.fromEntries(files.map((file, index) => [names[index], file])),
      outdir: folder,
      ...bundleOptions,
      plugins: [sourceFileUrls],
    });
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  return {
    files: names.map((name) => join(folder, `${name}.js`)),
    folder,
    milliseconds: performance.now() - started,
  };
}

/** Replaces `import.meta.url` in each source file with that file's own URL (the build is thrown away after the run). */
const sourceFileUrls = {
  name: 'source-file-urls',
  setup(build) {
    build.onLoad({ filter: /\.tsx?$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: source.replaceAll('import.meta.url', url), loader: args.path.endsWith('x') ? 'tsx' : 'ts' };
    });
  },
};
