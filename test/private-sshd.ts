/**
 * Private sshd instances for tests that stop a login node: the test cluster's sshd
 * configuration (scripts/start-slurm.sh) on a free loopback port, started and killed by the
 * test, while the shared sshd on 127.0.0.1:2222 stays up for everyone else.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const sshdConfig = '/etc/ssh/sshd_drover_test.conf';

/** A loopback port nothing listens on (just released by the kernel). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a private sshd (the test cluster's config) on `port`; resolves once it listens. */
export async function startPrivateSshd(port: number, extraOptions: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    '/usr/sbin/sshd',
    ['-D', '-e', '-f', sshdConfig, '-p', String(port), '-o', 'PidFile=none', ...extraOptions],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd on ${port} did not start:\n${log}`)), 10_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd on ${port} exited (${code}):\n${log}`));
    });
  });
  return child;
}

/**
 * Kills a private sshd and every sshd process under it, so live connections drop. Killing
 * only its children is not enough: each connection's socket is also held by the
 * unprivileged grandchild (`sshd: hpcuser@notty`). The users' commands are left running.
 */
export async function stopSshd(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const sshdProcesses: number[] = [];
  const children = (pid: number) => {
    try {
      return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return []; // pgrep exits 1 when there is none
    }
  };
  const walk = (pid: number) => {
    for (const descendant of children(pid)) {
      if (readFileSync(`/proc/${descendant}/comm`, 'utf8').trim() !== 'sshd') continue;
      sshdProcesses.push(descendant);
      walk(descendant);
    }
  };
  walk(child.pid!);
  for (const pid of sshdProcesses) process.kill(pid, 'SIGKILL');
  child.kill('SIGKILL');
  await exited;
}
