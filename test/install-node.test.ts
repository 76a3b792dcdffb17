/**
 * scripts/install-node.sh, which .ci/run uses to run the quick tier on Node.js 22 and 24: what it
 * prints and when it downloads nothing. The download itself runs in CI (a real install of both
 * majors, then the quick tier on each).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../scripts/install-node.sh', import.meta.url));

/**
 * Runs the script with `args` and the node cache in `cache`, with npm's registry at an address
 * that refuses connections, so a test that expects no download fails fast if one starts.
 */
function installNode(args: string[], cache: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    DROVER_NODE_CACHE: cache,
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_fetch_retries: '0',
  };
  return new Promise((resolve) => {
    execFile('bash', [script, ...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function withCache(body: (cache: string) => Promise<void>): Promise<void> {
  const cache = await mkdtemp(join(tmpdir(), 'drover-node-cache-'));
  try {
    await body(cache);
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
}

it('names the majors it installs when asked for another one, and installs nothing', async () => {
  await withCache(async (cache) => {
    for (const args of [['20'], [], ['22', '24']]) {
      const result = await installNode(args, cache);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, 'usage: bash scripts/install-node.sh 22|24\n');
    }
  });
});

it('prints the path of a cached binary of the pinned release without downloading it again', async () => {
  const pinned = /\[22\]=(\d+\.\d+\.\d+)/.exec(await readFile(script, 'utf8'))?.[1];
  assert.ok(pinned, 'install-node.sh pins a 22.x release');
  await withCache(async (cache) => {
    // A stand-in that answers --version like the real binary: the script must reuse it.
    const node = join(cache, `node-${pinned}`, 'bin', 'node');
    await mkdir(join(cache, `node-${pinned}`, 'bin'), { recursive: true });
    await writeFile(node, `#!/bin/sh\necho v${pinned}\n`);
    await chmod(node, 0o755);
    const result = await installNode(['22'], cache);
    assert.deepEqual(result, { code: 0, stdout: `${node}\n`, stderr: '' });
  });
});
