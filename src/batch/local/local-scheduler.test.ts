import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobObservation, JobSpec, SubmittedJob, TrackedJob } from '../port.ts';
import { isTerminalJobState } from '../../domain/job.ts';
import { LocalShell } from '../../shell/local-shell.ts';
import { LocalScheduler } from './local-scheduler.ts';

const temporaryDirectories: string[] = [];
const startedJobs: TrackedJob[] = [];

after(async () => {
  // Leave no stray processes behind, whatever the tests did.
  const scheduler = new LocalScheduler({ shell: new LocalShell() });
  for (const job of startedJobs) await scheduler.cancel(job).catch(() => {});
  for (const directory of temporaryDirectories) await fs.rm(directory, { recursive: true, force: true });
});

async function makeTemporaryDirectory(): Promise<string> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-local-'));
  temporaryDirectories.push(directory);
  return directory;
}

async function makeSpec(argv: string[], overrides: Partial<JobSpec> = {}): Promise<JobSpec> {
  return {
    submissionKey: `task-${Math.random().toString(36).slice(2)}.attempt-1`,
    workdir: await makeTemporaryDirectory(),
    jobName: 'local-test',
    nodes: 1,
    coresPerNode: 1,
    walltimeMinutes: 5,
    environmentSetup: [],
    argv,
    ...overrides,
  };
}

/** The TrackedJob a store would hand back (through JSON, as a database would). */
function track(spec: JobSpec, submitted: SubmittedJob): TrackedJob {
  const job: TrackedJob = JSON.parse(
    JSON.stringify({
      nativeId: submitted.nativeId,
      workdir: spec.workdir,
      submissionKey: spec.submissionKey,
      details: submitted.details,
    }),
  );
  startedJobs.push(job);
  return job;
}

async function pollOne(scheduler: LocalScheduler, job: TrackedJob): Promise<JobObservation> {
  const observations = await scheduler.poll([job]);
  const observation = observations.get(job.nativeId);
  assert.ok(observation, `poll did not report job ${job.nativeId}`);
  return observation;
}

async function waitForTerminal(scheduler: LocalScheduler, job: TrackedJob, limitMs = 15_000): Promise<JobObservation> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const observation = await pollOne(scheduler, job);
    if (isTerminalJobState(observation.state)) return observation;
    assert.ok(Date.now() < deadline, `job ${job.nativeId} still ${observation.state} after ${limitMs} ms`);
    await sleep(50);
  }
}

/** Live (not zombie) processes whose session id is `sessionId`, with their command names. */
async function processesInSession(sessionId: number): Promise<{ pid: number; command: string }[]> {
  const found: { pid: number; command: string }[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (text === null) continue;
    const command = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[3]) === sessionId) found.push({ pid: Number(entry), command });
  }
  return found;
}

async function countLines(filePath: string): Promise<number> {
  const text = await fs.readFile(filePath, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line !== '').length;
}

describe('LocalScheduler', () => {
  test('a job runs, is seen running, then completes with exit code 0 and its output in stdout.txt', async () => {
    const scheduler = new LocalScheduler({ shell: new LocalShell() });
    const spec = await makeSpec(['bash', '-c', 'echo hello from the job; sleep 1']);
    const submitted = await scheduler.submit(spec);
    assert.equal(submitted.adopted, false);
    assert.match(submitted.nativeId, /^\d+$/);
    const job = track(spec, submitted);

    const running = await pollOne(scheduler, job);
    assert.equal(running.state, 'running');
    assert.equal(running.nativeState, 'running');
    assert.ok(running.startedAt instanceof Date);

    const ended = await waitForTerminal(scheduler, job);
    assert.equal(ended.state, 'completed');
    assert.equal(ended.exitCode, 0);
    assert.ok(ended.endedAt instanceof Date);
    assert.equal(await fs.readFile(path.join(spec.workdir, 'stdout.txt'), 'utf8'), 'hello from the job\n');
  });

  test('a command that exits 3 fails with exit code 3', async () => {
    const scheduler = new LocalScheduler({ shell: new LocalShell() });
    const spec = await makeSpec(['bash', '-c', 'echo oops >&2; exit 3']);
    const job = track(spec, await scheduler.submit(spec));
    const ended = await waitForTerminal(scheduler, job);
    assert.equal(ended.state, 'failed');
    assert.equal(ended.nativeState, 'exited');
    assert.equal(ended.exitCode, 3);
    assert.equal(await fs.readFile(path.join(spec.workdir, 'stderr.txt'), 'utf8'), 'oops\n');
  });

  test('a job that runs past its walltime is timed-out', async () => {
    const scheduler = new LocalScheduler({ shell: new LocalShell() });
    // 0.02 minutes = 1.2 s, rounded up to 2 s.
    const spec = await makeSpec(['sleep', '30'], { walltimeMinutes: 0.02 });
    const started = Date.now();
    const job = track(spec, await scheduler.submit(spec));
    const ended = await waitForTerminal(scheduler, job, 12_000);
    assert.equal(ended.state, 'timed-out');
    assert.equal(ended.nativeState, 'timeout');
    assert.ok(Date.now() - started >= 1_900, 'stopped before its walltime');
  });

  test('cancel kills the whole process tree and the job is then canceled', async () => {
    const scheduler = new LocalScheduler({ shell: new LocalShell() });
    const spec = await makeSpec(['bash', '-c', 'sleep 300 & (sleep 300; echo never); wait']);
    const job = track(spec, await scheduler.submit(spec));
    const sessionId = Number(job.nativeId);

    const deadline = Date.now() + 10_000;
    while ((await processesInSession(sessionId)).filter(({ command }) => command === 'sleep').length < 2) {
      assert.ok(Date.now() < deadline, 'the job never started its two sleeps');
      await sleep(20);
    }

    await scheduler.cancel(job);
    assert.deepEqual(await processesInSession(sessionId), [], 'processes of the job survived cancel');
    const observation = await pollOne(scheduler, job);
    assert.equal(observation.state, 'canceled');
    assert.equal(observation.nativeState, 'killed');

    // Canceling a job that already ended succeeds.
    await scheduler.cancel(job);
  });

  test('submitting the same spec twice runs the program once and adopts the first job (find returns it)', async () => {
    const scheduler = new LocalScheduler({ shell: new LocalShell() });
    const counter = path.join(await makeTemporaryDirectory(), 'counter.txt');
    const spec = await makeSpec(['bash', '-c', 'echo ran >> "$1"; sleep 0.5', 'job', counter]);

    const first = await scheduler.submit(spec);
    const second = await scheduler.submit(spec);
    assert.equal(first.adopted, false);
    assert.equal(second.adopted, true);
    assert.equal(second.nativeId, first.nativeId);
    assert.deepEqual(second.details, first.details);
    assert.deepEqual(
      await new LocalScheduler({ shell: new LocalShell() }).find({
        workdir: spec.workdir,
        submissionKeys: ['never-submitted', spec.submissionKey],
      }),
      { ...first, adopted: true, submissionKey: spec.submissionKey },
    );
    assert.equal(await scheduler.find({ workdir: spec.workdir, submissionKeys: ['never-submitted'] }), null);

    const ended = await waitForTerminal(scheduler, track(spec, first));
    assert.equal(ended.state, 'completed');
    await sleep(300);
    assert.equal(await countLines(counter), 1);
  });

  test('two concurrent submits of the same spec run the program once', async () => {
    const scheduler = new LocalScheduler({ shell: new LocalShell() });
    const counter = path.join(await makeTemporaryDirectory(), 'counter.txt');
    const spec = await makeSpec(['bash', '-c', 'echo ran >> "$1"; sleep 0.5', 'job', counter]);

    const results = await Promise.all([
      scheduler.submit(spec),
      new LocalScheduler({ shell: new LocalShell() }).submit(spec),
    ]);
    assert.equal(results.filter((result) => result.adopted).length, 1, 'exactly one submit adopts');
    assert.equal(results[0].nativeId, results[1].nativeId);

    const ended = await waitForTerminal(scheduler, track(spec, results[0]));
    assert.equal(ended.state, 'completed');
    await sleep(300);
    assert.equal(await countLines(counter), 1);
  });

  test('an argv element and an environment value full of shell syntax reach the program unchanged', async () => {
    const scheduler = new LocalScheduler({ shell: new LocalShell() });
    const markers = await makeTemporaryDirectory();
    const marker = (name: string) => path.join(markers, name);
    const value =
      `$(touch ${marker('dollar')}) ; touch ${marker('semicolon')} ; ` +
      '`touch ' +
      marker('backquote') +
      '`' +
      ` 'q" \\ \n * && touch ${marker('and')} | > ${marker('redirect')} # ~ {a,b} !! \${HOME} '\\''`;
    const program =
      "require('fs').writeFileSync('argv.json', JSON.stringify({ argv: process.argv.slice(1), environment: process.env.DROVER_TEST_VALUE }))";
    const spec = await makeSpec([process.execPath, '-e', program, '--', value, ''], {
      environment: { DROVER_TEST_VALUE: value },
    });
    const ended = await waitForTerminal(scheduler, track(spec, await scheduler.submit(spec)));
    assert.equal(ended.state, 'completed', await fs.readFile(path.join(spec.workdir, 'stderr.txt'), 'utf8'));

    const received = JSON.parse(await fs.readFile(path.join(spec.workdir, 'argv.json'), 'utf8'));
    assert.deepEqual(received, { argv: [value, ''], environment: value });
    assert.deepEqual(await fs.readdir(markers), [], 'an injected command ran');
  });

  test('a new scheduler re-attaches to a running job; a dead or reused pid is lost', async () => {
    const spec = await makeSpec(['sleep', '30']);
    const job = track(spec, await new LocalScheduler({ shell: new LocalShell() }).submit(spec));

    const restarted = new LocalScheduler({ shell: new LocalShell() });
    const observation = await pollOne(restarted, job);
    assert.equal(observation.state, 'running');

    // Same pid, other start ticks: a different process that reuses the number.
    const reused: TrackedJob = { ...job, details: { ...job.details, startTicks: Number(job.details.startTicks) + 1 } };
    const reusedObservation = await pollOne(restarted, reused);
    assert.equal(reusedObservation.state, 'lost');
    assert.equal(reusedObservation.nativeState, 'vanished');

    // A pid whose process has exited, with no exit code recorded.
    const finished = spawn('true');
    await new Promise((resolve) => finished.on('exit', resolve));
    const deadSpec = await makeSpec(['true']);
    await fs.mkdir(path.join(deadSpec.workdir, '.drover-job', deadSpec.submissionKey), { recursive: true });
    await fs.writeFile(path.join(deadSpec.workdir, '.drover-job', deadSpec.submissionKey, 'pid'), `${finished.pid}\n`);
    const dead: TrackedJob = {
      nativeId: String(finished.pid),
      workdir: deadSpec.workdir,
      submissionKey: deadSpec.submissionKey,
      details: { pid: finished.pid, startTicks: 1 },
    };
    const deadObservation = await pollOne(restarted, dead);
    assert.equal(deadObservation.state, 'lost');

    // Both in one poll: one pass, each reported under its own native id.
    const both = await restarted.poll([job, dead]);
    assert.equal(both.get(job.nativeId)?.state, 'running');
    assert.equal(both.get(dead.nativeId)?.state, 'lost');

    // Cancel must not touch the process that holds a reused pid. Under load the wrapper may
    // not have exec'd sleep yet: wait for it, or the check below could not tell.
    const deadline = Date.now() + 10_000;
    while (!(await processesInSession(Number(job.nativeId))).some(({ command }) => command === 'sleep')) {
      assert.ok(Date.now() < deadline, 'the job never started its sleep');
      await sleep(20);
    }
    await restarted.cancel(reused);
    const survivors = await processesInSession(Number(job.nativeId));
    assert.ok(
      survivors.some(({ command }) => command === 'sleep'),
      'cancel killed a process it did not own',
    );

    await restarted.cancel(job);
    assert.equal((await pollOne(restarted, job)).state, 'canceled');
    assert.deepEqual(await processesInSession(Number(job.nativeId)), []);
  });
});
