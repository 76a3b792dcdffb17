/**
 * Resume and automatic resubmit (issue 13), through the HTTP API and the CLI with the real
 * controller and worker on `local`: a failed experiment resumed from its failed task keeps
 * what completed, a failed job runs again as a new job, the events continue without a gap;
 * a job that runs past its walltime is resubmitted with more, within the application's cap
 * and the queue's limit, and says so when it is not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsOf, runCli, startTestDrover, waitFor, waitForState, type TestDrover } from './harness.ts';

let drover: TestDrover;
let workDir: string;
let alice: string;
let bob: string;

/** Fails (exit 3) the first time it runs in a working directory, succeeds after. */
const failsOnceApplication = {
  name: 'fails-once',
  title: 'Fails the first time (test fixture)',
  inputs: [{ name: 'data', type: 'file', required: true }],
  outputs: ['result.txt'],
  deployments: {
    '*': {
      command: [
        'sh',
        '-c',
        'if [ -e ran-before ]; then wc -c < "$1" > result.txt; else : > ran-before; exit 3; fi',
        'fails-once',
        '{{data}}',
      ],
    },
  },
};

/** Sleeps `seconds`, resubmitted twice at most with twice the walltime when it runs past it. */
const slowApplication = {
  name: 'slow',
  title: 'Sleeps (test fixture)',
  inputs: [{ name: 'seconds', type: 'integer', default: 5 }],
  outputs: [],
  resubmit: { attempts: 2, walltimeFactor: 2 },
  deployments: { '*': { command: ['sleep', '{{seconds}}'], walltimeMinutes: 0.05 } },
};

function localResource(name: string, scratchDir: string, maxWalltimeMinutes = 60) {
  return { name, kind: 'local', config: { scratchDir, queues: [{ name: 'normal', maxWalltimeMinutes, maxCores: 2 }] } };
}

before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-resume-'));
  for (const body of [
    failsOnceApplication,
    slowApplication,
    localResource('tight', join(drover.dataDir, 'tight-scratch'), 0.08),
    {
      name: 'one-each',
      kind: 'local',
      config: {
        scratchDir: join(drover.dataDir, 'one-each-scratch'),
        queues: [{ name: 'normal', maxWalltimeMinutes: 60, maxCores: 2, maxJobsPerUser: 1 }],
      },
    },
  ]) {
    const path = 'kind' in body ? '/api/v1/resources' : '/api/v1/applications';
    const response = await drover.call('POST', path, body);
    assert.equal(response.status, 201, JSON.stringify(response.body));
  }
  for (const name of ['alice', 'bob']) {
    const user = await drover.call('POST', '/api/v1/users', { name });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    if (name === 'alice') alice = user.body.token;
    else bob = user.body.token;
  }
});
after(async () => {
  await drover?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function upload(token: string, text: string): Promise<string> {
  const response = await fetch(`${drover.url}/api/v1/uploads?filename=data.txt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: text,
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { id: string }).id;
}

/** Creates an experiment as alice; returns its id. */
async function createAsAlice(body: Record<string, unknown>): Promise<string> {
  const created = await drover.call('POST', '/api/v1/experiments', body, alice);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}

/** Submits `slow` as alice: sleeps `seconds` under a walltime of 0.05 min (3 s). */
function submitSlow(name: string, resource: string, seconds: number): Promise<string> {
  return createAsAlice({ application: 'slow', resource, name, inputs: { seconds } });
}

/** Creates a `fails-once` experiment as alice on `resource`, with `text` as its file, and waits until it failed. */
async function failedOnce(resource: string, name: string, text: string) {
  const id = await createAsAlice({
    application: 'fails-once',
    resource,
    name,
    inputs: { data: await upload(alice, text) },
  });
  return waitForState(drover, id, ['failed', 'completed'], 30_000, alice);
}

/** Asserts that events are numbered 1, 2, ... without a gap. */
function assertGapless(seqs: number[]) {
  assert.deepEqual(
    seqs,
    seqs.map((_, index) => index + 1),
  );
}

describe('resume', () => {
  it('runs a failed job again as a new job, keeping the staged input, and continues the events', async () => {
    const failed = await failedOnce('local', 'first try', 'twelve bytes');
    const id = failed.id;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.failure.code, 'job-failed');
    const firstJob = failed.job;
    const stagedAt = failed.tasks.find((task: { kind: string }) => task.kind === 'stage-in').finishedAt;

    // Another user cannot see it, so cannot resume it; a completed one cannot be resumed.
    const stranger = await drover.call('POST', `/api/v1/experiments/${id}/resume`, undefined, bob);
    assert.equal(stranger.status, 404);

    const cli = await runCli(['resume', id, '--watch'], { url: drover.url, workDir, token: alice });
    assert.equal(cli.code, 0, cli.stderr + cli.stdout);
    assert.match(
      cli.stdout,
      new RegExp(`^${id}  (queued|executing)  run 2: resumed by alice from the submit task \\(its job failed\\)\\n`),
    );
    assert.match(
      cli.stdout,
      /experiment resumed +failed -> queued +run 2: resumed by alice from the submit task \(its job failed\)/,
    );

    const done = await drover.call('GET', `/api/v1/experiments/${id}`, undefined, alice);
    assert.equal(done.body.state, 'completed');
    assert.equal(done.body.run, 2);
    assert.equal(done.body.failure, null);
    const tasks = Object.fromEntries(done.body.tasks.map((task: any) => [task.kind, task]));
    assert.equal(tasks['stage-in'].finishedAt, stagedAt, 'the input was not staged again');
    assert.equal(tasks['stage-in'].attempt, 1);
    assert.equal(tasks.submit.attempt, 2, 'the submit ran once more');
    assert.notEqual(done.body.job.id, firstJob.id, 'a new job, not the failed one adopted');
    assert.notEqual(done.body.job.submissionKey, firstJob.submissionKey);
    assert.equal(done.body.job.state, 'completed');
    const output = await drover.call('GET', `/api/v1/experiments/${id}/outputs/result.txt`, undefined, alice);
    assert.equal(String(output.body).trim(), '12');

    const { items, seqs, moves } = await eventsOf(drover, id, alice);
    assertGapless(seqs);
    const resumed = items.find((event) => event.label === 'resumed');
    assert.deepEqual(
      { ...resumed.data, previousFailure: resumed.data.previousFailure.code },
      { run: 2, fromTask: 'submit', fromTaskId: tasks.submit.id, previousFailure: 'job-failed' },
    );
    const afterResume = moves.slice(items.indexOf(resumed));
    assert.deepEqual(
      afterResume.filter((move) => move.startsWith('experiment')),
      ['experiment failed->queued', 'experiment queued->executing', 'experiment executing->completed'],
    );
    assert.ok(!afterResume.some((move) => move.includes('stage-in')), 'stage-in did not run again');
    assert.ok(afterResume.includes('task submit completed->ready'), afterResume.join('\n'));
    assert.equal(items.filter((event) => event.entity === 'job' && event.fromState === 'submitting').length, 2);

    const again = await drover.call('POST', `/api/v1/experiments/${id}/resume`, undefined, alice);
    assert.equal(again.status, 409);
    assert.equal(again.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(
      again.body.detail,
      'experiment is completed; only a failed experiment can be resumed (clone it to run it again)',
    );
    const refused = await runCli(['resume', id], { url: drover.url, workDir, token: alice });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /only a failed experiment can be resumed \(clone it to run it again\)/);
  });

  it("waits in line when its queue's limit is reached, as a launch does", async () => {
    const flaky = { body: await failedOnce('one-each', 'flaky in line', 'four') };
    assert.equal(flaky.body.state, 'failed');
    const occupier = await drover.call(
      'POST',
      '/api/v1/experiments',
      { application: 'slow', resource: 'one-each', inputs: { seconds: 600 }, walltimeMinutes: 10 },
      alice,
    );
    assert.equal(occupier.status, 201, JSON.stringify(occupier.body));
    await waitForState(drover, occupier.body.id, ['executing'], 30_000, alice);

    const resumed = await drover.call('POST', `/api/v1/experiments/${flaky.body.id}/resume`, undefined, alice);
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    const waiting = await waitFor('the resumed run to wait in line', async () => {
      const { body } = await drover.call('GET', `/api/v1/experiments/${flaky.body.id}`, undefined, alice);
      return body.waiting ? body : null;
    });
    assert.equal(waiting.state, 'queued');
    assert.equal(waiting.waiting.place, 1);
    assert.deepEqual(
      waiting.tasks.map((task: { kind: string; state: string }) => `${task.kind} ${task.state}`),
      ['env-setup completed', 'stage-in completed', 'submit pending', 'monitor pending', 'stage-out pending'],
    );

    const canceled = await drover.call('POST', `/api/v1/experiments/${occupier.body.id}/cancel`, undefined, alice);
    assert.equal(canceled.status, 202);
    const done = await waitForState(drover, flaky.body.id, ['completed', 'failed'], 30_000, alice);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const { items, seqs } = await eventsOf(drover, flaky.body.id, alice);
    assertGapless(seqs);
    const afterResume = items.slice(items.findIndex((event) => event.label === 'resumed'));
    assert.ok(
      afterResume.some(
        (event) => event.label === 'submit' && event.toState === 'ready' && event.message === 'admitted',
      ),
      'the submit was released by the admission',
    );
  });

  it('resumes from the failed task once an admin fixed its cause, and may fail and be resumed again', async () => {
    const broken = await drover.call('POST', '/api/v1/resources', localResource('broken', '/dev/null/scratch'));
    assert.equal(broken.status, 201, JSON.stringify(broken.body));
    const created = await drover.call(
      'POST',
      '/api/v1/experiments',
      { application: 'slow', resource: 'broken', name: 'bad scratch', inputs: { seconds: 1 }, walltimeMinutes: 1 },
      alice,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    const failed = await waitForState(drover, id, ['failed'], 30_000, alice);
    assert.match(failed.failure.message, /scratch/);

    // Resumed unchanged, it fails again, from the same task, after a fresh set of attempts.
    const second = await drover.call('POST', `/api/v1/experiments/${id}/resume`, undefined, alice);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.run, 2);
    assert.ok(['queued', 'executing'].includes(second.body.state), second.body.state);
    const failedAgain = await waitForState(drover, id, ['failed'], 30_000, alice);
    assert.equal(failedAgain.tasks.find((task: any) => task.kind === 'env-setup').attempt, 6);

    const fixed = await drover.call(
      'POST',
      '/api/v1/resources',
      localResource('broken', join(drover.dataDir, 'fixed-scratch')),
    );
    assert.equal(fixed.status, 201, JSON.stringify(fixed.body));
    // An admin of the gateway may resume a user's experiment.
    const third = await drover.call('POST', `/api/v1/experiments/${id}/resume`);
    assert.equal(third.status, 200, JSON.stringify(third.body));
    const done = await waitForState(drover, id, ['completed', 'failed'], 30_000, alice);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.equal(done.run, 3);

    const { items, seqs } = await eventsOf(drover, id, alice);
    assertGapless(seqs);
    assert.deepEqual(
      items.filter((event) => event.label === 'resumed').map((event) => [event.data.run, event.data.fromTask]),
      [
        [2, 'env-setup'],
        [3, 'env-setup'],
      ],
    );
    assert.match(
      items.find((event) => event.data?.run === 3).message,
      /^run 3: resumed by admin from the failed env-setup task$/,
    );
  });
});

describe('automatic resubmit', () => {
  it('refuses a resubmit setting out of bounds, naming each field', async () => {
    const response = await drover.call('POST', '/api/v1/applications', {
      ...slowApplication,
      name: 'greedy',
      resubmit: { attempts: 0, walltimeFactor: 1, memoryFactor: 100 },
      deployments: { '*': { command: ['true'], resubmit: { attempts: 11 } } },
    });
    assert.equal(response.status, 400);
    assert.deepEqual(response.body.errors.map((error: { field: string }) => error.field).sort(), [
      'deployments.*.resubmit.attempts',
      'resubmit.attempts',
      'resubmit.memoryFactor',
      'resubmit.walltimeFactor',
    ]);
  });

  it('resubmits a job that ran past its walltime with twice the walltime, and it completes', async () => {
    const id = await submitSlow('needs 4 s', 'local', 4);
    const done = await waitForState(drover, id, ['completed', 'failed'], 60_000, alice);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.equal(done.resubmits, 1);
    assert.equal(done.settings.walltimeMinutes, 0.1);
    assert.equal(done.run, 1);
    const { items, seqs, moves } = await eventsOf(drover, id, alice);
    assertGapless(seqs);
    const resubmitted = items.filter((event) => event.label === 'resubmitted');
    assert.equal(resubmitted.length, 1);
    assert.equal(
      resubmitted[0].message,
      'the job ran past its walltime: resubmitted with walltime 0.05 min -> 0.1 min (automatic resubmit 1 of 2)',
    );
    assert.deepEqual(resubmitted[0].data, {
      cause: 'walltime',
      attempt: 1,
      attempts: 2,
      from: { walltimeMinutes: 0.05, memoryMb: null },
      to: { walltimeMinutes: 0.1, memoryMb: null },
    });
    const jobMoves = items.filter((event) => event.entity === 'job').map((event) => event.toState);
    assert.deepEqual(
      jobMoves.filter((state) => state !== 'running'),
      ['queued', 'timed-out', 'queued', 'completed'],
    );
    // stage-out ran once, for the job that completed.
    assert.equal(moves.filter((move) => move === 'task stage-out running->completed').length, 1);
  });

  it('fails, saying why, at the application cap and at the queue limit', async () => {
    const capped = await submitSlow('never enough', 'local', 60);
    const limited = await submitSlow('queue too short', 'tight', 60);

    const atQueueLimit = await waitForState(drover, limited, ['completed', 'failed'], 60_000, alice);
    assert.equal(atQueueLimit.state, 'failed');
    assert.equal(atQueueLimit.resubmits, 1);
    assert.equal(atQueueLimit.settings.walltimeMinutes, 0.08, 'twice 0.05, cut to the queue maximum');
    assert.deepEqual(atQueueLimit.failure, {
      code: 'job-timed-out',
      message:
        'the job ran past its walltime and was stopped; not resubmitted: its walltime of 0.08 min is the most queue normal allows',
    });

    const atCap = await waitForState(drover, capped, ['completed', 'failed'], 90_000, alice);
    assert.equal(atCap.state, 'failed');
    assert.equal(atCap.resubmits, 2);
    assert.equal(atCap.settings.walltimeMinutes, 0.2);
    assert.equal(
      atCap.failure.message,
      "the job ran past its walltime and was stopped; not resubmitted: 2 of 2 automatic resubmits used (the application's cap)",
    );
    const shown = await runCli(['show', capped], { url: drover.url, workDir, token: alice });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /2 of 2 automatic resubmits used/);
    const { items, seqs } = await eventsOf(drover, capped, alice);
    assertGapless(seqs);
    assert.deepEqual(
      items.filter((event) => event.label === 'resubmitted').map((event) => event.message),
      [
        'the job ran past its walltime: resubmitted with walltime 0.05 min -> 0.1 min (automatic resubmit 1 of 2)',
        'the job ran past its walltime: resubmitted with walltime 0.1 min -> 0.2 min (automatic resubmit 2 of 2)',
      ],
    );
  });
});
