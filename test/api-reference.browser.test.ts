/**
 * The API reference in a real browser: Swagger UI at /api/v1/docs renders every operation
 * of the served document under the server's Content-Security-Policy, with no console
 * error and no request to another host. Needs /usr/bin/chromium (scripts/install-chromium.sh);
 * CHROMIUM_PATH overrides the browser's path.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { startTestDrover, type TestDrover } from './harness.ts';

let drover: TestDrover;
let browser: Browser;

before(async () => {
  [drover, browser] = await Promise.all([startTestDrover(), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await drover?.stop();
});

it('renders every operation of the document, loading nothing from elsewhere and breaking no CSP rule', async () => {
  const page = await browser.newPage();
  const problems: string[] = [];
  const elsewhere: string[] = [];
  const own = new URL(drover.url).host;
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol.startsWith('http') && url.host !== own) elsewhere.push(request.url());
  });
  await page.goto(`${drover.url}/api/v1/docs`);
  const document = (await drover.call('GET', '/api/v1/openapi.json')).body as { paths: Record<string, object> };
  const operations = Object.values(document.paths).reduce((count, methods) => count + Object.keys(methods).length, 0);
  await page
    .locator('.opblock')
    .nth(operations - 1)
    .waitFor({ timeout: 20_000 });
  assert.equal(await page.locator('.opblock').count(), operations);
  // Client developers see the operationIds their generated client will have.
  assert.equal(await page.getByText('downloadOutput', { exact: true }).count(), 1);
  assert.match((await page.locator('.info .title').first().textContent()) ?? '', /Drover API/);
  assert.deepEqual(problems, []);
  assert.deepEqual(elsewhere, []);
  await page.close();
});
