/**
 * Bulk creation through the HTTP API (POST /api/v1/experiments/batch) and the CLI
 * (`drover submit --from`): all items or none, bad items named by index and field, the cap,
 * the per-user queue limit, launched items run like single ones. Also the list's text
 * search over input values and uploaded file names (migration 0005).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startTestDrover, waitForState, type TestDrover } from './harness.ts';

let drover: TestDrover;
let workDir: string;
before(async () => {
  drover = await startTestDrover();
  workDir = await mkdtemp(join(tmpdir(), 'drover-bulk-'));
});
after(async () => {
  await drover?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** The experiments whose search text holds `text` (newest first), all pages. */
async function search(text: string): Promise<Array<{ id: string; name: string; state: string }>> {
  const found = [];
  let cursor: string | null = null;
  do {
    const query: string = `q=${encodeURIComponent(text)}&limit=200${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await drover.call('GET', `/api/v1/experiments?${query}`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    found.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return found;
}

const pi = (name: string, extra: Record<string, unknown> = {}) => ({
  application: 'pi-monte-carlo',
  resource: 'local',
  name,
  inputs: { samples: 1000, seed: 7 },
  ...extra,
});

describe('bulk creation', () => {
  it('creates 300 experiments in one request, in order; launched items run, drafts wait', async () => {
    const items = Array.from({ length: 300 }, (_, index) =>
      pi(`batch-a ${String(index).padStart(3, '0')}`, { launch: index < 2 }),
    );
    const created = await drover.call('POST', '/api/v1/experiments/batch', { items });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(
      created.body.items.map((item: { name: string }) => item.name),
      items.map((item) => item.name),
    );
    // A worker may have claimed a launched one already.
    const launched = (state: string) => ['queued', 'executing'].includes(state);
    assert.deepEqual(
      created.body.items.slice(0, 4).map((item: { state: string }) => launched(item.state)),
      [true, true, false, false],
    );
    assert.equal(created.body.items[2].state, 'created');
    // Newest first: the list shows the batch in reverse order of its items.
    const listed = await search('batch-a');
    assert.deepEqual(
      listed.map((item) => item.name),
      items.map((item) => item.name).reverse(),
    );
    const draft = await drover.call('GET', `/api/v1/experiments/${created.body.items[2].id}`);
    assert.equal(draft.body.tasks.length, 0, 'a draft has no tasks');
    const done = await waitForState(drover, created.body.items[0].id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.equal(done.tasks.length, 5);
  });

  it('refuses the whole request when an item is bad, naming each bad item and field', async () => {
    const response = await drover.call('POST', '/api/v1/experiments/batch', {
      items: [
        pi('batch-b 0'),
        pi('batch-b 1', { inputs: { samples: 'many' } }),
        pi('batch-b 2'),
        pi('batch-b 3', { application: 'no-such-app' }),
      ],
    });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(response.body.detail, /2 of 4 items are invalid \(items 1, 3\); nothing was created/);
    assert.deepEqual(response.body.errors.map((error: { field: string }) => error.field).sort(), [
      'items.1.inputs.samples',
      'items.3.application',
    ]);
    assert.deepEqual(await search('batch-b'), [], 'the good items were not created either');
  });

  it('names a schema error by item index, and refuses more than 1000 items', async () => {
    const missing = await drover.call('POST', '/api/v1/experiments/batch', {
      items: [pi('batch-c 0'), { application: 'pi-monte-carlo' }],
    });
    assert.equal(missing.status, 400);
    assert.deepEqual(
      missing.body.errors.map((error: { field: string }) => error.field),
      ['body.items.1.resource'],
    );
    const tooMany = await drover.call('POST', '/api/v1/experiments/batch', {
      items: Array.from({ length: 1001 }, (_, index) => pi(`batch-c ${index}`, { launch: false })),
    });
    assert.equal(tooMany.status, 400);
    assert.deepEqual(tooMany.body.errors, [{ field: 'body.items', message: 'must NOT have more than 1000 items' }]);
    const none = await drover.call('POST', '/api/v1/experiments/batch', { items: [] });
    assert.equal(none.status, 400);
    assert.deepEqual(await search('batch-c'), []);
  });

  it("applies the queue's per-user limit across the items, creating none when one is over it", async () => {
    const resource = await drover.call('POST', '/api/v1/resources', {
      name: 'limited',
      kind: 'local',
      config: {
        scratchDir: join(drover.dataDir, 'limited-scratch'),
        queues: [{ name: 'normal', maxWalltimeMinutes: 60, maxCores: 4, maxJobsPerUser: 2 }],
      },
    });
    assert.equal(resource.status, 201, JSON.stringify(resource.body));
    // Long enough not to finish during the test: the two launched ones stay active.
    const slow = (name: string) => pi(name, { resource: 'limited', inputs: { samples: 2_000_000_000, seed: 1 } });
    const over = await drover.call('POST', '/api/v1/experiments/batch', {
      items: [slow('batch-d 0'), slow('batch-d 1'), { ...slow('batch-d 2'), launch: false }, slow('batch-d 3')],
    });
    assert.equal(over.status, 429, JSON.stringify(over.body));
    assert.equal(over.body.type, 'urn:drover:problem:queue-limit');
    assert.match(over.body.detail, /^item 3: queue normal on limited allows 2 active experiments per user/);
    assert.deepEqual(over.body.errors, [{ field: 'items.3.queue', message: 'at most 2 active experiments per user' }]);
    assert.deepEqual(await search('batch-d'), []);

    const within = await drover.call('POST', '/api/v1/experiments/batch', {
      items: [slow('batch-d 0'), slow('batch-d 1'), { ...slow('batch-d 2'), launch: false }],
    });
    assert.equal(within.status, 201, JSON.stringify(within.body));
    const single = await drover.call('POST', '/api/v1/experiments', slow('batch-d 4'));
    assert.equal(single.status, 429, 'a single creation counts the bulk-created ones');
    for (const item of within.body.items) await drover.call('POST', `/api/v1/experiments/${item.id}/cancel`);
  });

  it('drover submit --from creates the file’s experiments, with the flags as defaults', async () => {
    const file = join(workDir, 'sweep.yaml');
    await writeFile(
      file,
      [
        '- { application: pi-monte-carlo, name: batch-e seed 1, inputs: { samples: 1000, seed: 1 } }',
        '- { application: pi-monte-carlo, name: batch-e seed 2, inputs: { seed: 2 }, launch: true }',
        '',
      ].join('\n'),
    );
    const run = await runCli(['submit', '--from', file, '--draft', '-i', 'samples=5000', '--json'], {
      url: drover.url,
      workDir,
    });
    assert.equal(run.code, 0, run.stderr);
    const { items } = JSON.parse(run.stdout);
    assert.deepEqual(
      items.map((item: { name: string }) => item.name),
      ['batch-e seed 1', 'batch-e seed 2'],
    );
    assert.equal(items[0].state, 'created', '--draft applies to an item that does not say launch');
    assert.notEqual(items[1].state, 'created', 'an item saying launch: true is launched');
    const second = await drover.call('GET', `/api/v1/experiments/${items[1].id}`);
    assert.deepEqual(second.body.inputs, { samples: 5000, seed: 2 });

    const bad = join(workDir, 'bad.json');
    await writeFile(bad, JSON.stringify([{ application: 'pi-monte-carlo', inputs: { seed: 'x' } }]));
    const refused = await runCli(['submit', '--from', bad], { url: drover.url, workDir });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /1 of 1 items are invalid/);
    assert.match(refused.stderr, /items\.0\.inputs\.seed: /);

    const notList = join(workDir, 'not-a-list.yaml');
    await writeFile(notList, 'application: pi-monte-carlo\n');
    const wrongShape = await runCli(['submit', '--from', notList], { url: drover.url, workDir });
    assert.equal(wrongShape.code, 2);
    assert.match(wrongShape.stderr, /must hold a list of experiments/);
  });
});

describe('text search', () => {
  it('finds an experiment by an input value and by an uploaded file’s name, case-insensitively', async () => {
    const upload = await drover.call('POST', '/api/v1/uploads?filename=Galaxy-Survey_2026.txt', Buffer.from('a b c'));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const created = await drover.call('POST', '/api/v1/experiments', {
      application: 'word-count',
      resource: 'local',
      name: 'search target',
      inputs: { text: upload.body.id, top: 3 },
      launch: false,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const names = async (text: string) => (await search(text)).map((item) => item.name);
    assert.deepEqual(await names('galaxy-survey_2026'), ['search target']);
    const seeded = await drover.call(
      'POST',
      '/api/v1/experiments',
      pi('seeded run', { inputs: { samples: 10, seed: 3987654321 }, launch: false }),
    );
    assert.equal(seeded.status, 201, JSON.stringify(seeded.body));
    assert.deepEqual(await names('3987654321'), ['seeded run']);
    assert.deepEqual(await names(created.body.id.slice(4, 16)), ['search target']);
    assert.deepEqual(await names('SEARCH TARG'), ['search target']);
    // `_` and `%` are literal characters, not wildcards.
    assert.deepEqual(await names('survey%2026'), []);
    assert.deepEqual(await names('survey_2026'), ['search target']);
  });
});
