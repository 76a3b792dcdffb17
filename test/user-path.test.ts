/**
 * The whole user path through the real HTTP API on a real socket: catalogue, submit,
 * live events (SSE, resumable), list and filter, cancel (the process tree really dies),
 * clone, draft + script preview + launch, outputs and logs, and per-user visibility.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  adminToken,
  eventsOf,
  processesInSession,
  serverSentEvents,
  startTestDrover,
  waitFor,
  waitForState,
  type TestDrover,
} from './harness.ts';

let drover: TestDrover;
before(async () => {
  drover = await startTestDrover();
});
after(async () => {
  await drover?.stop();
});

/** Reads an SSE stream until `until` returns true; returns the events seen. */
async function readStream(
  path: string,
  until: (event: any) => boolean,
  lastEventId?: string,
  options: { token?: string; onOpen?: () => Promise<void> } = {},
): Promise<Array<{ id: string; event: any }>> {
  const controller = new AbortController();
  const response = await fetch(drover.url + path, {
    headers: {
      authorization: `Bearer ${options.token ?? adminToken}`,
      accept: 'text/event-stream',
      ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
    },
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const opened = options.onOpen?.();
  const seen: Array<{ id: string; event: any }> = [];
  const timeout = setTimeout(() => controller.abort(), 30_000);
  try {
    for await (const message of serverSentEvents(response.body)) {
      // Progress reports ride the same stream without an id; these tests read events.
      if (!message.data || message.event === 'progress') continue;
      const event = JSON.parse(message.data);
      seen.push({ id: message.id ?? '', event });
      if (until(event)) {
        controller.abort();
        return seen;
      }
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(timeout);
    await opened;
  }
  return seen;
}

const finished = (event: any) =>
  event.entity === 'experiment' && ['completed', 'failed', 'canceled'].includes(event.toState);

describe('a scientist using the HTTP API', () => {
  let piId: string;

  it('lists the demo applications and the local resource', async () => {
    const apps = await drover.call('GET', '/api/v1/applications');
    assert.equal(apps.status, 200);
    const names = apps.body.items.map((app: any) => app.name);
    for (const name of ['pi-monte-carlo', 'word-count', 'heat-simulation'])
      assert.ok(names.includes(name), `${name} in ${names}`);
    const resources = await drover.call('GET', '/api/v1/resources');
    assert.deepEqual(
      resources.body.items.map((resource: any) => resource.name),
      ['local'],
    );
    const openapi = await drover.call('GET', '/api/v1/openapi.json', undefined, null);
    assert.equal(openapi.body.openapi, '3.1.0');
    assert.ok(openapi.body.paths['/api/v1/experiments']);
  });

  it('submits pi-monte-carlo and follows it live through its DAG to completion', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      name: 'pi first try',
      inputs: { samples: 300000, seed: 7 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('location'), `/api/v1/experiments/${created.body.id}`);
    piId = created.body.id;

    const stream = await readStream(`/api/v1/experiments/${piId}/events`, finished);
    const ids = stream.map((item) => Number(item.id));
    assert.deepEqual(
      ids,
      ids.map((_, index) => index + 1),
      'event ids are 1..n without gaps',
    );
    assert.equal(stream.at(-1)!.event.toState, 'completed');

    const moves = stream.map(({ event }) => `${event.entity}:${event.label ?? ''}:${event.toState}`);
    const order = ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out'].map((kind) =>
      moves.indexOf(`task:${kind}:completed`),
    );
    assert.ok(
      order.every((index) => index > 0),
      `every task completed: ${moves.join(' ')}`,
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
      'tasks complete in DAG order',
    );
    assert.ok(
      moves.some((move) => move.startsWith('job:') && move.endsWith(':completed')),
      'the job completed',
    );

    const experiment = await drover.call('GET', `/api/v1/experiments/${piId}`);
    assert.equal(experiment.body.state, 'completed');
    assert.equal(experiment.body.job.exitCode, 0);
    assert.equal(experiment.body.job.state, 'completed');
    assert.match(experiment.body.job.nativeId, /^\d+$/);

    const outputs = await drover.call('GET', `/api/v1/experiments/${piId}/outputs`);
    assert.deepEqual(outputs.body.items.map((file: any) => file.path).sort(), [
      'result.json',
      'stderr.txt',
      'stdout.txt',
    ]);
    const result = await drover.call('GET', `/api/v1/experiments/${piId}/outputs/result.json`);
    assert.equal(result.status, 200);
    assert.match(result.headers.get('content-disposition') ?? '', /attachment; filename="result.json"/);
    // Served as application/json: the harness has parsed it.
    const estimate = result.body.estimate;
    assert.ok(Math.abs(estimate - Math.PI) < 0.05, `estimate ${estimate} is close to pi`);
    const stdout = await drover.call('GET', `/api/v1/experiments/${piId}/logs/stdout`);
    assert.equal(stdout.status, 200);
    assert.ok(stdout.body.length > 0, 'stdout has progress lines');
  });

  it('resumes the event stream after Last-Event-ID with nothing missed or repeated', async () => {
    const all = await eventsOf(drover, piId);
    const resumed = await readStream(
      `/api/v1/experiments/${piId}/events`,
      (event) => event.seq === all.seqs.at(-1),
      '5',
    );
    assert.deepEqual(
      resumed.map((item) => item.event.seq),
      all.seqs.slice(5),
    );
  });

  it('runs word-count on an uploaded file', async () => {
    const text = 'the quick brown fox\njumps over the lazy dog\nThe end\n';
    const upload = await drover.call('POST', '/api/v1/uploads?filename=story.txt', Buffer.from(text));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'word-count',
      resource: 'local',
      inputs: { text: upload.body.id, top: 2 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const done = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const counts = (await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs/counts.json`)).body;
    assert.equal(counts.lines, 3);
    assert.equal(counts.words, 11);
    assert.equal(counts.topWords[0].word, 'the');
    assert.equal(counts.topWords[0].count, 3);
  });

  it('shows a running simulation as running, then completed with its exact label', async () => {
    const label = `it's "a" $(test) run`;
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      inputs: { duration_seconds: 2, steps: 10, label },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await waitFor(
      'the job to run',
      async () => (await drover.call('GET', `/api/v1/experiments/${created.body.id}`)).body.job?.state === 'running',
    );
    const live = await waitFor('live stdout', async () => {
      const response = await drover.call('GET', `/api/v1/experiments/${created.body.id}/logs/stdout`);
      return response.status === 200 && /step/.test(response.body) ? response.body : null;
    });
    assert.match(live, /step \d+\/10/);
    const done = await waitForState(drover, created.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    const result = (await drover.call('GET', `/api/v1/experiments/${created.body.id}/outputs/result.json`)).body;
    assert.equal(result.label, label);
    const { moves } = await eventsOf(drover, created.body.id);
    assert.ok(
      moves.some((move) => /^job \d+ queued->running$/.test(move)),
      moves.join('\n'),
    );
  });

  it('cancels a running experiment: the job process tree is killed and every state ends canceled', async () => {
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'heat-simulation',
      resource: 'local',
      inputs: { duration_seconds: 600, steps: 600 },
    });
    assert.equal(created.status, 201);
    const running = await waitFor('the job to run', async () => {
      const experiment = (await drover.call('GET', `/api/v1/experiments/${created.body.id}`)).body;
      return experiment.job?.state === 'running' ? experiment : null;
    });
    const pid = running.job.details.pid as number;
    assert.ok((await processesInSession(pid)).length >= 2, 'the wrapper and the simulation are running');

    const canceled = await drover.call('POST', `/api/v1/experiments/${created.body.id}/cancel`);
    assert.equal(canceled.status, 202);
    const done = await waitForState(drover, created.body.id, ['canceled', 'completed', 'failed']);
    assert.equal(done.state, 'canceled');
    assert.equal(done.job.state, 'canceled');
    assert.deepEqual(await processesInSession(pid), [], 'no process of the job is left');
    assert.ok(
      done.tasks.every((task: any) => ['completed', 'canceled'].includes(task.state)),
      JSON.stringify(done.tasks),
    );
    const { moves } = await eventsOf(drover, created.body.id);
    assert.ok(moves.includes('experiment executing->canceling'));
    assert.equal(moves.at(-1), 'experiment canceling->canceled');
    const again = await drover.call('POST', `/api/v1/experiments/${created.body.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  it('clones a finished experiment with a changed input; the clone records its parent and the difference', async () => {
    const clone = await drover.call('POST', `/api/v1/experiments/${piId}/clone`, { inputs: { samples: 100000 } });
    assert.equal(clone.status, 201, JSON.stringify(clone.body));
    assert.equal(clone.body.parentId, piId);
    assert.deepEqual(clone.body.changedInputs, ['samples']);
    assert.deepEqual(clone.body.inputs, { samples: 100000, seed: 7 });
    const done = await waitForState(drover, clone.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    const result = (await drover.call('GET', `/api/v1/experiments/${clone.body.id}/outputs/result.json`)).body;
    assert.equal(result.samples, 100000);
    const children = await drover.call('GET', `/api/v1/experiments?parent=${piId}`);
    assert.deepEqual(
      children.body.items.map((item: any) => item.id),
      [clone.body.id],
    );
  });

  it('previews the job script of a draft, then launches it', async () => {
    const draft = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      inputs: { samples: 1000 },
      walltimeMinutes: 3,
      launch: false,
    });
    assert.equal(draft.status, 201);
    assert.equal(draft.body.state, 'created');
    assert.deepEqual(draft.body.tasks, []);
    const script = await drover.call('GET', `/api/v1/experiments/${draft.body.id}/script`);
    assert.equal(script.status, 200);
    assert.match(script.body, /^#!\/bin\/bash/);
    assert.match(script.body, /'--samples' '1000'/);
    assert.match(script.body, /timeout --signal=TERM --kill-after=5 180 /);
    const launched = await drover.call('POST', `/api/v1/experiments/${draft.body.id}/launch`);
    assert.equal(launched.status, 200);
    assert.equal((await waitForState(drover, draft.body.id, ['completed', 'failed'])).state, 'completed');
    const relaunch = await drover.call('POST', `/api/v1/experiments/${draft.body.id}/launch`);
    assert.equal(relaunch.status, 409);
  });

  it('deletes drafts only', async () => {
    const draft = await drover.call('POST', '/api/v1/experiments', {
      application: 'pi-monte-carlo',
      resource: 'local',
      launch: false,
    });
    assert.equal((await drover.call('DELETE', `/api/v1/experiments/${draft.body.id}`)).status, 204);
    assert.equal((await drover.call('GET', `/api/v1/experiments/${draft.body.id}`)).status, 404);
    assert.equal((await drover.call('DELETE', `/api/v1/experiments/${piId}`)).status, 409);
  });

  it('lists and filters experiments by state, application, text and time, paging with a cursor', async () => {
    const completedPi = await drover.call('GET', '/api/v1/experiments?state=completed&application=pi-monte-carlo');
    assert.ok(completedPi.body.items.length >= 3);
    assert.ok(
      completedPi.body.items.every((item: any) => item.state === 'completed' && item.application === 'pi-monte-carlo'),
    );
    const canceled = await drover.call('GET', '/api/v1/experiments?state=canceled');
    assert.deepEqual(
      canceled.body.items.map((item: any) => item.application),
      ['heat-simulation'],
    );
    const byText = await drover.call('GET', '/api/v1/experiments?q=first%20try');
    assert.deepEqual(
      byText.body.items.map((item: any) => item.name),
      ['pi first try (clone)', 'pi first try'],
    );
    const byTextAndState = await drover.call('GET', `/api/v1/experiments?q=first%20try&parent=${piId}`);
    assert.equal(byTextAndState.body.items.length, 1);
    const future = await drover.call('GET', `/api/v1/experiments?since=${new Date(Date.now() + 60_000).toISOString()}`);
    assert.deepEqual(future.body.items, []);
    const everything = await drover.call('GET', '/api/v1/experiments?limit=200');
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await drover.call('GET', `/api/v1/experiments?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.body.items.length <= 2);
      paged.push(...page.body.items.map((item: any) => item.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.deepEqual(
      paged,
      everything.body.items.map((item: any) => item.id),
      'pages cover the list once, newest first',
    );
    const times = everything.body.items.map((item: any) => Date.parse(item.createdAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
    );
    const bad = await drover.call('GET', '/api/v1/experiments?state=sleeping');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].field, 'state');

    // The count of each filter is what its list holds in all, whatever the page.
    for (const filter of [
      '',
      'state=completed&application=pi-monte-carlo',
      'q=first%20try',
      `q=first%20try&parent=${piId}`,
      'state=canceled,completed',
    ]) {
      const listed = await drover.call('GET', `/api/v1/experiments?limit=200&${filter}`);
      const counted = await drover.call('GET', `/api/v1/experiments/count?${filter}`);
      assert.equal(counted.status, 200, JSON.stringify(counted.body));
      assert.deepEqual(counted.body, { count: listed.body.items.length, capped: false }, filter);
    }
    assert.equal((await drover.call('GET', '/api/v1/experiments/count?state=sleeping')).status, 400);
    assert.equal((await drover.call('GET', '/api/v1/experiments/count?cursor=x')).status, 400, 'a count has no cursor');
  });

  it("streams the list live: each visible experiment as its state changes, never another user's", async () => {
    const carol = (await drover.call('POST', '/api/v1/users', { name: 'carol' })).body.token;
    const dave = (await drover.call('POST', '/api/v1/users', { name: 'dave' })).body.token;
    let mine = '';
    const seen = await readStream(
      '/api/v1/experiments/changes',
      (summary) => summary.id === mine && summary.state === 'completed',
      undefined,
      {
        token: carol,
        onOpen: async () => {
          await drover.call(
            'POST',
            '/api/v1/experiments',
            { application: 'pi-monte-carlo', resource: 'local', inputs: { samples: 1000 } },
            dave,
          );
          // A job that runs for 2 s, so that its experiment is executing across several of the
          // stream's 250 ms batches: a job of a few milliseconds can go from queued to
          // completed inside one batch, which then carries only its latest state.
          mine = (
            await drover.call(
              'POST',
              '/api/v1/experiments',
              { application: 'heat-simulation', resource: 'local', inputs: { duration_seconds: 2, steps: 4 } },
              carol,
            )
          ).body.id;
        },
      },
    );
    const summaries = seen.map((item) => item.event);
    assert.ok(
      summaries.every((summary) => summary.id === mine && summary.owner === 'carol'),
      "only carol's experiment",
    );
    const states = summaries.map((summary) => summary.state);
    assert.equal(states.at(-1), 'completed');
    assert.ok(states.includes('executing'), states.join(','));
    // A message when the state or the program's progress changed, never the same one twice.
    const versions = summaries.map((summary) => `${summary.state} ${summary.progress?.updatedAt ?? ''}`);
    assert.deepEqual(versions, [...new Set(versions)], 'no message repeats the one before');
    assert.deepEqual(
      [...new Set(states)],
      ['executing', 'completed'].filter((state) => states.includes(state)),
    );
    assert.ok(
      summaries.some((summary) => summary.state === 'executing' && summary.progress?.total === 4),
      "the list follows the program's progress",
    );
  });

  it('shows users only their own experiments, and admins their whole gateway', async () => {
    const alice = (await drover.call('POST', '/api/v1/users', { name: 'alice' })).body.token;
    const bob = (await drover.call('POST', '/api/v1/users', { name: 'bob' })).body.token;
    const mine = await drover.call(
      'POST',
      '/api/v1/experiments',
      { application: 'pi-monte-carlo', resource: 'local', inputs: { samples: 1000 } },
      alice,
    );
    assert.equal(mine.status, 201);
    assert.equal((await drover.call('GET', `/api/v1/experiments/${mine.body.id}`, undefined, bob)).status, 404);
    assert.deepEqual((await drover.call('GET', '/api/v1/experiments', undefined, bob)).body.items, []);
    assert.equal((await drover.call('POST', `/api/v1/experiments/${mine.body.id}/cancel`, undefined, bob)).status, 404);
    assert.equal((await drover.call('GET', `/api/v1/experiments/${mine.body.id}/events`, undefined, bob)).status, 404);
    assert.deepEqual(
      (await drover.call('GET', '/api/v1/experiments', undefined, alice)).body.items.map((item: any) => item.id),
      [mine.body.id],
    );
    assert.equal((await drover.call('GET', `/api/v1/experiments/${mine.body.id}`)).status, 200, 'the admin sees it');
    assert.equal(
      (await drover.call('POST', '/api/v1/users', { name: 'mallory' }, alice)).status,
      403,
      'users cannot create users',
    );
    await waitForState(drover, mine.body.id, ['completed'], 30_000, alice);
  });
});
