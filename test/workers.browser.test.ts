/**
 * The Workers page in Debian's Chromium against a real Drover on PostgreSQL: the platform
 * operator sees each worker process live (state, what it can run, the tasks it runs, its
 * heartbeat): a second worker appears as it registers, shows the stage-in it holds, and
 * shows `stopped` once it drains. A gateway's user has no Workers link, and the page tells
 * them it is the operator's. Saves docs/screenshots/workers.png.
 *
 * Needs `npm run build:web` first and /usr/bin/chromium (scripts/install-chromium.sh).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { axeViolations, launchChromium, TestPages, textMatching } from './browser.ts';
import { adminToken, projectRoot, startTestDrover, waitFor, type TestDrover } from './harness.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

const screenshots = join(projectRoot, 'docs', 'screenshots');

let database: TestDatabase;
let drover: TestDrover;
let browser: Browser;
const pages = new TestPages(() => browser);

before(async () => {
  assert.ok(existsSync(join(projectRoot, 'web', 'dist', 'index.html')), 'the web UI is not built: run `npm run build`');
  database = await createTestDatabase();
  // This process's worker runs every kind but stage-in: the second worker's, below.
  [drover, browser] = await Promise.all([
    startTestDrover({
      databaseUrl: database.url,
      worker: { kinds: ['env-setup', 'submit', 'monitor', 'stage-out'], heartbeatMs: 500 },
    }),
    launchChromium(),
  ]);
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await drover?.stop();
  await database?.drop();
});

afterEach(() => pages.closeAll());

describe('the Workers page', () => {
  it('shows the workers live to the platform operator: a new one, the task it holds, its stop', async () => {
    const page = await pages.open(drover.url, adminToken);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Workers' }).click();
    await page.getByRole('heading', { name: 'Workers' }).waitFor();
    const rows = page.getByRole('region', { name: 'Workers' }).locator('tbody tr');
    await textMatching(page.locator('main'), /1 live of 1/);
    assert.match(
      await textMatching(rows.first(), /active/),
      /^worker-\S+ \S+ · pid \d+ · Drover 0\.1\.0 started .+ active env-setup, submit, monitor, stage-out on every resource 0 of 64 .+ ago every 0\.5 s$/,
    );

    // A second worker, for stage-in on `local` only, whose stage-in is slow (main.ts's test switch).
    process.env.DROVER_FAULT_STAGE_IN_DELAY_MS = '600000';
    const second = await startTestDrover(
      { databaseUrl: database.url, worker: { kinds: ['stage-in'], resources: ['local'], drainGraceMs: 0 } },
      ['worker'],
    ).finally(() => delete process.env.DROVER_FAULT_STAGE_IN_DELAY_MS);
    try {
      await textMatching(page.locator('main'), /2 live of 2/);
      const created = await drover.call('POST', '/api/v1/experiments', {
        name: 'held by the second worker',
        application: 'pi-monte-carlo',
        resource: 'local',
        inputs: { samples: 1000 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const held = rows.filter({ hasText: 'on local' });
      assert.match(
        await textMatching(held, /1 of 64/),
        new RegExp(`active stage-in on local 1 of 64 stage-in of ${created.body.id.slice(0, 8)} \\(gateway default\\)`),
      );
      assert.equal(
        await held.getByRole('link', { name: created.body.id.slice(0, 8) }).getAttribute('href'),
        `/experiments/${created.body.id}`,
      );
      assert.deepEqual(await axeViolations(page), [], 'the Workers page');
      await page.screenshot({ path: join(screenshots, 'workers.png'), fullPage: true });
    } finally {
      await second.stop();
    }
    // Stopped, it handed its stage-in back: the page says so at its next refresh.
    await textMatching(page.locator('main'), /1 live of 2/);
    assert.match(await textMatching(rows.filter({ hasText: 'on local' }), /stopped/), /stopped since .+ 0 of 64/);
    await waitFor('the stage-in to be back in the queue', async () => {
      const { body } = await drover.call('GET', '/api/v1/experiments?limit=1');
      const detail = await drover.call('GET', `/api/v1/experiments/${body.items[0].id}`);
      return detail.body.tasks.find((task: any) => task.kind === 'stage-in')?.state === 'ready' || null;
    });
  });

  it("is the operator's alone: a gateway's user has no link, and the page says why", async () => {
    const user = await drover.call('POST', '/api/v1/users', { name: 'bea' });
    assert.equal(user.status, 201);
    const page = await pages.open(drover.url, user.body.token);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('heading', { name: 'Experiments' }).waitFor();
    assert.equal(
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Workers' }).count(),
      0,
    );
    await page.goto(`${drover.url}/workers`);
    assert.match(
      await textMatching(page.getByRole('alert'), /could not be loaded/),
      /The workers could not be loaded: only the platform operator \(the bootstrap token\) may see the workers/,
    );
    assert.deepEqual(await axeViolations(page), [], 'the refusal');
  });
});
