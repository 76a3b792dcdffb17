/**
 * The single-node test cluster of scripts/start-slurm.sh, as Drover's tests reach it:
 * sshd on 127.0.0.1:2222, user hpcuser, the key and known_hosts the script wrote.
 */
import { randomBytes } from 'node:crypto';
import type { JobSpec } from '../src/batch/port.ts';
import type { Shell } from '../src/shell/port.ts';
import { SshShell } from '../src/shell/ssh-shell.ts';
import { PrefixedShell } from './conformance/scheduler-suite.ts';

/** The `ssh` settings of a resource on the test cluster. */
export const testClusterSsh = {
  host: '127.0.0.1',
  port: 2222,
  user: 'hpcuser',
  privateKeyPath: '/var/lib/drover-test-cluster/id_ed25519',
  knownHostsPath: '/var/lib/drover-test-cluster/known_hosts',
} as const;

/** A connection to the test cluster's login node, as hpcuser (a resource named `cluster`). */
export function connectToTestCluster(): SshShell {
  return new SshShell({
    resource: 'cluster',
    ...testClusterSsh,
    // Measured: with 8 sessions at once, sshd (MaxSessions 10) refused about 1 channel in 5
    // under steady load, as it frees a session a little after the client sees it close; 4 never failed.
    maxSessions: 4,
  });
}

/**
 * A workdir of its own under `scratchDirectory` (not yet made) and specs of one-core,
 * one-minute jobs in it, each with a fresh submission key: what the adapter-specific tests
 * of the Slurm and PBS schedulers submit beside their conformance suites.
 */
export function clusterJobSpecs(scratchDirectory: string): {
  directory: string;
  spec(overrides: Partial<JobSpec>): JobSpec;
} {
  const directory = `${scratchDirectory}/${Date.now().toString(36)}-${randomBytes(3).toString('hex')}-specific`;
  const spec = (overrides: Partial<JobSpec>): JobSpec => ({
    submissionKey: `specific-${randomBytes(6).toString('hex')}.attempt-1`,
    workdir: directory,
    jobName: 'drover-specific',
    nodes: 1,
    coresPerNode: 1,
    walltimeMinutes: 1,
    environmentSetup: [],
    argv: ['true'],
    ...overrides,
  });
  return { directory, spec };
}

/**
 * One task on the test cluster: a workdir of its own, `<scratchDirectory>/<id>` (the submit
 * lock is per workdir), its attempts' keys (`<id>.attempt-<n>`) and their specs (queue
 * `debug`, each attempt naming the earlier ones' keys), with `overrides`.
 */
export function clusterTask(scratchDirectory: string, id: string, overrides: Partial<JobSpec> = {}) {
  const workdir = `${scratchDirectory}/${id}`;
  const key = (attempt: number) => `${id}.attempt-${attempt}`;
  const spec = (attempt: number): JobSpec =>
    clusterJobSpecs(workdir).spec({
      submissionKey: key(attempt),
      earlierSubmissionKeys: Array.from({ length: attempt - 1 }, (_, earlier) => key(earlier + 1)),
      workdir,
      queue: 'debug',
      ...overrides,
    });
  return { workdir, key, spec };
}

/**
 * A shell on its own connection whose Slurm commands (and the PBS wrappers over them) reach
 * no controller: the real configuration with slurmctld moved to a port nobody listens on,
 * written to `<directory>/unreachable.conf` through `shell`. Its calls hold their sessions
 * for 9-18 s while the clients retry, hence the separate connection; `close` ends it.
 */
export async function unreachableClusterShell(
  shell: Shell,
  directory: string,
): Promise<Shell & { close(): Promise<void> }> {
  const configPath = `${directory}/unreachable.conf`;
  const copied = await shell.run([
    'bash',
    '-c',
    'sed -e "s/^SlurmctldPort=.*/SlurmctldPort=6999/" /etc/slurm/slurm.conf > "$1"',
    'x',
    configPath,
  ]);
  if (copied.code !== 0) throw new Error(`cannot write ${configPath}: ${copied.stderr}`);
  const side = connectToTestCluster();
  return Object.assign(new PrefixedShell(side, ['env', `SLURM_CONF=${configPath}`]), { close: () => side.close() });
}
