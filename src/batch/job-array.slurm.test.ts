/**
 * Job arrays on the real test cluster (scripts/start-slurm.sh), through sbatch and through
 * the Torque-style qsub wrapper, over SSH as hpcuser: jobs of one `arrayGroup` submitted
 * together go as one array job whose elements each run their own job script in their own
 * workdir, are polled to their own end (exit codes, stdout, stderr), can be canceled one by
 * one; and a batch cut off around the array's sbatch leaves exactly one job per element,
 * which the retry adopts. Other test files use the cluster at the same time: this file
 * cancels only its own jobs.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchScheduler, JobObservation, SubmittedJob, TrackedJob } from './port.ts';
import type { Shell } from '../shell/port.ts';
import { clusterTask, connectToTestCluster } from '../../test/test-cluster.ts';
import { CountingShell, PrefixedShell } from '../../test/conformance/scheduler-suite.ts';
import { SlurmScheduler } from './slurm/slurm-scheduler.ts';
import { PbsScheduler } from './pbs/pbs-scheduler.ts';
import { batchJobFiles, jobDirectoryOf } from './job-script.ts';

const shell = connectToTestCluster();
const scratchDirectory = `/home/hpcuser/drover-scratch/job-array/${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const shimDirectory = `${scratchDirectory}/shim`;
const cancelAtEnd = new Set<string>();
after(async () => {
  const ids = [...cancelAtEnd];
  if (ids.length > 0) await shell.run(['scancel', ...ids.map((id) => id.replace(/\[(\d+)\]/, '_$1'))]);
  await shell.run(['rm', '-rf', '--', scratchDirectory]);
  await shell.close();
});
await shell.makeDirectory(shimDirectory);
// sbatch and qsub that, for an array (`--array`/`-J`), write their pid to $DROVER_TEST_STARTED
// before they submit (DROVER_TEST_CUT=before) or after (after), then sleep 8 s: the test cuts
// the batch command when the pid is written.
for (const program of ['sbatch', 'qsub']) {
  await shell.writeFile(
    `${shimDirectory}/${program}`,
    `#!/bin/bash
if [[ " $* " == *" --array="* || " $* " == *" -J "* ]]; then
  [ "$DROVER_TEST_CUT" = after ] || printf '%s\\n' "$$" >> "$DROVER_TEST_STARTED"
  /usr/bin/${program} "$@"; status=$?
  [ "$DROVER_TEST_CUT" = before ] || printf '%s\\n' "$$" >> "$DROVER_TEST_STARTED"
  sleep 8
  exit "$status"
fi
exec /usr/bin/${program} "$@"
`,
    0o755,
  );
}
// Every program of the login node but perl: the batch then takes each element's lock and
// claim with a flock and an ln of its own, as on a login node without perl.
const withoutPerl = `${scratchDirectory}/without-perl`;
// One ln for all (a name in several folders links to the last, as the ln per program did): that took
// over the command's 60 s on a loaded CI machine.
const linked = await shell.run(
  [
    'bash',
    '-c',
    'declare -A path; for f in /usr/local/bin/* /usr/bin/* /bin/*; do case ${f##*/} in perl*) ;; *) path[${f##*/}]=$f ;; esac; done; mkdir -p "$1" && ln -sf -t "$1" -- "${path[@]}"',
    'link',
    withoutPerl,
  ],
  { timeoutMs: 180_000 },
);
assert.equal(linked.code, 0, linked.stderr);

/** Runs the command after `$2` with this shell's stdin; kills it with SIGKILL once the file `$1` is not empty. */
const cutWhenStarted = `started=$1; shift
"$@" <&0 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  if [[ -s $started ]]; then kill -KILL "$pid"; wait "$pid"; exit 137; fi
  sleep 0.1
done
wait "$pid"`;

const schedulers = {
  slurm: (runner: Shell, onSubmitBatch?: (jobs: number) => void) =>
    new SlurmScheduler({ shell: runner, resource: 'cluster', onSubmitBatch }),
  pbs: (runner: Shell, onSubmitBatch?: (jobs: number) => void) =>
    new PbsScheduler({ shell: runner, resource: 'cluster', onSubmitBatch }),
};

/** `count` tasks of one sweep, each with its workdir; element i runs `argv(i)`. */
function sweep(kind: string, count: number, argv: (index: number) => string[]) {
  const group = `sweep-${randomBytes(4).toString('hex')}`;
  return Array.from({ length: count }, (_, index) =>
    clusterTask(scratchDirectory, `array-${group}-${index}`, { arrayGroup: `${kind}-${group}`, argv: argv(index) }),
  );
}

type Task = ReturnType<typeof sweep>[number];

const tracked = (task: Task, job: SubmittedJob): TrackedJob => {
  cancelAtEnd.add(job.nativeId);
  return { nativeId: job.nativeId, workdir: task.workdir, submissionKey: job.submissionKey, details: job.details };
};

async function submitAll(scheduler: BatchScheduler, tasks: Task[], attempt = 1): Promise<SubmittedJob[]> {
  const outcomes = await Promise.allSettled(tasks.map((task) => scheduler.submit(task.spec(attempt))));
  return outcomes.map((outcome) => {
    assert.equal(outcome.status, 'fulfilled', outcome.status === 'rejected' ? String(outcome.reason) : '');
    return (outcome as PromiseFulfilledResult<SubmittedJob>).value;
  });
}

/** Polls until `done` holds for every job's observation (one poll call per round). */
async function pollUntil(
  scheduler: BatchScheduler,
  jobs: TrackedJob[],
  done: (observation: JobObservation | undefined, index: number) => boolean,
  limitMs = 120_000,
): Promise<Map<string, JobObservation>> {
  const startedAt = Date.now();
  for (;;) {
    const observations = await scheduler.poll(jobs);
    if (jobs.every((job, index) => done(observations.get(job.nativeId), index))) return observations;
    assert.ok(Date.now() - startedAt < limitMs, `jobs not done: ${JSON.stringify([...observations.values()])}`);
    await sleep(1_000);
  }
}

const terminal = (observation: JobObservation | undefined) =>
  observation !== undefined && ['completed', 'failed', 'canceled', 'timed-out', 'lost'].includes(observation.state);

/** The jobs the cluster has (queue and accounting) under any of `names`, as `<id> <name>`. */
async function jobsNamed(kind: 'slurm' | 'pbs', names: string[]): Promise<Set<string>> {
  const list = `--name=${names.join(',')}`;
  const queued = await shell.run(['squeue', '--me', '-h', '-r', '-t', 'all', list, '-o', '%i|%j']);
  const accounted = await shell.run(['sacct', '-XPn', '-S', '2000-01-01', list, '-o', 'JobID,JobName']);
  assert.equal(queued.code, 0, queued.stderr);
  assert.equal(accounted.code, 0, accounted.stderr);
  const jobs = new Set<string>();
  for (const line of `${queued.stdout}\n${accounted.stdout}`.split('\n')) {
    const [listed, name] = line.trim().split('|');
    if (!listed || !name) continue;
    // sacct lists an array's elements that still wait as one row, `<array>_[0-3]`.
    const waiting = /^(\d+)_\[([\d,-]+)\]$/.exec(listed);
    const ids = waiting
      ? waiting[2].split(',').flatMap((range) => {
          const [first, last = first] = range.split('-').map(Number);
          return Array.from({ length: last - first + 1 }, (_, offset) => `${waiting[1]}_${first + offset}`);
        })
      : [listed];
    // The PBS adapter names elements `<array>[<index>]`; Slurm lists them `<array>_<index>`.
    for (const id of ids) jobs.add(`${kind === 'pbs' ? id.replace(/_(\d+)$/, '[$1]') : id} ${name}`);
  }
  return jobs;
}

/** The base id of an element id (`42_3`, `42[3]`, `42[3].server`): `42`. */
const arrayIdOf = (nativeId: string) => /^\d+/.exec(nativeId)![0];
/** The index of an element id. */
const indexOf = (nativeId: string) => Number(/(?:_|\[)(\d+)\]?/.exec(nativeId)![1]);

for (const kind of ['slurm', 'pbs'] as const) {
  describe(`job arrays through ${kind === 'slurm' ? 'sbatch' : 'qsub'}`, { concurrency: true }, () => {
    for (const perl of [true, false]) {
      it(`five elements of one group: one command, one array job, each element its own outputs and exit code${perl ? '' : ' (no perl)'}`, async () => {
        const counting = new CountingShell(perl ? shell : new PrefixedShell(shell, ['env', `PATH=${withoutPerl}`]));
        const batches: number[] = [];
        const scheduler = schedulers[kind](counting, (jobs) => batches.push(jobs));
        const tasks = sweep(kind, 5, (index) => [
          'bash',
          '-c',
          'echo "out of $1 in $PWD"; echo "err of $1" >&2; exit "$2"',
          'element',
          String(index),
          index === 2 ? '3' : '0',
        ]);
        const jobs = await submitAll(scheduler, tasks);
        assert.deepEqual(batches, [5], 'one batch');
        assert.equal(counting.programs.filter((program) => program === 'bash').length, 1, 'one submit command');
        assert.equal(new Set(jobs.map((job) => arrayIdOf(job.nativeId))).size, 1, 'one array job');
        assert.deepEqual(
          jobs.map((job) => indexOf(job.nativeId)),
          [0, 1, 2, 3, 4],
        );
        jobs.forEach((job, index) => {
          assert.equal(job.adopted, false);
          assert.equal(job.submissionKey, tasks[index].key(1));
        });
        const recorded = await Promise.all(
          tasks.map((task) => shell.readFile(`${jobDirectoryOf(task.workdir, task.key(1))}/${batchJobFiles.nativeId}`)),
        );
        assert.deepEqual(
          recorded.map((file) => file?.toString().trim()),
          jobs.map((job) => job.nativeId),
          "each element's id in its own job directory",
        );

        const trackedJobs = jobs.map((job, index) => tracked(tasks[index], job));
        counting.reset();
        const observations = await pollUntil(scheduler, trackedJobs, terminal);
        jobs.forEach((job, index) => {
          const observation = observations.get(job.nativeId)!;
          assert.equal(observation.state, index === 2 ? 'failed' : 'completed', `element ${index}`);
          assert.equal(observation.exitCode, index === 2 ? 3 : 0, `element ${index}`);
        });
        for (const [index, task] of tasks.entries()) {
          const stdout = (await shell.readFile(`${task.workdir}/stdout.txt`))?.toString();
          const stderr = (await shell.readFile(`${task.workdir}/stderr.txt`))?.toString();
          assert.equal(stdout, `out of ${index} in ${task.workdir}\n`);
          assert.equal(stderr, `err of ${index}\n`);
          const started = await shell.readFile(
            `${jobDirectoryOf(task.workdir, task.key(1))}/${batchJobFiles.startedAt}`,
          );
          assert.match(started?.toString() ?? '', /^\d+\n$/, `element ${index} recorded its start`);
        }
        // find adopts an element from its key, as a canceled task's retry does.
        const found = await scheduler.find({ workdir: tasks[3].workdir, submissionKeys: [tasks[3].key(1)] });
        assert.deepEqual(found, { ...jobs[3], adopted: true });
      });
    }

    it('one element canceled, the others run on; then the rest', { timeout: 120_000 }, async () => {
      const scheduler = schedulers[kind](shell);
      const tasks = sweep(kind, 3, () => ['sleep', '300']);
      const jobs = (await submitAll(scheduler, tasks)).map((job, index) => tracked(tasks[index], job));
      await pollUntil(scheduler, jobs, (observation) => observation?.state === 'running');
      await scheduler.cancel(jobs[1]);
      const observations = await pollUntil(scheduler, jobs, (observation, index) =>
        index === 1 ? observation?.state === 'canceled' : observation !== undefined,
      );
      assert.equal(observations.get(jobs[0].nativeId)?.state, 'running');
      assert.equal(observations.get(jobs[2].nativeId)?.state, 'running');
      await scheduler.cancel(jobs[0]);
      await scheduler.cancel(jobs[2]);
      const ended = await pollUntil(scheduler, jobs, terminal);
      assert.deepEqual(
        jobs.map((job) => ended.get(job.nativeId)?.state),
        ['canceled', 'canceled', 'canceled'],
      );
    });

    for (const [cut, perl] of [
      ['before', true],
      ['after', true],
      ['after', false],
    ] as const) {
      it(
        `a batch cut off ${cut} the array's ${kind === 'slurm' ? 'sbatch' : 'qsub'} made the job: the retry adopts every element, one job each${perl ? '' : ' (no perl)'}`,
        { timeout: 150_000 },
        async () => {
          const tasks = sweep(kind, 4, () => ['true']);
          const started = `${tasks[0].workdir}-started`;
          const path = `PATH=${shimDirectory}:${perl ? '/usr/local/bin:/usr/bin:/bin' : withoutPerl}`;
          // The batch's bash is killed (and only it) once the shim has started: the array's
          // sbatch/qsub goes on in the shim, which holds the elements' locks until it ends.
          const cutShell = new PrefixedShell(shell, [
            'env',
            path,
            `DROVER_TEST_STARTED=${started}`,
            `DROVER_TEST_CUT=${cut}`,
            'bash',
            '-c',
            cutWhenStarted,
            'cut',
            started,
          ]);
          const cutScheduler = schedulers[kind](cutShell);
          const firstRound = await Promise.allSettled(tasks.map((task) => cutScheduler.submit(task.spec(1))));
          for (const outcome of firstRound)
            assert.equal(outcome.status, 'rejected', 'the cut batch answered no element');
          // The retry (attempt 2 of every task, another worker's scheduler) finds the elements'
          // locks taken while the shim runs, sends each again alone to wait, and adopts.
          const retryShell = new CountingShell(shell);
          const second = await submitAll(schedulers[kind](retryShell), tasks, 2);
          assert.equal(new Set(second.map((job) => arrayIdOf(job.nativeId))).size, 1, 'one array job');
          second.forEach((job, index) => {
            assert.equal(job.adopted, true, `element ${index} adopted`);
            assert.equal(job.submissionKey, tasks[index].key(1), `element ${index}: under the cut batch's key`);
            assert.equal(indexOf(job.nativeId), index);
            tracked(tasks[index], job);
          });
          const record = await shell.readFile(
            `${jobDirectoryOf(tasks[0].workdir, tasks[0].key(1))}/${batchJobFiles.arrayElement}`,
          );
          const arrayName = record!.toString().split(' ')[0];
          const names = [arrayName, ...tasks.flatMap((task) => [task.key(1), task.key(2)])];
          assert.deepEqual(
            [...(await jobsNamed(kind, names))].sort(),
            [...second.map((job) => `${job.nativeId} ${arrayName}`)].sort(),
            'one job per element in the cluster, the one Drover got, and none under the keys',
          );
          const shimRuns = (await shell.readFile(started))?.toString().trim().split('\n');
          assert.equal(shimRuns?.length, 1, 'the array was submitted once');
        },
      );
    }
  });
}
