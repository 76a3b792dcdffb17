/**
 * The `drover` command the tests spawn: bin/drover.js, which runs the build in dist/. Importing
 * this module first rebuilds dist/ when a file under src/ is newer than it, so a test run
 * alone (`node --import tsx --test test/cli.test.ts`) after an edit never runs a stale build;
 * scripts/run-tests.js builds before every tier, so there this costs one scan of src/.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** The path of bin/drover.js, to spawn with `process.execPath`. */
export const droverBin = join(projectRoot, 'bin', 'drover.js');

/** The newest modification time (ms) of the files below `folder`. */
function newestChange(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(join(projectRoot, 'dist', 'drover.js')).mtimeMs;
  } catch {
    return 0;
  }
}

if (builtAt() < newestChange(join(projectRoot, 'src'))) {
  // Each file is renamed into place, so tests of another process that run meanwhile see whole files.
  execFileSync(process.execPath, [join(projectRoot, 'scripts', 'build-server.js')], { stdio: 'inherit' });
}
