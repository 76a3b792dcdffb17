/**
 * SshShell against real sshd: the test cluster's on 127.0.0.1:2222 (scripts/start-slurm.sh),
 * and private ones this file starts on free loopback ports for the tests that stop sshd.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ResourceUnreachableError } from '../domain/errors.ts';
import { LocalShell } from './local-shell.ts';
import { SshShell, type SshShellOptions } from './ssh-shell.ts';
import { freePort, startPrivateSshd, stopSshd } from '../../test/private-sshd.ts';

const clusterPort = 2222;
const privateKeyPath = '/var/lib/drover-test-cluster/id_ed25519';
const clusterKnownHosts = '/var/lib/drover-test-cluster/known_hosts';
const runId = randomBytes(6).toString('hex');
const scratch = `/home/hpcuser/drover-scratch/ssh-shell-test-${runId}`;
// Remote `sleep 1x.<tag>`: durations this run alone uses, to find (and end) its processes.
const sleepTag = randomInt(100_000, 1_000_000);

const shells: SshShell[] = [];
const sshdProcesses: ChildProcess[] = [];
const localDirectories: string[] = [];
let clusterHostKey = '';

function makeShell(overrides: Partial<SshShellOptions> = {}): SshShell {
  const shell = new SshShell({
    resource: 'test-cluster',
    host: '127.0.0.1',
    port: clusterPort,
    user: 'hpcuser',
    privateKeyPath,
    knownHostsPath: clusterKnownHosts,
    ...overrides,
  });
  shells.push(shell);
  return shell;
}

async function makeLocalDirectory(): Promise<string> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-ssh-shell-'));
  localDirectories.push(directory);
  return directory;
}

async function writeKnownHosts(text: string): Promise<string> {
  const file = path.join(await makeLocalDirectory(), 'known_hosts');
  await fs.writeFile(file, text);
  return file;
}

/** Starts a private sshd on `port` and remembers it, so `after` stops it whatever happens. */
async function startSshd(port: number, extraOptions: string[] = []): Promise<ChildProcess> {
  const child = await startPrivateSshd(port, extraOptions);
  sshdProcesses.push(child);
  return child;
}

/** Established TCP connections from this process to 127.0.0.1:`port`, as ss sees them. */
function connectionsFromThisProcess(port: number): number {
  const output = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
  return output.split('\n').filter((line) => line.includes(`pid=${process.pid},`)).length;
}

async function until<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected the call to fail');
}

before(async () => {
  const line = (await fs.readFile(clusterKnownHosts, 'utf8'))
    .split('\n')
    .find((entry) => entry.startsWith(`[127.0.0.1]:${clusterPort} `));
  assert.ok(line, `no [127.0.0.1]:${clusterPort} line in ${clusterKnownHosts}; run scripts/start-slurm.sh`);
  clusterHostKey = line.split(' ').slice(1, 3).join(' ');
  await makeShell().makeDirectory(scratch);
});

after(async () => {
  const cleaner = makeShell();
  await cleaner.run(['rm', '-rf', '--', scratch]).catch(() => {});
  await cleaner.run(['pkill', '-KILL', '-u', 'hpcuser', '-f', `sleep 1[0-2]\\.${sleepTag}`]).catch(() => {});
  for (const shell of shells) await shell.close().catch(() => {});
  for (const child of sshdProcesses) await stopSshd(child);
  for (const directory of localDirectories) await fs.rm(directory, { recursive: true, force: true });
});

describe('run', () => {
  test('exit codes, stdout, stderr, stdin and cwd', async () => {
    const shell = makeShell();
    assert.deepEqual(await shell.run(['sh', '-c', 'echo out; echo err >&2; exit 3']), {
      code: 3,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    assert.deepEqual(await shell.run(['cat'], { input: 'line one\nline two' }), {
      code: 0,
      stdout: 'line one\nline two',
      stderr: '',
    });
    const odd = `${scratch}/cwd with 'quote' and $(touch x)`;
    await shell.makeDirectory(odd);
    assert.equal((await shell.run(['pwd'], { cwd: odd })).stdout, `${odd}\n`);
    const missing = await shell.run(['drover-no-such-program']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /not found/);
    assert.equal((await shell.run(['sh', '-c', 'kill -TERM $$'])).code, 128 + os.constants.signals.SIGTERM);
    const badCwd = await shell.run(['true'], { cwd: `${scratch}/does-not-exist` });
    assert.notEqual(badCwd.code, 0);
    await shell.close();
  });

  test('large stdin and stdout pass through the channel windows', async () => {
    const shell = makeShell();
    const input = randomBytes(768 * 1024).toString('base64'); // 1 MiB of text
    assert.equal((await shell.run(['wc', '-c'], { input })).stdout.trim(), String(input.length));
    const output = await shell.run(['head', '-c', '3000000', '/dev/zero']);
    assert.equal(output.stdout.length, 3_000_000);
    await shell.close();
  });

  test('a timeout kills the remote program and gives 137', async () => {
    const shell = makeShell();
    const seconds = `10.${sleepTag}`;
    const started = Date.now();
    const result = await shell.run(['sh', '-c', `echo started; exec sleep ${seconds}`], { timeoutMs: 700 });
    assert.ok(Date.now() - started < 3000);
    assert.equal(result.code, 137);
    assert.equal(result.stdout, 'started\n');
    assert.match(result.stderr, /timed out after 700 ms/);
    await until(
      'the remote sleep to be gone',
      async () => {
        const search = await shell.run(['pgrep', '-u', 'hpcuser', '-f', `sleep ${seconds}`]);
        return search.code === 1 ? true : undefined;
      },
      5000,
    );
    await shell.close();
  });

  test("maxSessions equal to the server's MaxSessions holds under steady load", async () => {
    // sshd frees a session a moment after the client sees it close, so a slot reused at once
    // is sometimes refused; without asking again, about 1 command in 3 failed here.
    const shell = makeShell({ maxSessions: 10 });
    const results = await Promise.all(Array.from({ length: 500 }, () => shell.run(['true'])));
    assert.ok(results.every((result) => result.code === 0));
    await shell.close();
  });

  test('maxSessions bounds concurrent channels on one TCP connection', async () => {
    const connects: string[] = [];
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        connects.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((line) => line.includes('ssh connected')),
        );
        done();
      },
    });
    const shell = makeShell({ maxSessions: 4, logger: pino({ level: 'info' }, logStream) });
    const baseline = connectionsFromThisProcess(clusterPort);
    const runs = Array.from({ length: 24 }, () => shell.run(['sh', '-c', 'date +%s.%N; sleep 0.3; date +%s.%N']));
    const connectionCounts: number[] = [];
    const sampling = (async () => {
      for (let i = 0; i < 8; i += 1) {
        await sleep(150);
        connectionCounts.push(connectionsFromThisProcess(clusterPort) - baseline);
      }
    })();
    const results = await Promise.all(runs);
    await sampling;
    const intervals = results.map((result) => {
      assert.equal(result.code, 0, result.stderr);
      const [start, end] = result.stdout.trim().split('\n').map(Number);
      return { start, end };
    });
    const events = intervals
      .flatMap(({ start, end }) => [
        [start, 1],
        [end, -1],
      ])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let running = 0;
    let mostRunning = 0;
    for (const [, change] of events) mostRunning = Math.max(mostRunning, (running += change));
    assert.ok(mostRunning <= 4, `${mostRunning} commands overlapped`);
    assert.ok(mostRunning >= 2, `commands did not run concurrently (${mostRunning})`);
    // Never a second connection; a first sample may come before the handshake ends on a busy
    // machine (seen in CI: 0 at 150 ms), and `connects` below counts the connections made.
    assert.ok(
      connectionCounts.every((count) => count <= 1) && connectionCounts.includes(1),
      `one TCP connection to sshd for the whole run, sampled: ${connectionCounts.join(', ')}`,
    );
    assert.equal(connects.length, 1);
    await shell.close();
  });
});

describe('files over SFTP', () => {
  test('folders asked for together are made in a few mkdir commands; one that cannot be made fails alone', async () => {
    const programs: string[] = [];
    const shell = makeShell({ onCommand: ({ program }) => programs.push(program) });
    const base = `${scratch}/many-folders`;
    await shell.makeDirectory(base);
    await shell.writeFile(`${base}/a-file`, 'not a folder');
    programs.length = 0;
    // 40 at once (a burst of env-setup tasks): the first two go at once, each alone; the
    // other 38 wait for one of them and go together.
    const wanted = Array.from({ length: 40 }, (_, index) => `${base}/experiment-${index}/inputs`);
    await Promise.all(wanted.map((folder) => shell.makeDirectory(folder)));
    assert.deepEqual(programs, ['mkdir', 'mkdir', 'mkdir'], 'three commands for 40 folders');
    const listing = await shell.run([
      'find',
      base,
      '-mindepth',
      '2',
      '-maxdepth',
      '2',
      '-type',
      'd',
      '-name',
      'inputs',
    ]);
    assert.equal(listing.stdout.trim().split('\n').length, 40, 'every folder was made');
    // One that cannot be made (below a file) fails with its own error; the others of its
    // command are made again one by one and succeed.
    const more = [0, 1, 2].map((index) => `${base}/more-${index}/inputs`);
    const impossible = `${base}/a-file/inputs`;
    const outcomes = await Promise.allSettled([...more, impossible].map((folder) => shell.makeDirectory(folder)));
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
    );
    assert.match(
      String((outcomes[3] as PromiseRejectedResult).reason),
      /mkdir .*\/a-file\/inputs on test-cluster: .*Not a directory/,
    );
    assert.doesNotMatch(String((outcomes[3] as PromiseRejectedResult).reason), /more-2/, 'only its own folder');
    assert.equal((await shell.run(['test', '-d', more[2]])).code, 0);
    // A path that no command can carry (a NUL byte), in one command with another (the
    // first two calls go alone), fails alone too.
    const [, , nul, fine] = await Promise.allSettled(
      [`${base}/first`, `${base}/second`, `${base}/bad\0name`, `${base}/fine/inputs`].map((folder) =>
        shell.makeDirectory(folder),
      ),
    );
    assert.equal(nul.status, 'rejected');
    assert.ok((nul as PromiseRejectedResult).reason instanceof RangeError);
    assert.equal(fine.status, 'fulfilled');
  });

  test('readFile and download refuse a symbolic link a job planted (to a file out of its folder)', async () => {
    const shell = makeShell();
    const remote = `${scratch}/links`;
    await shell.makeDirectory(remote);
    assert.equal((await shell.run(['ln', '-s', '/etc/passwd', `${remote}/stdout.txt`])).code, 0);
    await shell.writeFile(`${remote}/real.txt`, 'mine');
    assert.equal((await shell.run(['ln', '-s', 'real.txt', `${remote}/inside.txt`])).code, 0);
    const local = await makeLocalDirectory();
    for (const link of ['stdout.txt', 'inside.txt']) {
      await assert.rejects(shell.readFile(`${remote}/${link}`), /symbolic link/);
      await assert.rejects(shell.download(`${remote}/${link}`, path.join(local, link)), /symbolic link/);
    }
    assert.deepEqual(await fs.readdir(local), [], 'nothing was copied');
    assert.deepEqual(await shell.glob(remote, ['*.txt']), ['real.txt'], 'glob lists the regular file only');
    assert.equal((await shell.readFile(`${remote}/real.txt`))?.toString(), 'mine');
  });

  test('upload, download, readFile, writeFile and makeDirectory', async () => {
    const shell = makeShell();
    const remote = `${scratch}/files/a/b`;
    await shell.makeDirectory(remote);
    await shell.makeDirectory(remote); // exists: still fine
    const local = await makeLocalDirectory();
    const content = randomBytes(3 * 1024 * 1024 + 17);
    await fs.writeFile(path.join(local, 'up.bin'), content);
    await shell.upload(path.join(local, 'up.bin'), `${remote}/up.bin`);
    await shell.download(`${remote}/up.bin`, path.join(local, 'down.bin'));
    assert.ok(content.equals(await fs.readFile(path.join(local, 'down.bin'))));
    assert.ok(content.equals((await shell.readFile(`${remote}/up.bin`))!));
    assert.equal(await shell.readFile(`${remote}/missing.txt`), null);
    assert.equal(await shell.readFile(`${scratch}/no-such-folder/missing.txt`), null);

    await shell.writeFile(`${remote}/script.sh`, '#!/bin/sh\necho first\n', 0o750);
    await shell.writeFile(`${remote}/script.sh`, '#!/bin/sh\necho second\n', 0o750);
    await shell.writeFile(`${remote}/private.txt`, Buffer.from('secret'), 0o600);
    assert.equal((await shell.run([`${remote}/script.sh`])).stdout, 'second\n');
    assert.equal(
      (await shell.run(['stat', '-c', '%a %n', `${remote}/script.sh`, `${remote}/private.txt`])).stdout,
      `750 ${remote}/script.sh\n600 ${remote}/private.txt\n`,
    );
    assert.equal(
      (await shell.run(['ls', '-A', remote])).stdout,
      'private.txt\nscript.sh\nup.bin\n',
      'no temp file left',
    );

    const error = await rejection(shell.writeFile(`${scratch}/no-such-folder/x.txt`, 'x'));
    assert.ok(!(error instanceof ResourceUnreachableError));
    assert.match(error.message, /no-such-folder\/x\.txt/);
    await shell.close();
  });

  test('file calls and commands share the session bound without deadlock', async () => {
    const shell = makeShell({ maxSessions: 2 });
    await shell.writeFile(`${scratch}/shared.txt`, 'shared');
    const calls = Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0
        ? shell.run(['sh', '-c', 'sleep 0.05; echo ok']).then((result) => result.stdout)
        : shell.readFile(`${scratch}/shared.txt`).then(String),
    );
    assert.deepEqual(
      await Promise.all(calls),
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'ok\n' : 'shared')),
    );
    await shell.close();
  });

  test('glob matches as LocalShell does on the same folder', async () => {
    const shell = makeShell();
    const root = `${scratch}/glob`;
    const files = [
      'a.txt',
      'b.dat',
      'sub/c.txt',
      'sub/deep/d.txt',
      '.hidden.txt',
      '.cache/e.txt',
      '.drover-job/out.txt',
      'we ird [1].txt',
      'new\nline.txt',
    ];
    for (const file of files) {
      await shell.makeDirectory(path.posix.dirname(`${root}/${file}`));
      await shell.writeFile(`${root}/${file}`, file);
    }
    await shell.run(['ln', '-s', '/etc', `${root}/outside`]);
    await shell.run(['ln', '-s', 'a.txt', `${root}/link.txt`]);
    const local = new LocalShell();
    const patternSets = [
      ['**'],
      ['*.txt'],
      ['**/*.txt'],
      ['sub/**'],
      ['sub'],
      ['sub/'],
      ['.cache/*'],
      ['.*'],
      ['.drover-job/**'],
      ['**/*.{txt,dat}'],
      ['./a.txt'],
      ['*', '!a.txt'],
      ['!a.txt'],
      ['we ird [1].txt'],
      ['outside/**', 'outside/hostname'],
      ['link.txt'],
      ['new?line.txt'],
      [],
    ];
    for (const patterns of patternSets) {
      const expected = await local.glob(root, patterns);
      assert.deepEqual(await shell.glob(root, patterns), expected, JSON.stringify(patterns));
    }
    // picomatch's `*` does not match a newline (`?` does), here as in LocalShell.
    assert.deepEqual(await shell.glob(root, ['**']), [
      'a.txt',
      'b.dat',
      'sub/c.txt',
      'sub/deep/d.txt',
      'we ird [1].txt',
    ]);
    assert.deepEqual(await shell.glob(root, ['new?line.txt', '.cache/*']), ['.cache/e.txt', 'new\nline.txt']);
    await assert.rejects(shell.glob(root, ['../x']), RangeError);
    await assert.rejects(shell.glob(`${root}/missing`, ['**']), /cannot list/);
    await shell.close();
  });
});

describe('host keys', () => {
  test('neither hostKey nor knownHostsPath is a TypeError', () => {
    assert.throws(
      () => new SshShell({ resource: 'r', host: 'h', user: 'u', privateKeyPath: privateKeyPath }),
      TypeError,
    );
  });

  test('a hashed known_hosts entry is accepted', async () => {
    const file = await writeKnownHosts(`[127.0.0.1]:${clusterPort} ${clusterHostKey}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    assert.match(await fs.readFile(file, 'utf8'), /^\|1\|/);
    const shell = makeShell({ knownHostsPath: file });
    assert.equal((await shell.run(['echo', 'hashed'])).stdout, 'hashed\n');
    await shell.close();
  });

  test('a wrong pinned key is refused, naming both keys', async () => {
    const wrong = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBAVRHx3WJ5+rdFtbCrBtW4YvMT1QNHdcwV0gzlCS5iA';
    const shell = makeShell({ knownHostsPath: undefined, hostKey: wrong });
    const error = await rejection(shell.run(['true']));
    assert.ok(error instanceof ResourceUnreachableError);
    assert.equal(error.resource, 'test-cluster');
    assert.match(error.message, /host key rejected/);
    assert.ok(error.message.includes(clusterHostKey.split(' ')[1]), 'names the presented key');
    assert.match(error.message, /pinned hostKey ssh-ed25519 SHA256:/);
    const right = makeShell({ knownHostsPath: undefined, hostKey: clusterHostKey });
    assert.equal((await right.run(['true'])).code, 0);
    await right.close();
  });

  test('a host missing from known_hosts, or with a revoked key, is refused', async () => {
    const other = await writeKnownHosts(`[127.0.0.1]:${clusterPort + 1} ${clusterHostKey}\n`);
    const missing = await rejection(makeShell({ knownHostsPath: other }).run(['true']));
    assert.ok(missing instanceof ResourceUnreachableError);
    assert.ok(missing.message.includes(`has no entry for [127.0.0.1]:${clusterPort}`), missing.message);
    // Users read this message (a blocked experiment): it never names a file on the Drover host.
    assert.ok(!missing.message.includes(other), missing.message);

    const revoked = await writeKnownHosts(
      `[127.0.0.1]:${clusterPort} ${clusterHostKey}\n@revoked * ${clusterHostKey}\n`,
    );
    const error = await rejection(makeShell({ knownHostsPath: revoked }).run(['true']));
    assert.ok(error instanceof ResourceUnreachableError);
    assert.match(error.message, /marked @revoked .* \(line 2\)/);
  });
});

describe('connection failures', () => {
  test('a user the server refuses is unreachable, naming the user but not the key file', async () => {
    const error = await rejection(makeShell({ user: 'drover-no-such-user' }).run(['true']));
    assert.ok(error instanceof ResourceUnreachableError);
    assert.equal(
      error.message,
      `cannot reach drover-no-such-user@127.0.0.1:${clusterPort}: drover-no-such-user could not log in ` +
        `with its SSH key (All configured authentication methods failed)`,
    );
  });

  test('a missing key file is reported without its path', async () => {
    const error = await rejection(makeShell({ privateKeyPath: '/nonexistent/drover-secret-key' }).run(['true']));
    assert.ok(!error.message.includes('/nonexistent'), error.message);
    assert.match(error.message, /cannot read the SSH key for /);
  });

  test('a failed copy does not name the file on the Drover host', async () => {
    const error = await rejection(makeShell().upload('/nonexistent/drover-local-copy', '/tmp/drover-never-written'));
    assert.ok(!error.message.includes('/nonexistent'), error.message);
    assert.match(error.message, /no such file/);
  });

  test('a key given in memory (a stored credential) logs in', async () => {
    const { readFile } = await import('node:fs/promises');
    const key = await readFile(privateKeyPath);
    const shell = makeShell({ privateKeyPath: undefined, credential: 'cluster', privateKey: async () => key });
    assert.equal((await shell.run(['true'])).code, 0);
  });

  test('connection refused fails fast, then backs off', async () => {
    const port = await freePort();
    const events: Array<number | null> = [];
    const shell = makeShell({ port, onCommand: (event) => events.push(event.code) });
    const started = Date.now();
    const error = await rejection(shell.run(['true']));
    assert.ok(Date.now() - started < 2000);
    assert.ok(error instanceof ResourceUnreachableError);
    assert.equal(error.message, `cannot reach hpcuser@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    const again = await rejection(shell.run(['true']));
    assert.ok(again instanceof ResourceUnreachableError);
    assert.match(again.message, /ECONNREFUSED .*; next attempt in [01]\.\d s/);
    assert.deepEqual(events, [null, null]);
  });

  test('a dropped connection fails the running command, then reconnects after the backoff', async () => {
    const port = await freePort();
    let sshd = await startSshd(port);
    const shell = makeShell({ port, knownHostsPath: await writeKnownHosts(`[127.0.0.1]:${port} ${clusterHostKey}\n`) });
    assert.equal((await shell.run(['echo', 'before'])).stdout, 'before\n');

    const seconds = `11.${sleepTag}`;
    const running = rejection(shell.run(['sleep', seconds]));
    await until('the remote sleep to start', async () => {
      const found = await new LocalShell().run(['pgrep', '-u', 'hpcuser', '-f', `sleep ${seconds}`]);
      return found.code === 0 ? true : undefined;
    });
    await stopSshd(sshd);
    const lost = await running;
    assert.ok(lost instanceof ResourceUnreachableError, String(lost));
    assert.match(lost.message, /connection lost while running sleep/);

    const refused = await rejection(shell.run(['true']));
    assert.ok(refused instanceof ResourceUnreachableError);
    assert.match(refused.message, /ECONNREFUSED/);
    const backingOff = await rejection(shell.run(['true']));
    assert.match(backingOff.message, /next attempt in/);

    sshd = await startSshd(port);
    const after = await until('a command to succeed after the restart', async () => {
      try {
        return await shell.run(['echo', 'after']);
      } catch (error) {
        if (error instanceof ResourceUnreachableError) return undefined;
        throw error;
      }
    });
    assert.equal(after.stdout, 'after\n');
    assert.equal((await shell.run(['echo', 'again'])).stdout, 'again\n');
    await shell.close();
    await stopSshd(sshd);
  });

  test('a file transfer cut by a dropped connection fails instead of hanging', async () => {
    const port = await freePort();
    const sshd = await startSshd(port);
    const shell = makeShell({ port, hostKey: clusterHostKey, knownHostsPath: undefined });
    const big = `${scratch}/big.sparse`;
    assert.equal((await shell.run(['truncate', '-s', '4G', big])).code, 0);
    const target = path.join(await makeLocalDirectory(), 'big');
    const transfer = rejection(shell.download(big, target));
    await until('the download to start', async () =>
      (await fs.stat(target).catch(() => null))?.size ? true : undefined,
    );
    await stopSshd(sshd);
    const error = await transfer;
    assert.ok(error instanceof ResourceUnreachableError, String(error));
    assert.match(
      error.message,
      new RegExp(`connection to hpcuser@127\\.0\\.0\\.1:${port} lost during SFTP download ${big}`),
    );
    await shell.close();
  });

  test('a server that never answers times out after connectTimeoutMs', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)); // accepts, never speaks SSH
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const started = Date.now();
    const error = await rejection(makeShell({ port, connectTimeoutMs: 500 }).run(['true']));
    assert.ok(error instanceof ResourceUnreachableError);
    assert.match(error.message, /no SSH login within 500 ms/);
    assert.ok(Date.now() - started < 3000);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  test('sessions a server refuses are asked for again, then fail clearly', async () => {
    const port = await freePort();
    const sshd = await startSshd(port, ['-o', 'MaxSessions=2']);
    const shell = makeShell({
      port,
      maxSessions: 4,
      knownHostsPath: await writeKnownHosts(`[127.0.0.1]:${port} ${clusterHostKey}\n`),
    });
    // Two run while two are refused; those get in once the first two are done.
    const short = await Promise.all(Array.from({ length: 4 }, () => shell.run(['sleep', '0.3'])));
    assert.deepEqual(
      short.map((result) => result.code),
      [0, 0, 0, 0],
    );
    // Refused for longer than the retries last (about 2 s): a clear error.
    const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => shell.run(['sleep', '3'])));
    const refused = outcomes
      .filter((outcome) => outcome.status === 'rejected')
      .map((outcome) => (outcome as PromiseRejectedResult).reason);
    assert.equal(refused.length, 2);
    for (const error of refused) {
      assert.ok(error instanceof ResourceUnreachableError);
      assert.match(
        error.message,
        /refused a session for sleep: \(SSH\) Channel open failure: open failed; is the server's MaxSessions below maxSessions \(4\)\?/,
      );
    }
    await shell.close();
    await stopSshd(sshd);
  });
});

describe('close', () => {
  test('rejects queued and running calls, and later ones, saying the shell was closed', async () => {
    const shell = makeShell({ maxSessions: 2 });
    await shell.run(['true']);
    const calls = Array.from({ length: 4 }, () => rejection(shell.run(['sleep', `12.${sleepTag}`])));
    await until('two commands to run, two to wait', async () => {
      const found = await new LocalShell().run(['pgrep', '-c', '-u', 'hpcuser', '-f', `sleep 12\\.${sleepTag}`]);
      return found.stdout.trim() === '2' ? true : undefined;
    });
    await shell.close();
    for (const error of await Promise.all(calls)) {
      assert.ok(!(error instanceof ResourceUnreachableError));
      assert.match(error.message, /ssh shell for test-cluster \(hpcuser@127\.0\.0\.1:2222\) was closed/);
    }
    await assert.rejects(shell.run(['true']), /was closed/);
  });
});
