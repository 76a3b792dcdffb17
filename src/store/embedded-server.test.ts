/**
 * The embedded PostgreSQL server on its own: first start, a restart that finds a stale
 * postmaster.pid whose pid now belongs to another program, and a run as an unprivileged
 * user. (kill -9 of a whole `drover up` and a second Drover on the same folder are in
 * test/crash-recovery.test.ts.)
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { removeCluster, startEmbeddedServer } from './embedded-server.ts';

const folders: string[] = [];
after(() => {
  for (const folder of folders) {
    removeCluster(folder);
    rmSync(folder, { recursive: true, force: true });
  }
});

function dataFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'drover-server-'));
  folders.push(folder);
  return folder;
}

async function ask(url: string, sql: string): Promise<Record<string, unknown>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0];
  } finally {
    await client.end();
  }
}

describe('the embedded server', () => {
  it(
    'keeps its data across a restart over a stale postmaster.pid whose pid was reused',
    { timeout: 120_000 },
    async () => {
      const dataDir = dataFolder();
      const first = await startEmbeddedServer({ dataDir });
      try {
        assert.equal(first.adopted, false);
        assert.deepEqual(
          await ask(
            first.url,
            `select current_setting('fsync') as fsync, current_setting('listen_addresses') as listen`,
          ),
          {
            fsync: 'on',
            listen: '127.0.0.1',
          },
        );
        await ask(first.url, 'create table kept (value text)');
        await ask(first.url, "insert into kept values ('still here')");
      } finally {
        await first.stop();
      }
      // As after a crash whose postmaster pid the system gave to another program (this one).
      const pidFile = join(first.clusterDir, 'postmaster.pid');
      writeFileSync(pidFile, `${process.pid}\n${first.clusterDir}\n0\n${new URL(first.url).port}\n\n127.0.0.1\n`);
      const second = await startEmbeddedServer({ dataDir });
      try {
        assert.equal(second.adopted, false, 'a pid that is not this cluster’s postmaster is not adopted');
        assert.notEqual(second.pid, process.pid);
        assert.deepEqual(await ask(second.url, 'select value from kept'), { value: 'still here' });
        assert.equal(second.url, first.url, 'the same port and password');
        // A third start while it runs adopts it.
        const third = await startEmbeddedServer({ dataDir });
        assert.equal(third.adopted, true);
        assert.equal(third.pid, second.pid);
      } finally {
        await second.stop();
      }
      assert.throws(() => readFileSync(pidFile), /ENOENT/, 'a clean stop leaves no postmaster.pid');
    },
  );

  it(
    "as root, makes its cluster outside a data folder its user cannot reach, through Drover's own folders even when they were made 0700",
    { timeout: 120_000, skip: process.getuid?.() !== 0 && 'only root runs the server as another user' },
    async () => {
      // A data folder below a folder only root may enter (as /root), and the folders the
      // cluster then goes in as a Drover under umask 077 makes them (as on a fresh machine).
      const outer = dataFolder();
      chmodSync(outer, 0o700);
      const dataDir = join(outer, 'data');
      mkdirSync(dataDir);
      const system = dataFolder();
      chmodSync(system, 0o755); // as /var/lib
      const rootClusterBase = join(system, 'drover', 'postgres');
      mkdirSync(rootClusterBase, { recursive: true, mode: 0o700 });
      chmodSync(dirname(rootClusterBase), 0o700);
      chmodSync(rootClusterBase, 0o700);
      const server = await startEmbeddedServer({ dataDir, rootClusterBase, durable: false });
      try {
        assert.equal(dirname(server.clusterDir), rootClusterBase);
        assert.equal(realpathSync(join(dataDir, 'postgres')), server.clusterDir, 'linked from the data folder');
        assert.deepEqual(await ask(server.url, 'select 1 as answer'), { answer: 1 });
        for (const folder of [dirname(rootClusterBase), rootClusterBase]) {
          assert.equal(statSync(folder).mode & 0o777, 0o711, `${folder}: others pass through, never list`);
        }
      } finally {
        await server.stop();
        removeCluster(dataDir);
      }
    },
  );

  it('runs as an unprivileged user, as that user', { timeout: 120_000 }, async () => {
    // As root, run it as `nobody` in a data folder of nobody's; as anyone else, as oneself.
    const asRoot = process.getuid?.() === 0;
    const dataDir = dataFolder();
    const uid = asRoot ? 65534 : process.getuid!();
    if (asRoot) chownSync(dataDir, uid, 65534);
    // This Node.js may live where nobody cannot reach it (CI's Node 22 and 24 are in
    // /root/.cache): as root, the child runs a copy of it in nobody's folder.
    let node = process.execPath;
    if (asRoot) {
      node = join(dataDir, 'node');
      copyFileSync(process.execPath, node);
      chmodSync(node, 0o755);
    }
    const module = fileURLToPath(new URL('./embedded-server.ts', import.meta.url));
    const script = `
      const { startEmbeddedServer } = await import(${JSON.stringify(module)});
      const { readFileSync } = await import('node:fs');
      const server = await startEmbeddedServer({ dataDir: ${JSON.stringify(dataDir)} });
      const status = readFileSync('/proc/' + server.pid + '/status', 'utf8');
      console.log(JSON.stringify({ uid: Number(/^Uid:\\s+(\\d+)/m.exec(status)[1]) }));
      await server.stop();`;
    const output = await new Promise<string>((resolve, reject) =>
      execFile(
        node,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        {
          uid,
          gid: asRoot ? 65534 : undefined,
          env: { ...process.env, HOME: dataDir },
          cwd: fileURLToPath(new URL('../..', import.meta.url)),
          timeout: 100_000,
        },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    assert.deepEqual(JSON.parse(output.trim().split('\n').at(-1)!), { uid }, 'the server runs as that user');
  });
});
