/**
 * Bulk creation through the HTTP API (POST /api/v1/experiments/batch) and the CLI
 * (`drover submit --from`): all items or none, bad items named by index and field, the cap,
 * launched items run like single ones (admission over a queue's limit: admission.test.ts). Also the list's text
 * search over input values and uploaded file names (migration 0005), and the list shapes of
 * migration 0006: several states at once, and a user's search that sees only their own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken, runCli, startTestDrover, waitForState, type TestDrover } from './harness.ts';

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

const names = (found: Array<{ name: string }>) => found.map((item) => item.name);

describe('list shapes of migration 0006', () => {
  /** Every page of `query` (newest first) as `token` sees it, two items a page. */
  async function pages(query: string, token: string): Promise<Array<{ id: string; name: string; state: string }>> {
    const found = [];
    let cursor: string | null = null;
    do {
      const path: string = `/api/v1/experiments?${query}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await drover.call('GET', path, undefined, token);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.ok(page.body.items.length <= 2);
      found.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    return found;
  }

  it('lists several states newest first, paging across the states, for a user and for the admin', async () => {
    const erin = (await drover.call('POST', '/api/v1/users', { name: 'erin' })).body.token;
    // Drafts and launched items alternate, so that each page of two crosses a state boundary.
    const items = Array.from({ length: 7 }, (_, index) =>
      pi(`multi-state ${index}`, { launch: index % 2 === 1, inputs: { samples: 100, seed: index } }),
    );
    const created = await drover.call('POST', '/api/v1/experiments/batch', { items }, erin);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    for (const item of created.body.items.filter((_: unknown, index: number) => index % 2 === 1))
      assert.equal((await waitForState(drover, item.id, ['completed', 'failed'])).state, 'completed');
    const newestFirst = items.map((item) => item.name).reverse();

    assert.deepEqual(names(await pages('state=created,completed', erin)), newestFirst);
    assert.deepEqual(
      names(await pages('state=completed,created&q=multi-state', erin)),
      newestFirst,
      'the order of the states asked for does not matter, with or without text',
    );
    const launched = newestFirst.filter((name) => Number(name.split(' ')[1]) % 2 === 1);
    assert.deepEqual(names(await pages('state=completed,canceled', erin)), launched);
    // The admin sees the whole gateway (where experiments of the other tests may still
    // change state): erin's experiments among the others, in the same order.
    const mine = (found: Array<{ name: string }>) => names(found).filter((name) => name.startsWith('multi-state'));
    assert.deepEqual(mine(await pages('state=created,completed,failed', adminToken)), newestFirst);
    assert.deepEqual(mine(await pages('state=completed,queued,executing', adminToken)), launched);
  });

  it("shows a user's search only their own experiments, however common the word", async () => {
    const frank = (await drover.call('POST', '/api/v1/users', { name: 'frank' })).body.token;
    const grace = (await drover.call('POST', '/api/v1/users', { name: 'grace' })).body.token;
    const batch = (owner: string, count: number) =>
      Array.from({ length: count }, (_, index) => pi(`shared-word ${owner} ${index}`, { launch: false }));
    assert.equal(
      (await drover.call('POST', '/api/v1/experiments/batch', { items: batch('frank', 5) }, frank)).status,
      201,
    );
    assert.equal(
      (await drover.call('POST', '/api/v1/experiments/batch', { items: batch('grace', 3) }, grace)).status,
      201,
    );
    const owners = (found: Array<{ name: string }>) => [...new Set(found.map((item) => item.name.split(' ')[1]))];
    const franks = await pages('q=shared-word', frank);
    assert.equal(franks.length, 5);
    assert.deepEqual(owners(franks), ['frank']);
    assert.deepEqual(owners(await pages('q=shared-word&state=created', grace)), ['grace']);
    assert.deepEqual(owners(await pages('q=shared-word&application=pi-monte-carlo&resource=local', grace)), ['grace']);
    assert.deepEqual(
      await pages('q=shared-word&owner=frank', grace),
      [],
      "a user's owner filter cannot widen their view",
    );
    const both = await pages('q=shared-word', adminToken);
    assert.deepEqual(owners(both).sort(), ['frank', 'grace']);
    assert.deepEqual(names(await pages('q=shared-word&owner=grace', adminToken)), [
      'shared-word grace 2',
      'shared-word grace 1',
      'shared-word grace 0',
    ]);
  });
});
