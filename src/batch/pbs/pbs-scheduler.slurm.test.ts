/**
 * The Slurm tier for PbsScheduler: the real single-node cluster of scripts/start-slurm.sh
 * through its Torque-style wrappers (qsub, qstat, qdel from slurm-wlm-torque), over SSH as
 * hpcuser. Other test files submit jobs to the same cluster at the same time.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TrackedJob } from '../port.ts';
import { clusterJobSpecs, connectToTestCluster, unreachableClusterShell } from '../../../test/test-cluster.ts';
import { ResourceUnreachableError } from '../../domain/errors.ts';
import { TaskError } from '../../domain/failure.ts';
import { schedulerConformance } from '../../../test/conformance/scheduler-suite.ts';
import { parseQstatFullNames } from './pbs-output.ts';
import { PbsScheduler } from './pbs-scheduler.ts';
import { batchJobFiles, jobDirectoryOf } from '../job-script.ts';

const shell = connectToTestCluster();
after(() => shell.close());

const scratchDirectory = '/home/hpcuser/drover-scratch/pbs';
await shell.makeDirectory(scratchDirectory);

schedulerConformance('PbsScheduler conformance', {
  shell,
  createScheduler: (runner) => new PbsScheduler({ shell: runner, resource: 'cluster' }),
  scratchDirectory,
  // Slurm underneath: whole minutes, checked about every 30 s.
  overrunWalltimeMinutes: 1,
  overrunLimitMs: 150_000,
  settleMs: 60_000,
  pollIntervalMs: 1_000,
  commandsPerPoll: 1,
  // The node has 8 CPUs: a whole-node job waits while any other job runs. The blocker's 10
  // minutes (debug's maximum) keep the node free for other tests' short jobs meanwhile.
  pending: { blockerCoresPerNode: 1, pendingCoresPerNode: 8, blockerWalltimeMinutes: 10 },
  async countJobsNamed(runner, submissionKey) {
    // qstat -f for what PBS shows; sacct (Slurm runs the jobs here) for jobs qstat already forgot.
    const listed = await runner.run(['qstat', '-f']);
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
    assert.ok(listed.code === 0 || listed.code === 153, listed.stderr);
    assert.equal(accounted.code, 0, accounted.stderr);
    const ids = parseQstatFullNames(listed.stdout)
      .filter((job) => job.name === submissionKey)
      .map((job) => job.jobId);
    return new Set([...ids, ...accounted.stdout.split('\n').filter((line) => line.trim() !== '')]).size;
  },
  async isListed(runner, nativeId) {
    return (await runner.run(['qstat', nativeId])).code === 0;
  },
  // MinJobAge=30: a job leaves qstat 30-90 s after it ends; the job files tell the rest.
  leaveQueueLimitMs: 150_000,
});

describe('PbsScheduler on this cluster', { concurrency: true }, () => {
  const { directory, spec } = clusterJobSpecs(scratchDirectory);
  const scheduler = new PbsScheduler({ shell, resource: 'cluster' });
  after(() => shell.run(['rm', '-rf', '--', directory]));

  it("refuses an unknown queue with the scheduler's message, as a final submit-rejected", async () => {
    await shell.makeDirectory(directory);
    await assert.rejects(scheduler.submit(spec({ queue: 'no-such-queue' })), (error: unknown) => {
      assert.ok(error instanceof TaskError, String(error));
      assert.equal(error.code, 'submit-rejected');
      assert.equal(error.retryable, false);
      assert.match(error.message, /Batch job submission failed: Invalid partition name specified/);
      return true;
    });
  });

  it(
    'throws ResourceUnreachableError when the server does not answer (submit, poll, cancel, find)',
    { timeout: 120_000 },
    async () => {
      await shell.makeDirectory(directory);
      // The wrappers call Slurm, whose controller does not answer.
      const unreachableShell = await unreachableClusterShell(shell, directory);
      const cut = new PbsScheduler({ shell: unreachableShell, resource: 'cluster' });
      const job: TrackedJob = { nativeId: '1', workdir: directory, submissionKey: 'never-submitted', details: {} };
      const unreachable = (error: unknown) => {
        assert.ok(error instanceof ResourceUnreachableError, String(error));
        assert.equal(error.resource, 'cluster');
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

  it('a job that vanished without an exit code is lost; one without a job directory is left out', async () => {
    await shell.makeDirectory(directory);
    const vanished: TrackedJob = {
      nativeId: '999999992',
      workdir: `${directory}/vanished`,
      submissionKey: 'vanished.attempt-1',
      details: {},
    };
    const unknown: TrackedJob = {
      nativeId: '999999993',
      workdir: `${directory}/unknown`,
      submissionKey: 'unknown.attempt-1',
      details: {},
    };
    await shell.makeDirectory(jobDirectoryOf(vanished.workdir, vanished.submissionKey));
    const observations = await scheduler.poll([vanished, unknown]);
    assert.equal(observations.get(vanished.nativeId)?.state, 'lost');
    assert.equal(observations.get(vanished.nativeId)?.nativeState, 'vanished');
    assert.equal(observations.has(unknown.nativeId), false);
  });

  it('adopts the job of a submit that died after qsub, before it wrote the job id', async () => {
    await shell.makeDirectory(directory);
    const job = spec({ argv: ['sleep', '60'] });
    const scriptPath = `${jobDirectoryOf(directory, job.submissionKey)}/${batchJobFiles.script}`;
    await shell.makeDirectory(jobDirectoryOf(directory, job.submissionKey));
    await shell.writeFile(scriptPath, scheduler.renderScript(job));
    const submitted = await shell.run(['qsub', '-o', '/dev/null', '-e', '/dev/null', scriptPath]);
    assert.equal(submitted.code, 0, submitted.stdout);
    const adopted = await scheduler.submit(job);
    assert.deepEqual(adopted, {
      nativeId: submitted.stdout.trim(),
      adopted: true,
      submissionKey: job.submissionKey,
      details: {},
    });
    await scheduler.cancel({
      nativeId: adopted.nativeId,
      workdir: directory,
      submissionKey: job.submissionKey,
      details: {},
    });
  });

  it('renders the script it submits, sends output to the workdir, and leaves the job id in the job directory', async () => {
    await shell.makeDirectory(directory);
    const job = spec({ memoryMb: 300, queue: 'long', walltimeMinutes: 31.5, coresPerNode: 2, account: 'drover' });
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
    assert.match(shown.stdout, /Account=drover /);
    assert.match(shown.stdout, new RegExp(`StdOut=${directory}/stdout\\.txt`));
    assert.match(shown.stdout, new RegExp(`StdErr=${directory}/stderr\\.txt`));
    await scheduler.cancel({
      nativeId: submitted.nativeId,
      workdir: directory,
      submissionKey: job.submissionKey,
      details: {},
    });
  });
});
