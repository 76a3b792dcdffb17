/**
 * The Slurm tier: SlurmScheduler against the real single-node cluster of
 * scripts/start-slurm.sh, over SSH as hpcuser. Other test files submit jobs to the same
 * cluster at the same time, so nothing here assumes an idle cluster.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackedJob } from '../port.ts';
import type { Shell } from '../../shell/port.ts';
import { clusterJobSpecs, connectToTestCluster, unreachableClusterShell } from '../../../test/test-cluster.ts';
import { ResourceUnreachableError } from '../../domain/errors.ts';
import { TaskError } from '../../domain/failure.ts';
import { PrefixedShell, schedulerConformance } from '../../../test/conformance/scheduler-suite.ts';
import { SlurmScheduler } from './slurm-scheduler.ts';
import { batchJobFiles, jobDirectoryOf } from '../job-script.ts';

const shell = connectToTestCluster();
after(() => shell.close());

const scratchDirectory = '/home/hpcuser/drover-scratch/slurm';
await shell.makeDirectory(scratchDirectory);

schedulerConformance('SlurmScheduler conformance', {
  shell,
  createScheduler: (runner) => new SlurmScheduler({ shell: runner, resource: 'cluster' }),
  scratchDirectory,
  // Slurm's time limits are whole minutes, checked about every 30 s: TIMEOUT comes 60-90 s after start.
  overrunWalltimeMinutes: 1,
  overrunLimitMs: 150_000,
  settleMs: 60_000,
  pollIntervalMs: 1_000,
  commandsPerPoll: 1,
  // The node has 8 CPUs: a whole-node job waits while any other job runs. The blocker's 10
  // minutes (debug's maximum) keep the node free for other tests' short jobs meanwhile.
  pending: { blockerCoresPerNode: 1, pendingCoresPerNode: 8, blockerWalltimeMinutes: 10 },
  async countJobsNamed(runner, submissionKey) {
    const queued = await runner.run(['squeue', '--me', '-h', '-t', 'all', `--name=${submissionKey}`, '-o', '%i']);
    const accounted = await runner.run([
      'sacct',
      '-X',
      '-P',
      '-n',
      `--name=${submissionKey}`,
      '-S',
      '2000-01-01',
      '-o',
      'JobID',
    ]);
    assert.equal(queued.code, 0, queued.stderr);
    assert.equal(accounted.code, 0, accounted.stderr);
    return new Set(`${queued.stdout}\n${accounted.stdout}`.split('\n').filter((line) => line.trim() !== '')).size;
  },
  async isListed(runner, nativeId) {
    const result = await runner.run(['squeue', '-h', '-t', 'all', '-j', nativeId, '-o', '%i']);
    return result.code === 0 && result.stdout.trim() !== '';
  },
  // MinJobAge=30: a job leaves squeue 30-90 s after it ends.
  leaveQueueLimitMs: 150_000,
});

/** Runs every command with `SLURM_CONF` pointing at another configuration file. */
const withConfig = (configPath: string): Shell => new PrefixedShell(shell, ['env', `SLURM_CONF=${configPath}`]);

describe('SlurmScheduler on this cluster', { concurrency: true }, () => {
  const { directory, spec } = clusterJobSpecs(scratchDirectory);
  const scheduler = new SlurmScheduler({ shell, resource: 'cluster' });
  after(() => shell.run(['rm', '-rf', '--', directory]));

  it("refuses an unknown partition with sbatch's message, as a final submit-rejected", async () => {
    await shell.makeDirectory(directory);
    await assert.rejects(scheduler.submit(spec({ queue: 'no-such-partition' })), (error: unknown) => {
      assert.ok(error instanceof TaskError, String(error));
      assert.equal(error.code, 'submit-rejected');
      assert.equal(error.retryable, false);
      assert.match(error.message, /Batch job submission failed: Invalid partition name specified/);
      return true;
    });
  });

  it("refuses a walltime over the partition's limit (EnforcePartLimits=ALL)", async () => {
    await shell.makeDirectory(directory);
    await assert.rejects(scheduler.submit(spec({ queue: 'debug', walltimeMinutes: 30 })), (error: unknown) => {
      assert.ok(error instanceof TaskError && error.code === 'submit-rejected', String(error));
      assert.match(error.message, /Requested time limit is invalid/);
      return true;
    });
  });

  it(
    'throws ResourceUnreachableError when slurmctld does not answer (submit, poll, cancel, find)',
    { timeout: 120_000 },
    async () => {
      await shell.makeDirectory(directory);
      const unreachableShell = await unreachableClusterShell(shell, directory);
      const cut = new SlurmScheduler({ shell: unreachableShell, resource: 'cluster' });
      const job: TrackedJob = { nativeId: '1', workdir: directory, submissionKey: 'never-submitted', details: {} };
      const unreachable = (error: unknown) => {
        assert.ok(error instanceof ResourceUnreachableError, String(error));
        assert.equal(error.resource, 'cluster');
        assert.match(error.message, /Unable to contact slurm controller/);
        return true;
      };
      await Promise.all([
        assert.rejects(cut.submit(spec({})), unreachable),
        assert.rejects(cut.poll([job]), unreachable),
        assert.rejects(cut.cancel(job), unreachable),
        assert.rejects(cut.find({ workdir: directory, submissionKeys: ['never-submitted'] }), unreachable),
      ]).finally(() => unreachableShell.close());
    },
  );

  it('without accounting, ended jobs are read from their job files', { timeout: 120_000 }, async () => {
    await shell.makeDirectory(directory);
    const configPath = `${directory}/no-accounting.conf`;
    const copied = await shell.run([
      'bash',
      '-c',
      'sed -e "s|^AccountingStorageType=.*|AccountingStorageType=accounting_storage/none|" /etc/slurm/slurm.conf > "$1"',
      'x',
      configPath,
    ]);
    assert.equal(copied.code, 0, copied.stderr);
    const withoutAccounting = new SlurmScheduler({ shell: withConfig(configPath), resource: 'cluster' });
    const sacct = await withConfig(configPath).run(['sacct', '-X', '-n', '-j', '1']);
    assert.match(sacct.stderr, /accounting storage is disabled/);

    // A job Slurm forgot long ago (an id it never gave out), whose files say exit 0; one without files.
    const forgotten = (name: string): TrackedJob => ({
      nativeId: '999999990',
      workdir: `${directory}/${name}`,
      submissionKey: `${name}.attempt-1`,
      details: {},
    });
    const finished = forgotten('finished');
    const silent = { ...forgotten('silent'), nativeId: '999999991' };
    for (const [job, exitCode] of [
      [finished, '0'],
      [silent, null],
    ] as const) {
      const jobDirectory = jobDirectoryOf(job.workdir, job.submissionKey);
      await shell.makeDirectory(jobDirectory);
      if (exitCode !== null) await shell.writeFile(`${jobDirectory}/${batchJobFiles.exitCode}`, `${exitCode}\n`);
    }
    // A real job that fails, still listed by squeue: squeue's state, the files' exit code.
    const failing = spec({ argv: ['bash', '-c', 'exit 7'] });
    const submitted = await scheduler.submit(failing);
    const failed: TrackedJob = {
      nativeId: submitted.nativeId,
      workdir: directory,
      submissionKey: failing.submissionKey,
      details: {},
    };
    const deadline = Date.now() + 60_000;
    let observations = await withoutAccounting.poll([finished, silent, failed]);
    while (observations.get(failed.nativeId)?.state !== 'failed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      observations = await withoutAccounting.poll([finished, silent, failed]);
    }
    assert.deepEqual(
      {
        state: observations.get(failed.nativeId)?.state,
        exitCode: observations.get(failed.nativeId)?.exitCode,
        nativeState: observations.get(failed.nativeId)?.nativeState,
      },
      { state: 'failed', exitCode: 7, nativeState: 'FAILED' },
    );
    assert.equal(observations.get(finished.nativeId)?.state, 'completed');
    assert.equal(observations.get(finished.nativeId)?.exitCode, 0);
    assert.equal(observations.get(silent.nativeId)?.state, 'lost');
    assert.equal(observations.get(silent.nativeId)?.nativeState, 'vanished');
  });

  it('adopts the job of a submit that died after sbatch, before it wrote the job id', async () => {
    await shell.makeDirectory(directory);
    const job = spec({ argv: ['sleep', '60'] });
    // What the dead submit left: its script (saved before sbatch), and a job of its key.
    await shell.makeDirectory(jobDirectoryOf(directory, job.submissionKey));
    await shell.writeFile(
      `${jobDirectoryOf(directory, job.submissionKey)}/${batchJobFiles.script}`,
      scheduler.renderScript(job),
    );
    const submitted = await shell.run([
      'sbatch',
      '--parsable',
      `--job-name=${job.submissionKey}`,
      '-o',
      '/dev/null',
      '--wrap',
      'sleep 60',
    ]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const adopted = await scheduler.submit(job);
    assert.deepEqual(adopted, {
      nativeId: submitted.stdout.trim(),
      adopted: true,
      submissionKey: job.submissionKey,
      details: {},
    });
    const idFile = await shell.readFile(`${jobDirectoryOf(directory, job.submissionKey)}/${batchJobFiles.nativeId}`);
    assert.equal(idFile?.toString('utf8'), `${adopted.nativeId}\n`);
    await scheduler.cancel({
      nativeId: adopted.nativeId,
      workdir: directory,
      submissionKey: job.submissionKey,
      details: {},
    });
  });

  it('renders the script it submits, and leaves it and the job id in the job directory', async () => {
    await shell.makeDirectory(directory);
    const job = spec({ memoryMb: 300, queue: 'long', walltimeMinutes: 31.5, coresPerNode: 2 });
    const submitted = await scheduler.submit(job);
    const jobDirectory = jobDirectoryOf(directory, job.submissionKey);
    assert.equal(
      (await shell.readFile(`${jobDirectory}/${batchJobFiles.script}`))?.toString('utf8'),
      scheduler.renderScript(job),
    );
    assert.equal(
      (await shell.readFile(`${jobDirectory}/${batchJobFiles.nativeId}`))?.toString('utf8'),
      `${submitted.nativeId}\n`,
    );
    const shown = await shell.run(['scontrol', '-o', 'show', 'job', submitted.nativeId]);
    assert.match(shown.stdout, new RegExp(`JobName=${job.submissionKey.replaceAll('.', '\\.')} `));
    assert.match(shown.stdout, /TimeLimit=00:32:00 /);
    assert.match(shown.stdout, /Partition=long /);
    assert.match(shown.stdout, /NumCPUs=2 /);
    assert.match(shown.stdout, /MinMemoryNode=300M /);
    assert.match(shown.stdout, /Comment=drover-specific /);
    await scheduler.cancel({
      nativeId: submitted.nativeId,
      workdir: directory,
      submissionKey: job.submissionKey,
      details: {},
    });
  });
});
