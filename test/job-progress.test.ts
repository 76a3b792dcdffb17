/**
 * Progress from inside running jobs, through the HTTP API on the local resource: an
 * application's own progress lines read with its catalogue template (heat-simulation),
 * Drover's `::drover` lines (pi-monte-carlo), the live `event: progress` stream, the list's
 * progress, and templates checked when an admin registers an application.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, serverSentEvents, startTestDrover, waitFor, waitForState, type TestDrover } from './harness.ts';

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover();
});
after(async () => {
  await drover?.stop();
});

/** Reads `event: progress` messages of an experiment's event stream until one satisfies `until`. */
async function progressEvents(id: string, until: (data: any) => boolean): Promise<any[]> {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(), 30_000);
  const seen: any[] = [];
  try {
    const response = await fetch(`${drover.url}/api/v1/experiments/${id}/events`, {
      headers: { authorization: `Bearer ${adminToken}`, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    for await (const message of serverSentEvents(response.body)) {
      if (message.event !== 'progress') continue;
      assert.equal(message.id, undefined, 'progress carries no event id: Last-Event-ID counts events alone');
      const data = JSON.parse(message.data!);
      seen.push(data);
      if (until(data)) return seen;
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(timeout);
    controller.abort();
  }
  return seen;
}

describe('progress from inside the job', () => {
  it("reads heat-simulation's own step lines while it runs, live and in the list, and its last line at the end", async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      name: 'watched heat',
      application: 'heat-simulation',
      resource: 'local',
      inputs: { duration_seconds: 8, steps: 40 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;

    const running = await waitFor('progress part way through the run', async () => {
      const { body } = await drover.call('GET', `/api/v1/experiments/${id}`);
      const progress = body.job?.progress;
      return body.job?.state === 'running' && progress && progress.current > 0 && progress.current < 40 ? body : null;
    });
    const progress = running.job.progress;
    assert.equal(progress.total, 40);
    assert.equal(progress.fraction, progress.current / 40);
    for (const name of ['t', 'max', 'mean']) assert.equal(typeof progress.values[name], 'number', name);
    assert.ok(Date.parse(progress.updatedAt) >= Date.parse(running.job.startedAt), 'seen after the job started');

    const streamed = await progressEvents(id, (data) => data.progress.current > progress.current);
    const last = streamed.at(-1);
    assert.equal(last.jobId, running.job.id);
    assert.ok(last.progress.current > progress.current, `the stream moves on: ${JSON.stringify(streamed)}`);

    const listed = await drover.call('GET', '/api/v1/experiments?application=heat-simulation');
    const row = listed.body.items.find((item: any) => item.id === id);
    assert.equal(row.progress.total, 40);
    assert.equal(row.progress.walltimeMinutes, 10);
    assert.ok(row.progress.jobStartedAt, 'the list has what an estimated end needs');
    assert.equal(row.progress.values, undefined, 'named values stay on the experiment page');

    const done = await waitForState(drover, id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    assert.equal(done.job.progress.current, 40);
    assert.equal(done.job.progress.fraction, 1);
  });

  it("reads Drover's own ::drover lines from any program (pi-monte-carlo)", async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      name: 'pi',
      application: 'pi-monte-carlo',
      resource: 'local',
      inputs: { samples: 2_000_000 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    const { progress } = done.job;
    assert.deepEqual([progress.current, progress.total, progress.fraction], [2_000_000, 2_000_000, 1]);
    assert.equal(progress.message, '100% of the samples drawn');
    assert.ok(Math.abs(progress.values.estimate - Math.PI) < 0.01, JSON.stringify(progress.values));
    assert.equal(typeof progress.values.elapsed_s, 'number');
  });

  it('an experiment whose program prints no progress has none', async () => {
    const upload = await drover.call('POST', '/api/v1/uploads?filename=words.txt', Buffer.from('a b c\n'));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const created = await drover.call('POST', '/api/v1/experiments', {
      name: 'words',
      application: 'word-count',
      resource: 'local',
      inputs: { text: upload.body.id },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    assert.equal(done.job.progress, null);
    assert.equal(done.progress, null);
  });

  it('a job just submitted is polled soon, not a whole interval later, so it does not show queued while it runs', async () => {
    // A resource polled every 30 s: a new job is looked at after a fifth of that.
    const local = (await drover.call('GET', '/api/v1/resources/local')).body;
    const slow = await drover.call('POST', '/api/v1/resources', {
      ...local,
      name: 'local-slow',
      config: { ...local.config, pollIntervalSeconds: 30 },
    });
    assert.equal(slow.status, 201, JSON.stringify(slow.body));
    const start = async (name: string) => {
      const created = await drover.call('POST', '/api/v1/experiments', {
        name,
        application: 'heat-simulation',
        resource: 'local-slow',
        inputs: { duration_seconds: 120, steps: 120 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    const runningJob = (id: string) => async () => {
      const { body } = await drover.call('GET', `/api/v1/experiments/${id}`);
      return body.job?.state === 'running' ? body.job : null;
    };
    const first = await start('sets the poll schedule');
    await waitFor('the first job to run', runningJob(first));
    // The resource was just polled: its next regular poll is 30 s away.
    const second = await start('submitted between polls');
    await waitFor('the second job to be seen running', runningJob(second), 20_000);
    for (const id of [first, second]) await drover.call('POST', `/api/v1/experiments/${id}/cancel`);
    for (const id of [first, second]) await waitForState(drover, id, ['canceled']);
  });

  it('refuses an application whose progress template cannot be used, naming the field', async () => {
    const application = (pattern: string) => ({
      name: 'printer',
      title: 'Printer',
      outputs: [],
      progress: { pattern },
      deployments: { '*': { command: ['true'] } },
    });
    for (const [pattern, why] of [
      ['{current}{total}', /separated/],
      ['no placeholders', /at least one placeholder/],
      ['{message} then {current}/{total}', /must come last/],
    ] as const) {
      const refused = await drover.call('POST', '/api/v1/applications', application(pattern));
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
      const error = refused.body.errors.find((item: any) => item.field === 'progress.pattern');
      assert.match(error?.message ?? '', why, JSON.stringify(refused.body));
    }
    const accepted = await drover.call('POST', '/api/v1/applications', application('iteration {current} of {total}'));
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    assert.deepEqual(accepted.body.progress, { pattern: 'iteration {current} of {total}' });
  });
});
