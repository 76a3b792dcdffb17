/**
 * The Resume button of a failed experiment's page, in Debian's Chromium (playwright-core)
 * against a real Drover: a confirmation that says what runs again, the run that follows
 * live, and the timeline headed by runs. Needs `npm run build` (the web UI) first.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, TestPages, textMatching } from './browser.ts';
import { projectRoot, startTestDrover, waitForState, type TestDrover } from './harness.ts';

/** Fails (exit 3) the first time it runs in a working directory, succeeds after. */
const failsOnce = {
  name: 'fails-once',
  title: 'Fails the first time (test fixture)',
  inputs: [],
  outputs: [],
  deployments: {
    '*': { command: ['sh', '-c', 'if [ -e ran-before ]; then echo second; else : > ran-before; exit 3; fi'] },
  },
};

let drover: TestDrover;
let browser: Browser;
let alice: string;
const pages = new TestPages(() => browser);

before(async () => {
  assert.ok(existsSync(join(projectRoot, 'web', 'dist', 'index.html')), 'the web UI is not built: run `npm run build`');
  [drover, browser] = await Promise.all([startTestDrover(), launchChromium()]);
  assert.equal((await drover.call('POST', '/api/v1/applications', failsOnce)).status, 201);
  const user = await drover.call('POST', '/api/v1/users', { name: 'alice' });
  assert.equal(user.status, 201);
  alice = user.body.token;
});
after(async () => {
  await browser?.close();
  await drover?.stop();
});
afterEach(() => pages.closeAll());

function openPage(token: string): Promise<Page> {
  return pages.open(drover.url, token);
}

const experimentState = (page: Page) => page.locator('main .page-title-row .badge');
const region = (page: Page, name: string) => page.getByRole('region', { name, exact: true });

describe('resume in the web UI', () => {
  it('resumes a failed experiment after a confirmation, and the timeline shows its runs', async () => {
    const created = await drover.call(
      'POST',
      '/api/v1/experiments',
      { application: 'fails-once', resource: 'local', name: 'flaky run', inputs: {} },
      alice,
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await waitForState(drover, id, ['failed'], 30_000, alice);

    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments/${id}`);
    await textMatching(experimentState(page), /^failed$/);
    const resume = page.getByRole('button', { name: 'Resume' });
    await resume.click();
    const dialog = page.getByRole('dialog', { name: 'Resume this experiment?' });
    await dialog.waitFor();
    await textMatching(
      dialog,
      /flaky run runs again as run 2, from its submit: its job failed, so it is submitted again/,
    );
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(
      (await drover.call('GET', `/api/v1/experiments/${id}`)).body.state,
      'failed',
      'Escape resumes nothing',
    );

    await resume.click();
    await dialog.getByRole('button', { name: 'Resume' }).click();
    await textMatching(experimentState(page), /^completed$/);
    const timeline = await textMatching(region(page, 'Timeline'), /Run 2.*executing → completed/);
    assert.match(timeline, /^Timeline Run 1 /);
    assert.match(
      timeline,
      /experiment resumed failed → queued run 2: resumed by alice from the submit task \(its job failed\)/,
    );
    assert.ok(timeline.indexOf('Run 1') < timeline.indexOf('executing → failed'));
    assert.ok(timeline.indexOf('executing → failed') < timeline.indexOf('Run 2'));
    assert.equal(await page.getByRole('button', { name: 'Resume' }).count(), 0, 'a completed experiment has no Resume');
    await page.screenshot({ path: join(projectRoot, 'docs', 'screenshots', 'experiment-resumed.png'), fullPage: true });
  });
});
