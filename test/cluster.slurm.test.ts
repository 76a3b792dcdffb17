/**
 * Experiments on a real cluster through the real HTTP API: the single-node Slurm of
 * scripts/start-slurm.sh, reached over SSH as two resources (catalogue/test-cluster.yaml):
 * `hpc-slurm` (sbatch/squeue/sacct/scancel) and `hpc-pbs` (qsub/qstat/qdel). Completed with
 * outputs staged back, failed with exit 3, walltime overrun, cancel while running and while
 * pending, a limit refused before anything reaches the cluster, the exact script shown, and
 * a login node whose sshd stops (blocked, then resumed by itself).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startPrivateSshd, stopSshd } from './private-sshd.ts';
import { testClusterSsh } from './test-cluster.ts';
import { eventsOf, projectRoot, startTestDrover, waitFor, waitForState, type TestDrover } from './harness.ts';

const run = promisify(execFile);
const clusters = ['hpc-slurm', 'hpc-pbs'] as const;

/** Each task of an experiment as `[kind, state]`, in DAG order. */
const taskStates = (experiment: { tasks: { kind: string; state: string }[] }) =>
  experiment.tasks.map((task) => [task.kind, task.state]);
/** What `taskStates` shows when every task ran to its end, stage-out after a kill included. */
const everyTaskCompleted = ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out'].map((kind) => [
  kind,
  'completed',
]);

/** A test program on the cluster: prints a message to stdout and out.txt, sleeps, exits with a code. */
const exitWith = {
  name: 'exit-with',
  title: 'Print, sleep and exit with a code',
  inputs: [
    { name: 'code', type: 'integer', minimum: 0, maximum: 255, default: 0 },
    { name: 'seconds', type: 'number', minimum: 0, maximum: 3600, default: 0 },
    { name: 'message', type: 'string', default: 'hello' },
  ],
  outputs: ['out.txt'],
  deployments: {
    '*': {
      environmentSetup: ['export EXIT_WITH_STARTED="$(date +%s)"'],
      // argv, not a command line: each input reaches bash as one positional argument.
      command: [
        'bash',
        '-c',
        'printf "%s\\n" "$3" | tee out.txt; sleep "$2"; exit "$1"',
        'exit-with',
        '{{code}}',
        '{{seconds}}',
        '{{message}}',
      ],
      queue: 'debug',
      walltimeMinutes: 5,
    },
  },
};

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover({
    catalogue: ['demo.yaml', 'test-cluster.yaml'].map((file) => join(projectRoot, 'catalogue', file)).join(','),
  });
  const created = await drover.call('POST', '/api/v1/applications', exitWith);
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
after(async () => {
  await drover?.stop();
});

async function submit(body: Record<string, unknown>): Promise<string> {
  const created = await drover.call('POST', '/api/v1/experiments', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}

async function experiment(id: string) {
  return (await drover.call('GET', `/api/v1/experiments/${id}`)).body;
}

/** Jobs the cluster's accounting knows under a job name (a Drover submission key). */
async function accountedJobs(name: string): Promise<string[]> {
  const { stdout } = await run('sacct', ['-X', '-P', '-n', '-S', '2000-01-01', '--name', name, '-o', 'JobID,State']);
  return stdout.split('\n').filter(Boolean);
}

/** The scheduler's view of a job right now (squeue, all states). */
/** The experiment once its job runs on the cluster. */
function untilRunning(id: string) {
  return waitFor(
    'the job to run',
    async () => {
      const body = await experiment(id);
      return body.job?.state === 'running' ? body : null;
    },
    120_000,
  );
}

async function squeueState(nativeId: string): Promise<string> {
  const { stdout } = await run('squeue', ['-h', '-t', 'all', '-j', nativeId, '-o', '%T']).catch(() => ({ stdout: '' }));
  return stdout.trim();
}

for (const resource of clusters) {
  describe(`experiments on ${resource}`, { concurrency: true }, () => {
    it('runs the demo pi-monte-carlo to completion and brings result.json and the logs back', async () => {
      const id = await submit({ application: 'pi-monte-carlo', resource, inputs: { samples: 200000, seed: 7 } });
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 120_000);
      assert.equal(
        done.state,
        'completed',
        JSON.stringify({ failure: done.failure, job: done.job, tasks: done.tasks }),
      );
      const job = done.job;
      assert.match(job.nativeId, /^\d+$/);
      assert.equal(job.state, 'completed');
      assert.equal(job.exitCode, 0);
      // Its `::drover` lines, read from the end of its stdout in the same command as squeue/qstat.
      assert.deepEqual([job.progress?.current, job.progress?.total], [200000, 200000], JSON.stringify(job.progress));
      assert.ok(Math.abs(job.progress.values.estimate - Math.PI) < 0.05, JSON.stringify(job.progress));
      assert.equal(job.queue, 'debug');
      assert.ok(job.startedAt && job.endedAt, 'start and end times are shown');
      if (resource === 'hpc-slurm') {
        assert.equal(job.nativeState, 'COMPLETED');
        assert.ok(job.nodeList, 'the node list is shown');
      }
      const outputs = await drover.call('GET', `/api/v1/experiments/${id}/outputs`);
      assert.deepEqual(outputs.body.items.map((file: any) => file.path).sort(), [
        'result.json',
        'stderr.txt',
        'stdout.txt',
      ]);
      const result = (await drover.call('GET', `/api/v1/experiments/${id}/outputs/result.json`)).body;
      assert.equal(result.samples, 200000);
      assert.ok(Math.abs(result.estimate - Math.PI) < 0.05, `estimate ${result.estimate}`);
      // Exactly one job under the submission key in the cluster's accounting.
      // (slurmdbd records a job a moment after it ends, so wait for the record first.)
      const jobs = await waitFor(
        'the job in the accounting',
        async () => {
          const found = await accountedJobs(job.submissionKey);
          return found.length > 0 ? found : null;
        },
        30_000,
        250,
      );
      assert.equal(jobs.length, 1);
    });

    it('stages an uploaded file in over SFTP and runs word-count on it', async () => {
      const upload = await drover.call(
        'POST',
        '/api/v1/uploads?filename=story.txt',
        Buffer.from('the quick brown fox\njumps over the lazy dog\nThe end\n'),
      );
      assert.equal(upload.status, 201);
      const id = await submit({ application: 'word-count', resource, inputs: { text: upload.body.id, top: 2 } });
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 120_000);
      assert.equal(done.state, 'completed', JSON.stringify(done.failure ?? done.job));
      const counts = (await drover.call('GET', `/api/v1/experiments/${id}/outputs/counts.json`)).body;
      assert.deepEqual([counts.lines, counts.words, counts.topWords[0].word], [3, 11, 'the']);
    });

    it('shows a non-zero exit as failed with the exit code, and keeps the output', async () => {
      const message = `it's "quoted" $(touch /tmp/drover-pwned) \`x\` *`;
      const id = await submit({ application: 'exit-with', resource, inputs: { code: 3, seconds: 0, message } });
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 120_000);
      assert.equal(done.state, 'failed');
      assert.equal(done.job.state, 'failed');
      assert.equal(done.job.exitCode, 3);
      if (resource === 'hpc-slurm') assert.equal(done.job.nativeState, 'FAILED');
      const out = (await drover.call('GET', `/api/v1/experiments/${id}/outputs/out.txt`)).body;
      assert.equal(out, `${message}\n`, 'the input reached the program verbatim');
      const events = await eventsOf(drover, id);
      assert.ok(
        events.items.some(
          (event) => event.entity === 'job' && event.toState === 'failed' && /exit code 3/.test(event.message),
        ),
      );
    });

    it('shows a walltime overrun as timed-out', { timeout: 240_000 }, async () => {
      const id = await submit({ application: 'exit-with', resource, inputs: { seconds: 600 }, walltimeMinutes: 1 });
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 200_000);
      assert.equal(done.job.state, 'timed-out', JSON.stringify(done.job));
      assert.equal(done.state, 'failed');
      if (resource === 'hpc-slurm') assert.equal(done.job.nativeState, 'TIMEOUT');
      // Stage-out ran for the killed job: what it wrote came back.
      assert.equal((await drover.call('GET', `/api/v1/experiments/${id}/outputs/out.txt`)).body, 'hello\n');
    });

    it('cancels a running job: the experiment is canceled, the job leaves the cluster, and what it wrote comes back', async () => {
      const message = 'written before the cancel through Drover';
      const id = await submit({ application: 'exit-with', resource, inputs: { seconds: 300, message } });
      const running = await untilRunning(id);
      // The job has written its output before it is killed.
      await waitFor('the job to write', async () => {
        const log = await drover.call('GET', `/api/v1/experiments/${id}/logs/stdout`);
        return log.status === 200 && log.body.includes(message);
      });
      const canceled = await drover.call('POST', `/api/v1/experiments/${id}/cancel`);
      assert.equal(canceled.status, 202);
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 60_000);
      assert.equal(done.state, 'canceled');
      assert.equal(done.job.state, 'canceled');
      assert.deepEqual(taskStates(done), everyTaskCompleted, 'the monitor and stage-out ran after the kill');
      const out = await drover.call('GET', `/api/v1/experiments/${id}/outputs/out.txt`);
      assert.equal(out.body, `${message}\n`, 'the partial output came back');
      await waitFor(
        'the cluster to end the job',
        async () => !['RUNNING', 'PENDING', 'COMPLETING'].includes(await squeueState(running.job.nativeId)),
        60_000,
      );
    });

    it('shows a job canceled on the cluster outside Drover (an admin cancels it), and brings back what it wrote', async () => {
      const message = 'written before the cancel';
      const id = await submit({ application: 'exit-with', resource, inputs: { seconds: 300, message } });
      const running = await untilRunning(id);
      // Canceled once it has written: a job canceled while Slurm still launches it ends without
      // its script's exit code, which Slurm's qstat then shows as 0 (seen once in CI).
      await waitFor('the job to write', async () => {
        const log = await drover.call('GET', `/api/v1/experiments/${id}/logs/stdout`);
        return log.status === 200 && log.body.includes(message);
      });
      await run('scancel', [running.job.nativeId]); // as root on the cluster, not through Drover
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 90_000);
      const seen = JSON.stringify({ failure: done.failure, job: done.job });
      if (resource === 'hpc-slurm') {
        // sacct tells a cancel apart, and by whom.
        assert.equal(done.state, 'canceled', seen);
        assert.equal(done.job.state, 'canceled');
        assert.equal(done.job.reason, 'canceled by uid 0');
      } else {
        // qstat shows only the exit code of a job stopped by SIGTERM: failed, naming the signal.
        assert.equal(done.state, 'failed', seen);
        assert.equal(done.job.exitCode, 143);
        assert.equal(done.job.reason, 'stopped by signal 15 (SIGTERM)');
      }
      assert.deepEqual(taskStates(done), everyTaskCompleted, 'every task ended, stage-out too');
      const out = await drover.call('GET', `/api/v1/experiments/${id}/outputs/out.txt`);
      assert.equal(out.body, `${message}\n`, 'what the job wrote before the cancel came back');
    });

    it(
      "waits, blocked with the cluster's reason, while the cluster takes no more of the user's jobs, then runs",
      {
        timeout: 240_000,
      },
      async () => {
        // Partition `limited` holds one job per user (QOS drover-limited, scripts/start-slurm.sh).
        const first = await submit({ application: 'exit-with', resource, queue: 'limited', inputs: { seconds: 20 } });
        await untilRunning(first);
        const second = await submit({
          application: 'exit-with',
          resource,
          queue: 'limited',
          inputs: { message: 'later' },
        });
        const blocked = await waitFor(
          'the second to wait on the cluster',
          async () => {
            const body = await experiment(second);
            return body.state === 'blocked' ? body : null;
          },
          60_000,
        );
        assert.match(blocked.blockedReason, /takes no more of your jobs for now \(.*QOSMaxSubmitJobPerUserLimit/);
        for (const id of [first, second]) {
          const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 180_000);
          assert.equal(done.state, 'completed', JSON.stringify({ failure: done.failure, tasks: done.tasks }));
        }
        assert.equal((await drover.call('GET', `/api/v1/experiments/${second}/outputs/out.txt`)).body, 'later\n');
        const events = await eventsOf(drover, second);
        assert.ok(
          events.items.some(
            (event: { entity: string; toState: string; message: string | null }) =>
              event.entity === 'task' &&
              event.toState === 'ready' &&
              /submit-limit|no more of your jobs/.test(event.message ?? ''),
          ),
          'the timeline shows the refused submit and its retry',
        );
        // slurmdbd records a job a moment after it ends: wait for the record, then count.
        const key = (await experiment(second)).job.submissionKey;
        const jobs = await waitFor(
          'the job in the accounting',
          async () => {
            const found = await accountedJobs(key);
            return found.length > 0 ? found : null;
          },
          30_000,
          250,
        );
        assert.equal(jobs.length, 1, 'one job on the cluster');
      },
    );

    it('refuses a request outside the queue limits with a 400 before anything reaches the cluster', async () => {
      const tooLong = await drover.call('POST', '/api/v1/experiments', {
        application: 'exit-with',
        resource,
        inputs: {},
        walltimeMinutes: 11,
      });
      assert.equal(tooLong.status, 400);
      assert.match(tooLong.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.ok(
        tooLong.body.errors.some(
          (error: any) => error.field === 'walltimeMinutes' && /at most 10 on queue debug/.test(error.message),
        ),
      );
      const tooWide = await drover.call('POST', '/api/v1/experiments', {
        application: 'exit-with',
        resource,
        inputs: {},
        coresPerNode: 9,
      });
      assert.equal(tooWide.status, 400);
      assert.ok(tooWide.body.errors.some((error: any) => error.field === 'coresPerNode'));
      const unknown = await drover.call('POST', '/api/v1/experiments', {
        application: 'exit-with',
        resource,
        inputs: {},
        queue: 'gpu',
      });
      assert.equal(unknown.status, 400);
      assert.ok(unknown.body.errors.some((error: any) => error.field === 'queue' && /debug, long/.test(error.message)));
    });

    it('shows the exact batch script with directives, the environment setup and every input quoted', async () => {
      const draft = await drover.call('POST', '/api/v1/experiments', {
        application: 'exit-with',
        resource,
        inputs: { code: 1, message: "a'b $(c)" },
        queue: 'long',
        coresPerNode: 2,
        walltimeMinutes: 30,
        launch: false,
      });
      assert.equal(draft.status, 201);
      const script = (await drover.call('GET', `/api/v1/experiments/${draft.body.id}/script`)).body as string;
      if (resource === 'hpc-slurm') {
        assert.match(script, /^#SBATCH --partition=long$/m);
        assert.match(script, /^#SBATCH --ntasks-per-node=2$/m);
        assert.match(script, /^#SBATCH --time=(30|0-00:30:00|00:30:00)$/m);
      } else {
        assert.match(script, /^#PBS -q long$/m);
        assert.match(script, /^#PBS -l nodes=1:ppn=2,walltime=00:30:00/m);
      }
      assert.match(script, /^export EXIT_WITH_STARTED="\$\(date \+%s\)"$/m, 'environment setup verbatim');
      assert.ok(script.includes(`'a'\\''b $(c)'`), 'the input is single-quoted');
    });
  });
}

describe('a pending job', () => {
  it('is shown as PENDING with its reason and can be canceled on both schedulers', { timeout: 240_000 }, async () => {
    // Take all 8 CPUs of the one node, so the next 8-core jobs wait.
    const blocker = await submit({
      application: 'exit-with',
      resource: 'hpc-slurm',
      inputs: { seconds: 600 },
      coresPerNode: 8,
      name: 'blocker',
    });
    try {
      await waitFor(
        'the blocker to run',
        async () => (await experiment(blocker)).job?.state === 'running',
        120_000,
        250,
      );
      const waiting = await Promise.all(
        clusters.map((resource) => submit({ application: 'exit-with', resource, inputs: {}, coresPerNode: 8 })),
      );
      for (const id of waiting) {
        const pending = await waitFor(
          'the job to be queued on the cluster',
          async () => {
            const body = await experiment(id);
            // Slurm gives a job just submitted the reason "None" until its scheduler has looked
            // at it (every second here, bf_interval=1); a poll in between sees no reason yet.
            const seen = body.job?.state === 'queued' && body.job.nativeState !== 'submitted';
            return seen && (body.resource !== 'hpc-slurm' || body.job.reason) ? body : null;
          },
          60_000,
          250,
        );
        if (pending.resource === 'hpc-slurm') {
          assert.equal(pending.job.nativeState, 'PENDING');
          assert.match(pending.job.reason ?? '', /Resources|Priority/);
        }
        assert.equal((await drover.call('POST', `/api/v1/experiments/${id}/cancel`)).status, 202);
      }
      for (const id of waiting) {
        const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 60_000);
        assert.equal(done.state, 'canceled');
        assert.equal(done.job.state, 'canceled');
        assert.equal(done.job.startedAt, null, 'the job never started');
      }
    } finally {
      await drover.call('POST', `/api/v1/experiments/${blocker}/cancel`);
    }
    assert.equal((await waitForState(drover, blocker, ['canceled', 'failed', 'completed'], 60_000)).state, 'canceled');
  });
});

describe('a login node that stops answering', () => {
  let sshd: ChildProcess | undefined;
  let port: number;
  before(async () => {
    port = await freePort();
    sshd = await startPrivateSshd(port);
  });
  after(async () => {
    if (sshd) await stopSshd(sshd);
  });

  it(
    'blocks the experiment with the reason, then resumes it by itself when sshd is back',
    { timeout: 240_000 },
    async () => {
      const [, hostKey] = /^\S+ (\S+ \S+)/.exec(await readFile(testClusterSsh.knownHostsPath, 'utf8'))!;
      const resource = {
        name: 'hpc-flaky',
        kind: 'slurm',
        config: {
          scratchDir: '/home/hpcuser/scratch',
          pollIntervalSeconds: 1,
          ssh: {
            host: testClusterSsh.host,
            port,
            user: testClusterSsh.user,
            privateKeyPath: testClusterSsh.privateKeyPath,
            hostKey,
          },
          queues: [{ name: 'debug', maxWalltimeMinutes: 10, maxCores: 8 }],
        },
      };
      assert.equal((await drover.call('POST', '/api/v1/resources', resource)).status, 201);
      const id = await submit({
        application: 'exit-with',
        resource: 'hpc-flaky',
        inputs: { seconds: 25, message: 'survived' },
      });
      await waitFor('the job to run', async () => (await experiment(id)).job?.state === 'running', 120_000, 250);

      await stopSshd(sshd!);
      sshd = undefined;
      const blocked = await waitForState(drover, id, ['blocked'], 60_000);
      assert.match(blocked.blockedReason, /hpc-flaky does not answer/);
      assert.match(blocked.blockedReason, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.ok(blocked.blockedUntil && !Number.isNaN(Date.parse(blocked.blockedUntil)), 'the next try is shown');

      sshd = await startPrivateSshd(port);
      const done = await waitForState(drover, id, ['completed', 'failed', 'canceled'], 120_000);
      assert.equal(done.state, 'completed', JSON.stringify(done.failure ?? done.job));
      assert.equal((await drover.call('GET', `/api/v1/experiments/${id}/outputs/out.txt`)).body, 'survived\n');
      const moves = (await eventsOf(drover, id)).moves;
      const experimentMoves = moves.filter((move) => move.startsWith('experiment'));
      const blockedAt = experimentMoves.indexOf('experiment executing->blocked');
      assert.ok(blockedAt > 0, moves.join('\n'));
      assert.equal(
        experimentMoves[blockedAt + 1],
        'experiment blocked->executing',
        'the next experiment move resumes it',
      );
      assert.equal(
        moves.filter((move) => move.startsWith('job ') && move.endsWith('submitting->queued')).length,
        1,
        'one job submitted',
      );
    },
  );
});
