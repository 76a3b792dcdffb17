/**
 * Parameter sweeps in the web UI, in Debian's Chromium against a real Drover: a sweep made
 * from the new-experiment form by varying two inputs, its page (the element table, counts,
 * the plot of a headline value against a varied input), an element's link back to it, the
 * bulk actions with their confirm dialogs (resubmit failed, cancel all), a clone of the
 * sweep, and the Sweeps page in the navigation. Saves docs/screenshots/sweep.png.
 *
 * Needs `npm run build:web` first and /usr/bin/chromium (scripts/install-chromium.sh).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { axeViolations, launchChromium, TestPages, textMatching as textWithin } from './browser.ts';
import { exitWithApplication, projectRoot, sleepForApplication, startTestDrover, type TestDrover } from './harness.ts';

const screenshots = join(projectRoot, 'docs', 'screenshots');

let drover: TestDrover;
let browser: Browser;
let alice: string;
const pages = new TestPages(() => browser);

before(async () => {
  assert.ok(existsSync(join(projectRoot, 'web', 'dist', 'index.html')), 'the web UI is not built: run `npm run build`');
  [drover, browser] = await Promise.all([startTestDrover(), launchChromium()]);
  for (const application of [exitWithApplication, sleepForApplication])
    assert.equal((await drover.call('POST', '/api/v1/applications', application)).status, 201);
  const user = await drover.call('POST', '/api/v1/users', { name: 'alice' });
  assert.equal(user.status, 201);
  alice = user.body.token;
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await drover?.stop();
});

afterEach(() => pages.closeAll());

function openPage(token: string): Promise<Page> {
  return pages.open(drover.url, token);
}

/** `textMatching` with a minute's patience: a sweep's page follows many experiments. */
function textMatching(locator: Locator, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return textWithin(locator, pattern, timeoutMs);
}

/** The rows of the sweep's element table, each as its cells' text. */
async function elementRows(page: Page): Promise<string[][]> {
  return page
    .getByRole('table', { name: 'The experiments of the sweep, in order' })
    .locator('tbody tr')
    .evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((cell) => (cell.textContent ?? '').trim())),
    );
}

/** Creates a sweep through the API as alice; returns its id. */
async function createSweep(body: Record<string, unknown>): Promise<string> {
  const created = await drover.call('POST', '/api/v1/sweeps', { resource: 'local', ...body }, alice);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}

describe('sweeps in the web UI', () => {
  it('makes a sweep from the new-experiment form and shows its elements, counts and a plot', async () => {
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments/new`);
    await page.getByLabel('Application', { exact: true }).selectOption('pi-monte-carlo');
    await page.getByLabel('Run many experiments, varying some inputs').check();
    await page.getByLabel('Vary Samples').fill('1000, 4000, 16000');
    await page.getByLabel('Vary Random seed').fill('1:2:1');
    await textMatching(page.getByRole('status').filter({ hasText: 'sweep' }), /This makes a sweep of 6 experiments\./);
    assert.deepEqual(await axeViolations(page), [], 'the form with its sweep choices');
    await page.getByLabel('Experiment name').fill('pi by samples');
    await page.getByRole('button', { name: 'Submit sweep of 6 experiments' }).click();
    await page.waitForURL(/\/sweeps\/[0-9a-f-]{36}$/);
    const sweepId = page.url().split('/').pop()!;
    await page.getByRole('heading', { level: 1, name: 'pi by samples' }).waitFor();

    await textMatching(page.getByRole('list', { name: 'Experiments per state' }), /^6 completed$/);
    const rows = await elementRows(page);
    assert.deepEqual(
      rows.map((cells) => cells.slice(0, 4)),
      [
        ['0', '1000', '1', 'completed'],
        ['1', '1000', '2', 'completed'],
        ['2', '4000', '1', 'completed'],
        ['3', '4000', '2', 'completed'],
        ['4', '16000', '1', 'completed'],
        ['5', '16000', '2', 'completed'],
      ],
    );
    assert.match(rows[5][4], /^3\.\d+$/, 'the estimate of pi is a column');
    // The plot: a headline value against a varied input.
    const plot = page.getByRole('region', { name: 'Results against the varied inputs' });
    await plot.getByLabel('x axis').selectOption({ label: 'samples' });
    for (const column of ['seed', 'Error', 'Samples drawn'])
      await plot.getByRole('checkbox', { name: column }).uncheck();
    assert.equal(
      await plot.getByRole('img').getAttribute('aria-label'),
      'Plot of the results of pi by samples: Plot of Estimate of pi against samples',
    );
    await page.screenshot({ path: join(screenshots, 'sweep.png'), fullPage: true });
    assert.deepEqual(await axeViolations(page), [], "the sweep's page");

    // Each element is an experiment that links back to its sweep.
    await page.getByRole('link', { name: 'pi by samples (samples=4000, seed=1)' }).click();
    await textMatching(page.locator('.lineage'), /Experiment 2 of a parameter sweep\./);
    await page.getByRole('link', { name: 'parameter sweep' }).click();
    await page.waitForURL(`${drover.url}/sweeps/${sweepId}`);

    // Clone: the form starts from the sweep's choices; a changed list makes a new sweep.
    await page.getByRole('button', { name: 'Clone sweep' }).click();
    await page.getByRole('heading', { level: 1, name: 'Clone sweep pi by samples' }).waitFor();
    assert.equal(await page.getByLabel('Vary Samples').inputValue(), '1000, 4000, 16000');
    assert.equal(await page.getByLabel('Vary Random seed').inputValue(), '1:2:1');
    await page.getByLabel('Vary Samples').fill('500');
    await page.getByRole('button', { name: 'Submit sweep of 2 experiments' }).click();
    await page.waitForURL((url) => /\/sweeps\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(sweepId));
    await textMatching(page.locator('.lineage'), /Cloned from another sweep\./);
    await textMatching(page.getByRole('list', { name: 'Experiments per state' }), /^2 completed$/);

    // The navigation leads to the sweeps.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sweeps' }).click();
    await textMatching(
      page.getByRole('table', { name: 'Sweeps, newest first' }),
      /pi by samples \(clone\).*pi by samples/,
    );
    assert.deepEqual(await axeViolations(page), [], 'the sweeps list');
  });

  it('resubmits the failed experiments and cancels the running ones after confirming', async () => {
    const page = await openPage(alice);
    const exits = await createSweep({ application: 'exit-with', name: 'exits', vary: { code: { values: [0, 3] } } });
    await page.goto(`${drover.url}/sweeps/${exits}`);
    await textMatching(page.getByRole('list', { name: 'Experiments per state' }), /1 completed 1 failed/);
    await page.getByRole('button', { name: 'Resubmit failed (1)' }).click();
    const resubmit = page.getByRole('dialog', { name: 'Resubmit the failed experiments?' });
    await resubmit.getByRole('button', { name: 'Resubmit 1' }).click();
    await textMatching(page.locator('p.notice'), /Resubmitted 1 experiment\./);
    await textMatching(
      page.getByRole('table', { name: 'The experiments of the sweep, in order' }).locator('tbody tr').nth(1),
      /\(resubmitted; earlier: try 1\)/,
    );

    // Drafts are launched together.
    const sleepers = await createSweep({
      application: 'sleep-for',
      vary: { seconds: { values: [600, 601] } },
      launch: false,
    });
    await page.goto(`${drover.url}/sweeps/${sleepers}`);
    await textMatching(page.getByRole('list', { name: 'Experiments per state' }), /^2 created$/);
    await page.getByRole('button', { name: 'Launch all (2)' }).click();
    await textMatching(page.locator('p.notice'), /Launched 2 experiments\./);
    await textMatching(page.getByRole('list', { name: 'Experiments per state' }), /^2 executing$/);
    await page.getByRole('button', { name: 'Cancel all (2)' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel every unfinished experiment of this sweep?' });
    // The safe choice has the focus; backing out changes nothing.
    await dialog.getByRole('button', { name: 'Keep them running' }).click();
    await page.getByRole('button', { name: 'Cancel all (2)' }).click();
    await dialog.getByRole('button', { name: 'Cancel 2 experiments' }).click();
    await textMatching(page.locator('p.notice'), /Canceled 2 experiments\./);
    await textMatching(page.getByRole('list', { name: 'Experiments per state' }), /^2 canceled$/);
  });
});
