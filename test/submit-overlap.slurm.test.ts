/**
 * One task, one cluster job, whatever overlaps a slow submit: the test cluster's sbatch and
 * qsub are made slow (the submit-delay shims of scripts/start-slurm.sh, first on PATH only in
 * this file's private sshd, active only for job scripts that carry the marker), and while an
 * attempt's sbatch/qsub still runs on the login node, its worker loses its SSH connection,
 * is killed (SIGKILL), or is stopped (SIGSTOP) past its lease while another worker takes the
 * task over, and is then let go on (SIGCONT). Each case runs one experiment on Slurm and one
 * through the PBS commands at once, on Drover's separate processes on PostgreSQL, and checks
 * what a user and the cluster's accounting see: the experiment completes, the cluster ran one
 * job for the task (under any attempt's name), sbatch/qsub was called once, and the outputs
 * and the stdout Drover keeps come from the job Drover recorded. One more case cancels the
 * experiment while the killed worker's slow submit still runs: the retry records the job
 * that submit made, and the cancellation kills it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventsOf, projectRoot, waitFor, waitForState } from './harness.ts';
import { startDroverService, type DroverService } from './service.ts';
import { freePort, startPrivateSshd, stopSshd } from './private-sshd.ts';
import { testClusterSsh } from './test-cluster.ts';

const run = promisify(execFile);
const scratch = '/home/hpcuser/scratch';
/** Where scripts/start-slurm.sh installs the submit-delay shims. */
const shimDirectory = '/opt/drover-test-cluster/submit-delay';
/** How long a marked sbatch/qsub takes: long enough for a retry to reach the login node meanwhile. */
const submitDelaySeconds = 12;
const resources = ['overlap-slurm', 'overlap-pbs'] as const;

let service: DroverService;
let sshd: ChildProcess | undefined;
let port: number;
let catalogueDirectory: string;

/** The catalogue of this file: both resources through the private sshd, and a probe program. */
function catalogue(hostKey: string): string {
  const resource = (name: string, kind: string) => ({
    name,
    kind,
    config: {
      scratchDir: scratch,
      pollIntervalSeconds: 1,
      ssh: {
        host: testClusterSsh.host,
        port,
        user: testClusterSsh.user,
        privateKeyPath: testClusterSsh.privateKeyPath,
        hostKey,
      },
      queues: [{ name: 'debug', maxWalltimeMinutes: 10, maxCores: 8, maxNodes: 1 }],
    },
  });
  return JSON.stringify({
    resources: [resource('overlap-slurm', 'slurm'), resource('overlap-pbs', 'pbs')],
    applications: [
      {
        name: 'overlap-probe',
        version: '1',
        title: 'Prints the id of the job it runs in',
        inputs: [{ name: 'marker', type: 'string', default: '' }],
        outputs: ['out.txt'],
        deployments: {
          '*': {
            command: [
              'bash',
              '-c',
              'printf "job %s %s\\n" "$SLURM_JOB_ID" "$1" | tee out.txt; sleep 2',
              'overlap-probe',
              '{{marker}}',
            ],
            queue: 'debug',
            walltimeMinutes: 5,
          },
        },
      },
      {
        name: 'overlap-long',
        version: '1',
        title: 'Runs long enough to be canceled',
        inputs: [{ name: 'marker', type: 'string', default: '' }],
        outputs: [],
        deployments: {
          '*': {
            command: ['bash', '-c', 'sleep 240', 'overlap-long', '{{marker}}'],
            queue: 'debug',
            walltimeMinutes: 5,
          },
        },
      },
    ],
  });
}

/** The private sshd: the test cluster's configuration with the submit-delay shims first on PATH. */
function startLoginNode(): Promise<ChildProcess> {
  return startPrivateSshd(port, ['-o', `SetEnv=PATH=${shimDirectory}:/usr/local/bin:/usr/bin:/bin`]);
}

before(async () => {
  await run('bash', [join(projectRoot, 'scripts/start-slurm.sh')]);
  port = await freePort();
  sshd = await startLoginNode();
  const [, hostKey] = /^\S+ (\S+ \S+)/.exec(await readFile(testClusterSsh.knownHostsPath, 'utf8'))!;
  catalogueDirectory = await mkdtemp(join(tmpdir(), 'drover-overlap-'));
  // JSON is YAML: the catalogue loader reads it as it is.
  const cataloguePath = join(catalogueDirectory, 'overlap.yaml');
  await writeFile(cataloguePath, catalogue(hostKey));
  service = await startDroverService({ DROVER_CATALOGUE: cataloguePath });
  await service.startRole('controller');
});
after(async () => {
  await service?.stop();
  if (sshd) await stopSshd(sshd);
  if (catalogueDirectory) await rm(catalogueDirectory, { recursive: true, force: true });
});

/** One experiment of the case on one resource. */
interface Run {
  resource: string;
  id: string;
  workdir: string;
}

/** Creates one experiment per resource whose submit will be slow. */
async function startRuns(application = 'overlap-probe'): Promise<Run[]> {
  return Promise.all(
    resources.map(async (resource) => {
      const created = await service.call('POST', '/api/v1/experiments', {
        application,
        resource,
        inputs: { marker: `drover-test-delay-submit=${submitDelaySeconds}` },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return { resource, id: created.body.id as string, workdir: `${scratch}/${created.body.id}` };
    }),
  );
}

/** The lines the shim wrote: one per sbatch/qsub call it delayed for this experiment. */
async function delayedSubmits(run: Run): Promise<string[]> {
  const text = await readFile(`${run.workdir}/submit-delays.log`, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

/** Waits until every run's first sbatch/qsub has started (and sleeps in the shim). */
async function waitForSlowSubmits(runs: Run[]): Promise<void> {
  await waitFor(
    'the slow sbatch/qsub of every run',
    async () => {
      const counts = await Promise.all(runs.map(delayedSubmits));
      return counts.every((lines) => lines.length >= 1);
    },
    60_000,
    100,
  );
}

/**
 * Job ids the cluster has under a job name (a Drover submission key): its accounting, and
 * its queue, which also shows a job that slurmdbd has not recorded yet.
 */
async function accountedJobs(name: string): Promise<string[]> {
  const [accounted, queued] = await Promise.all([
    run('sacct', ['-X', '-P', '-n', '-S', '2000-01-01', '--name', name, '-o', 'JobID']),
    run('squeue', ['-h', '-t', 'all', '--name', name, '-o', '%i']),
  ]);
  return [...new Set(`${accounted.stdout}\n${queued.stdout}`.split('\n').filter(Boolean))];
}

/**
 * What a user and the cluster see once the run's experiment ended: it completed; sacct
 * holds one job under all the names its submit task's attempts could carry (and one more);
 * the shim saw one sbatch/qsub; Drover recorded that job, once; out.txt and the stdout log
 * were written by it.
 */
async function checkOneJob(run: Run, report: (message: string) => void): Promise<void> {
  const done = await waitForState(service, run.id, ['completed', 'failed', 'canceled'], 150_000);
  const submitTask = done.tasks.find((task: any) => task.kind === 'submit');
  const keyOf = (attempt: number) => `drover-${run.id.replaceAll('-', '').slice(0, 16)}-${submitTask.id}-${attempt}`;
  const names = Array.from({ length: submitTask.attempt + 1 }, (_, index) => keyOf(index + 1));
  // Count once every sbatch/qsub the shim delayed has had time to end: a late one counts too.
  const lastDelayedStart = Math.max(...(await delayedSubmits(run)).map((line) => Number(line.split(' ')[1])));
  await sleep(Math.max(0, (lastDelayedStart + submitDelaySeconds + 3) * 1000 - Date.now()));
  const jobs = (await Promise.all(names.map(accountedJobs))).flat();
  report(
    `${run.resource}: ${jobs.length} job(s) in sacct/squeue for the task (${jobs.join(', ')}), submit attempt ${submitTask.attempt}, experiment ${done.state}`,
  );
  assert.equal(
    done.state,
    'completed',
    `${run.resource}: ${JSON.stringify({ failure: done.failure, tasks: done.tasks })}`,
  );
  assert.equal(
    jobs.length,
    1,
    `${run.resource}: one job in the cluster's accounting and queue for the task, got ${jobs.join(', ')}`,
  );
  assert.equal(done.job.nativeId, jobs[0], `${run.resource}: Drover recorded the cluster's job`);
  assert.equal(done.job.submissionKey, keyOf(1), `${run.resource}: the first attempt's job was adopted`);
  assert.ok(submitTask.attempt >= 2, `${run.resource}: the submit was retried while the first one ran`);
  assert.equal((await delayedSubmits(run)).length, 1, `${run.resource}: sbatch/qsub was called once`);
  const recorded = await service.query('select count(*)::int as n from jobs where experiment_id = $1', [run.id]);
  assert.equal(recorded[0].n, 1, `${run.resource}: one job row`);
  const queuedMoves = (await eventsOf(service, run.id)).moves.filter(
    (move) => move.startsWith('job ') && move.endsWith('submitting->queued'),
  );
  assert.equal(queuedMoves.length, 1, `${run.resource}: one job event`);
  const expected = `job ${jobs[0]} drover-test-delay-submit=${submitDelaySeconds}\n`;
  assert.equal(
    (await service.call('GET', `/api/v1/experiments/${run.id}/outputs/out.txt`)).body,
    expected,
    `${run.resource}: out.txt`,
  );
  const stdout = (await service.call('GET', `/api/v1/experiments/${run.id}/logs/stdout`)).body;
  assert.ok(
    typeof stdout === 'string' && stdout.includes(expected),
    `${run.resource}: stdout is the recorded job's: ${JSON.stringify(stdout)}`,
  );
}

/** Checks every run (each reports its job count), then fails with the first failure. */
async function checkOneJobEach(
  runs: Run[],
  t: { diagnostic(message: string): void },
  check = checkOneJob,
): Promise<void> {
  const results = await Promise.allSettled(runs.map((run) => check(run, (message) => t.diagnostic(message))));
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}

/** What Slurm says of a job: its squeue state while listed, else its sacct state. */
async function clusterState(jobId: string): Promise<string> {
  const queued = await run('squeue', ['-h', '-t', 'all', '-j', jobId, '-o', '%T']).catch(() => ({ stdout: '' }));
  if (queued.stdout.trim()) return queued.stdout.trim();
  const accounted = await run('sacct', ['-X', '-P', '-n', '-j', jobId, '-o', 'State']);
  return accounted.stdout.trim();
}

/**
 * What a user and the cluster see once a run canceled during its slow submit ended: it is
 * `canceled`; the cluster has one job for the task, which the cluster canceled (it never
 * ran to completion); Drover recorded that job and shows it canceled.
 */
async function checkCanceledJob(run: Run, report: (message: string) => void): Promise<void> {
  const done = await waitForState(service, run.id, ['completed', 'failed', 'canceled'], 150_000);
  const submitTask = done.tasks.find((task: any) => task.kind === 'submit');
  const keyOf = (attempt: number) => `drover-${run.id.replaceAll('-', '').slice(0, 16)}-${submitTask.id}-${attempt}`;
  const names = Array.from({ length: Math.max(submitTask.attempt, 1) + 1 }, (_, index) => keyOf(index + 1));
  // Look once the slow sbatch/qsub has surely ended, so a job it made late is counted.
  const lastDelayedStart = Math.max(...(await delayedSubmits(run)).map((line) => Number(line.split(' ')[1])));
  await sleep(Math.max(0, (lastDelayedStart + submitDelaySeconds + 3) * 1000 - Date.now()));
  const jobs = (await Promise.all(names.map(accountedJobs))).flat();
  let state = jobs.length === 1 ? await clusterState(jobs[0]) : '';
  // Give the cancellation (and slurmdbd) a moment when the job was still listed as alive.
  for (let tries = 0; tries < 20 && /^(PENDING|RUNNING|COMPLETING|CONFIGURING)$/.test(state); tries += 1) {
    await sleep(1_000);
    state = await clusterState(jobs[0]);
  }
  report(
    `${run.resource}: ${jobs.length} job(s) for the task (${jobs.join(', ')}), cluster state ${JSON.stringify(state)}, submit attempt ${submitTask.attempt} ${submitTask.state}, experiment ${done.state}, Drover's job ${JSON.stringify(done.job && { nativeId: done.job.nativeId, state: done.job.state })}`,
  );
  assert.equal(
    done.state,
    'canceled',
    `${run.resource}: ${JSON.stringify({ failure: done.failure, tasks: done.tasks })}`,
  );
  assert.equal(
    jobs.length,
    1,
    `${run.resource}: one job in the cluster's accounting and queue for the task, got ${jobs.join(', ')}`,
  );
  assert.match(state, /^CANCELLED/, `${run.resource}: the cluster canceled job ${jobs[0]}`);
  assert.ok(done.job, `${run.resource}: Drover recorded the job`);
  assert.equal(done.job.nativeId, jobs[0], `${run.resource}: Drover recorded the cluster's job`);
  assert.equal(done.job.state, 'canceled', `${run.resource}: Drover shows the job canceled`);
  assert.ok(submitTask.attempt >= 2, `${run.resource}: the submit was retried after the cancel`);
  const recorded = await service.query('select count(*)::int as n from jobs where experiment_id = $1', [run.id]);
  assert.equal(recorded[0].n, 1, `${run.resource}: one job row`);
}

/** Stops a worker for good (SIGCONT first, in case it is stopped). */
async function stopWorker(worker: { child: ChildProcess }): Promise<void> {
  const { child } = worker;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGCONT');
  child.kill('SIGKILL');
  await exited;
}

describe('a retry that overlaps a slow sbatch/qsub', { concurrency: false }, () => {
  it('after the SSH connection dropped: one job per task on Slurm and PBS', { timeout: 240_000 }, async (t) => {
    const worker = await service.startRole('worker');
    try {
      const runs = await startRuns();
      await waitForSlowSubmits(runs);
      // Cut the login node's connections; the users' commands (the slow submits) go on.
      await stopSshd(sshd!);
      sshd = undefined;
      await waitFor(
        'the attempts to fail as unreachable',
        async () => {
          const experiments = await Promise.all(
            runs.map(async (run) => (await service.call('GET', `/api/v1/experiments/${run.id}`)).body),
          );
          return experiments.every(
            (experiment) => experiment.tasks.find((task: any) => task.kind === 'submit').attempt >= 2,
          );
        },
        60_000,
        100,
      );
      sshd = await startLoginNode();
      await checkOneJobEach(runs, t);
    } finally {
      await stopWorker(worker);
    }
  });

  it('after the worker was killed: one job per task on Slurm and PBS', { timeout: 240_000 }, async (t) => {
    const doomed = await service.startRole('worker');
    try {
      const runs = await startRuns();
      await waitForSlowSubmits(runs);
      await stopWorker(doomed);
      const survivor = await service.startRole('worker');
      try {
        await checkOneJobEach(runs, t);
      } finally {
        await stopWorker(survivor);
      }
    } finally {
      await stopWorker(doomed);
    }
  });

  it(
    'canceled while the sbatch/qsub of a killed worker still ran: the job is recorded and canceled on Slurm and PBS',
    { timeout: 240_000 },
    async (t) => {
      const doomed = await service.startRole('worker');
      try {
        const runs = await startRuns('overlap-long');
        await waitForSlowSubmits(runs);
        await stopWorker(doomed);
        // The user cancels while the killed worker's sbatch/qsub still sleeps on the login
        // node; the retry runs only afterwards, on an experiment that is canceling.
        for (const { id } of runs) {
          const canceled = await service.call('POST', `/api/v1/experiments/${id}/cancel`);
          assert.equal(canceled.status, 202, JSON.stringify(canceled.body));
          assert.equal(canceled.body.state, 'canceling');
        }
        const survivor = await service.startRole('worker');
        try {
          await checkOneJobEach(runs, t, checkCanceledJob);
        } finally {
          await stopWorker(survivor);
        }
      } finally {
        await stopWorker(doomed);
      }
    },
  );

  it(
    'after the lease expired while the old worker lives on: one job per task on Slurm and PBS',
    { timeout: 240_000 },
    async (t) => {
      const old = await service.startRole('worker');
      let other: { child: ChildProcess } | undefined;
      try {
        const runs = await startRuns();
        await waitForSlowSubmits(runs);
        old.child.kill('SIGSTOP');
        other = await service.startRole('worker');
        // The other worker takes the tasks over and records the job while the old one sleeps.
        await waitFor(
          'the other worker to record the jobs',
          async () => {
            const experiments = await Promise.all(
              runs.map(async (run) => (await service.call('GET', `/api/v1/experiments/${run.id}`)).body),
            );
            return experiments.every((experiment) => experiment.job !== null);
          },
          90_000,
          200,
        );
        // The old worker goes on: its sbatch/qsub answered long ago, and it records what it got.
        old.child.kill('SIGCONT');
        await sleep(3_000);
        await checkOneJobEach(runs, t);
        assert.equal(old.child.exitCode, null, 'the old worker is still alive');
      } finally {
        if (other) await stopWorker(other);
        await stopWorker(old);
      }
    },
  );
});
