/**
 * Batched submission on the real test cluster (scripts/start-slurm.sh), through sbatch and
 * through the Torque-style qsub wrappers, over SSH as hpcuser: submits made together reach
 * the login node as one command and make one job each; a job the scheduler refuses fails
 * alone; and a batch cut off while one job's sbatch/qsub runs leaves every task with at most
 * one job, which the retry adopts (or, for a task the batch never reached, submits). Other
 * test files use the cluster at the same time: this file cancels only its own jobs.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchScheduler, JobSpec, SubmittedJob } from './port.ts';
import type { Shell } from '../shell/port.ts';
import { clusterTask, connectToTestCluster } from '../../test/test-cluster.ts';
import { CountingShell, PrefixedShell } from '../../test/conformance/scheduler-suite.ts';
import { TaskError } from '../domain/failure.ts';
import { SlurmScheduler } from './slurm/slurm-scheduler.ts';
import { PbsScheduler } from './pbs/pbs-scheduler.ts';
import { batchJobFiles, jobDirectoryOf } from './job-script.ts';

const shell = connectToTestCluster();
const scratchDirectory = `/home/hpcuser/drover-scratch/batch-submit/${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
/** Where scripts/start-slurm.sh installs the sbatch/qsub shims that sleep for marked job scripts. */
const submitDelayPath = '/opt/drover-test-cluster/submit-delay:/usr/local/bin:/usr/bin:/bin';
const submittedIds: string[] = [];
/**
 * Runs the command after `$3` (a batch's bash) with this shell's stdin, and kills it with
 * SIGKILL once the file `$1` exists (the slow submit has begun), then writes `$2`. A command
 * that ends first keeps its exit code.
 */
const cutWhenStarted = `started=$1 mark=$2; shift 2
"$@" <&0 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  if [[ -s $started ]]; then kill -KILL "$pid"; wait "$pid"; : >"$mark"; exit 137; fi
  sleep 0.1
done
wait "$pid"`;
after(async () => {
  // Only this file's jobs (one-second jobs, most long gone), by id.
  if (submittedIds.length > 0) await shell.run(['scancel', ...submittedIds]);
  await shell.run(['rm', '-rf', '--', scratchDirectory]);
  await shell.close();
});
await shell.makeDirectory(scratchDirectory);

const schedulers = {
  slurm: (runner: Shell, onSubmitBatch?: (jobs: number) => void) =>
    new SlurmScheduler({ shell: runner, resource: 'cluster', onSubmitBatch }),
  pbs: (runner: Shell, onSubmitBatch?: (jobs: number) => void) =>
    new PbsScheduler({ shell: runner, resource: 'cluster', onSubmitBatch }),
};

/** One task: a workdir of its own (the submit lock is per workdir) and its attempts' keys. */
function task(kind: string, index: number, overrides: Partial<JobSpec> = {}) {
  return clusterTask(scratchDirectory, `batch-${kind}-${randomBytes(4).toString('hex')}-${index}`, overrides);
}

/** The jobs Slurm has (queue and accounting) under any of `names`, as id -> name. */
async function jobsNamed(names: string[]): Promise<Map<string, string>> {
  const jobs = new Map<string, string>();
  const list = `--name=${names.join(',')}`;
  const queued = await shell.run(['squeue', '--me', '-h', '-t', 'all', list, '-o', '%i|%j']);
  const accounted = await shell.run(['sacct', '-XPn', '-S', '2000-01-01', list, '-o', 'JobID,JobName']);
  assert.equal(queued.code, 0, queued.stderr);
  assert.equal(accounted.code, 0, accounted.stderr);
  for (const line of `${queued.stdout}\n${accounted.stdout}`.split('\n')) {
    const [id, name] = line.trim().split('|');
    if (id && name) jobs.set(id, name);
  }
  return jobs;
}

const settled = <T>(promises: Array<Promise<T>>) => Promise.allSettled(promises);
const value = (outcome: PromiseSettledResult<SubmittedJob>): SubmittedJob => {
  assert.equal(outcome.status, 'fulfilled', outcome.status === 'rejected' ? String(outcome.reason) : '');
  const job = (outcome as PromiseFulfilledResult<SubmittedJob>).value;
  submittedIds.push(job.nativeId);
  return job;
};

for (const kind of ['slurm', 'pbs'] as const) {
  describe(`batched submits through ${kind === 'slurm' ? 'sbatch' : 'qsub'}`, { concurrency: true }, () => {
    it('eight submits made together: one command on the login node, eight jobs, each under its own name', async () => {
      const counting = new CountingShell(shell);
      const batches: number[] = [];
      const scheduler: BatchScheduler = schedulers[kind](counting, (jobs) => batches.push(jobs));
      const tasks = Array.from({ length: 8 }, (_, index) => task(kind, index));
      const jobs = (await settled(tasks.map((each) => scheduler.submit(each.spec(1))))).map(value);
      assert.deepEqual(counting.programs, ['bash'], 'one remote command');
      assert.deepEqual(batches, [8]);
      assert.equal(new Set(jobs.map((job) => job.nativeId)).size, 8, 'eight distinct jobs');
      const named = await jobsNamed(tasks.map((each) => each.key(1)));
      jobs.forEach((job, index) => {
        assert.equal(job.adopted, false);
        assert.equal(job.submissionKey, tasks[index].key(1));
        assert.equal(named.get(job.nativeId), tasks[index].key(1), `job ${job.nativeId} carries its task's key`);
      });
      assert.equal(named.size, 8, 'no other job under these names');
      // Each job's id is recorded in its own job directory, for a later attempt to adopt.
      const recorded = await Promise.all(
        tasks.map((each) => shell.readFile(`${jobDirectoryOf(each.workdir, each.key(1))}/${batchJobFiles.nativeId}`)),
      );
      assert.deepEqual(
        recorded.map((file) => file?.toString().trim()),
        jobs.map((job) => job.nativeId),
      );
    });

    it("a job the scheduler refuses fails alone, with the scheduler's own message", async () => {
      const counting = new CountingShell(shell);
      const scheduler = schedulers[kind](counting);
      const tasks = [task(kind, 0), task(kind, 1, { queue: 'no-such-partition' }), task(kind, 2)];
      const outcomes = await settled(tasks.map((each) => scheduler.submit(each.spec(1))));
      assert.deepEqual(counting.programs, ['bash'], 'one remote command');
      assert.equal(outcomes[1].status, 'rejected');
      const error = (outcomes[1] as PromiseRejectedResult).reason;
      assert.ok(error instanceof TaskError, String(error));
      assert.equal(error.code, 'submit-rejected');
      assert.equal(error.retryable, false);
      assert.match(error.message, /Batch job submission failed: Invalid partition name specified/);
      const [first, third] = [value(outcomes[0]), value(outcomes[2])];
      const named = await jobsNamed(tasks.map((each) => each.key(1)));
      assert.deepEqual(
        new Map([...named].sort()),
        new Map(
          [
            [first.nativeId, tasks[0].key(1)],
            [third.nativeId, tasks[2].key(1)],
          ].sort() as Array<[string, string]>,
        ),
        'the two good jobs, and none for the refused one',
      );
    });

    it(
      "a batch cut off during one job's slow submit: the retry adopts the jobs made, submits the rest, never a second job",
      { timeout: 120_000 },
      async () => {
        const delaySeconds = 20;
        const slow = 3;
        const tasks = Array.from({ length: 6 }, (_, index) =>
          task(
            kind,
            index,
            index === slow
              ? { argv: ['bash', '-c', 'true', 'marker', `drover-test-delay-submit=${delaySeconds}`] }
              : {},
          ),
        );
        const delays = `${tasks[slow].workdir}/submit-delays.log`;
        const cutMark = `${tasks[slow].workdir}/batch-cut`;
        // The batch's bash is killed (and only it) as soon as the slow job's sbatch/qsub has
        // started sleeping in the shim, as when the worker's connection drops then: that
        // sbatch/qsub goes on, under its lock. Cut on that event, not after a fixed time, so a
        // loaded machine cannot make the cut land before the slow submit.
        const cut = schedulers[kind](
          new PrefixedShell(shell, [
            'env',
            `PATH=${submitDelayPath}`,
            'bash',
            '-c',
            cutWhenStarted,
            'cut',
            delays,
            cutMark,
          ]),
        );
        const cutAt = Date.now();
        const firstRound = settled(tasks.map((each) => cut.submit(each.spec(1))));
        while (!(await shell.readFile(cutMark))) {
          assert.ok(Date.now() - cutAt < 60_000, 'the slow sbatch/qsub started and the batch was cut');
          await sleep(100);
        }
        // While the slow sbatch/qsub still sleeps: the retry (attempt 2 of every task, another
        // worker's scheduler) finds that task's lock taken, and sends it again alone to wait
        // for the lock; it adopts that job.
        const retryShell = new PrefixedShell(shell, ['env', `PATH=${submitDelayPath}`]);
        const retry = schedulers[kind](retryShell);
        const second = (await settled(tasks.map((each) => retry.submit(each.spec(2))))).map(value);
        assert.deepEqual(retryShell.programs, ['env', 'env'], 'the batch, then the slow task alone');
        const first = await firstRound;
        const before = first.slice(0, slow).map(value);
        for (const outcome of first.slice(slow)) {
          assert.equal(outcome.status, 'rejected');
          const error = (outcome as PromiseRejectedResult).reason;
          assert.ok(error instanceof TaskError && error.code === 'submit-failed' && error.retryable, String(error));
        }
        for (let index = 0; index < tasks.length; index += 1) {
          const job = second[index];
          if (index < slow) {
            assert.deepEqual(job, { ...before[index], adopted: true }, `task ${index}: adopted the first batch's job`);
          } else if (index === slow) {
            assert.equal(job.adopted, true, 'the slow job was adopted');
            assert.equal(job.submissionKey, tasks[index].key(1), "under the cut batch's key");
          } else {
            assert.equal(job.adopted, false, `task ${index}: the cut batch never reached it`);
            assert.equal(job.submissionKey, tasks[index].key(2));
          }
        }
        const named = await jobsNamed(tasks.flatMap((each) => [each.key(1), each.key(2)]));
        for (let index = 0; index < tasks.length; index += 1) {
          const ids = [...named].filter(([, name]) => name.startsWith(tasks[index].key(1).replace(/1$/, '')));
          assert.deepEqual(
            ids.map(([id]) => id),
            [second[index].nativeId],
            `task ${index}: one job in the cluster, the one Drover got`,
          );
        }
        const delayed = await shell.readFile(delays);
        assert.equal(delayed?.toString().trim().split('\n').length, 1, 'the slow sbatch/qsub ran once');
      },
    );
  });
}
