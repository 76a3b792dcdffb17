/**
 * The web UI end to end: Debian's Chromium driven by playwright-core against a real
 * Drover (API serving the built UI, worker, controller, embedded store). Signing in and
 * out, each demo application through its generated form, a run followed live, the live
 * list, cancel, clone, downloads, results (headline values, output previews, a plot), the server's validation errors, a submit whose answer was lost, keyboard-only use and a
 * phone-sized window. Screenshots of the main pages go to docs/screenshots/.
 *
 * Needs `npm run build` first (the browser tier does it) and /usr/bin/chromium
 * (scripts/install-chromium.sh); CHROMIUM_PATH overrides the browser's path.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { axeViolations, launchChromium, TestPages, textMatching } from './browser.ts';
import {
  adminToken,
  exitWithApplication,
  localResourceWithLimits,
  projectRoot,
  sleepForApplication,
  startTestDrover,
  waitFor,
  waitForState,
  type TestDrover,
} from './harness.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const screenshots = join(projectRoot, 'docs', 'screenshots');
const gatewayName = 'Heat Lab Gateway';
const primary = '#0b6e4f';

let drover: TestDrover;
let browser: Browser;
let smtp: SmtpSink;
let receiver: WebhookReceiver;
let alice: string;
const pages = new TestPages(() => browser);

before(async () => {
  assert.ok(existsSync(join(projectRoot, 'web', 'dist', 'index.html')), 'the web UI is not built: run `npm run build`');
  [smtp, receiver] = await Promise.all([startSmtpSink(), startWebhookReceiver()]);
  [drover, browser] = await Promise.all([
    startTestDrover({
      gateway: { name: gatewayName, theme: { primary, accent: '#8a4500' } },
      notifications: {
        pollMs: 100,
        retryBaseMs: 300,
        email: { smtpUrl: smtp.url },
        webhook: { allowedNetworks: ['127.0.0.0/8'] },
      },
    }),
    launchChromium(),
  ]);
  const user = await drover.call('POST', '/api/v1/users', { name: 'alice' });
  assert.equal(user.status, 201);
  alice = user.body.token;
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await drover?.stop();
  await smtp?.stop();
  await receiver?.stop();
});

afterEach(() => pages.closeAll());

/** A fresh page signed in as `token` unless null, at the Drover at `url` (see TestPages). */
function openPage(token: string | null, viewport = { width: 1200, height: 900 }, url = drover.url): Promise<Page> {
  return pages.open(url, token, viewport);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** Waits until the focused element's `property` is `expected`. */
async function focusedIs(
  page: Page,
  property: 'id' | 'tagName' | 'textContent',
  expected: string,
  why: string,
): Promise<void> {
  const deadline = Date.now() + 5000;
  let last: unknown;
  while (Date.now() < deadline) {
    last = await page.evaluate((name) => (document.activeElement as any)?.[name], property);
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const focused = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 200));
  throw new Error(
    `${why}: the focused element's ${property} is ${JSON.stringify(last)}, not ${JSON.stringify(expected)} (${focused})`,
  );
}

/** The state badge beside the experiment's title. */
const experimentState = (page: Page) => page.locator('main .page-title-row .badge');
const region = (page: Page, name: string) => page.getByRole('region', { name, exact: true });

/** Marks the document, so a test can check the page was updated live rather than reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => ((window as any).__notReloaded = true));
}
async function assertNotReloaded(page: Page): Promise<void> {
  assert.equal(await page.evaluate(() => (window as any).__notReloaded), true, 'the page was reloaded');
}

/** Creates an experiment as alice through the API. */
async function createAsAlice(body: Record<string, unknown>): Promise<any> {
  const created = await drover.call('POST', '/api/v1/experiments', { resource: 'local', ...body }, alice);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

/** A 48x24 colour gradient, as PNG. */
const gradientPng =
  'iVBORw0KGgoAAAANSUhEUgAAADAAAAAYCAIAAAAzn+mLAAAAp0lEQVR42u3OkQKDUBiA0SuTKIkmySiJJlGSJN8kSqIkiZJoEiWTKImSKJlEk2gSTZIoGSVRe5D95wmOUhwndo1N52uwnllM5gsfi8nmfWV0eLkMHk+f/kYX0IY0EXVMlfBIKTOKnPudvCArSR8kFXFN1BC2BB23Hv+JN+C+cEaub+wJ68Nlxlw4rxhf9A1t53SglIQkJCEJSUhCEpKQhCQkIQn9V+gHXp3ffMCsMQgAAAAASUVORK5CYII=';

/** Clicks a download button and returns the downloaded file's text. */
async function download(page: Page, file: string): Promise<string> {
  const [downloaded] = await Promise.all([
    page.waitForEvent('download'),
    region(page, 'Outputs')
      .getByRole('button', { name: `Download ${file}` })
      .click(),
  ]);
  assert.equal(downloaded.suggestedFilename(), file);
  return readFileSync((await downloaded.path())!, 'utf8');
}

async function chooseApplication(page: Page, name: string): Promise<void> {
  await page.goto(`${drover.url}/experiments/new`);
  await page.getByLabel('Application', { exact: true }).selectOption(name);
  await page.getByRole('group', { name: 'Inputs' }).waitFor();
}

/** Submits the form and waits for the new experiment's page; returns its id. */
async function submit(page: Page, label = 'Submit experiment'): Promise<string> {
  await page.getByRole('button', { name: label }).click();
  await page.waitForURL(/\/experiments\/[0-9a-f-]{36}$/);
  await region(page, 'Tasks').waitFor();
  return page.url().split('/').pop()!;
}

describe('web UI', () => {
  it('signs in with a token, refuses a wrong one, shows the gateway, signs out', async () => {
    const page = await openPage(null);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.match(page.url(), /\/sign-in$/, 'a signed-out visitor is sent to the sign-in page');
    await textMatching(page.getByRole('banner'), new RegExp(gatewayName));
    await waitFor(
      'the gateway colours before signing in',
      async () =>
        (await page.getByRole('banner').evaluate((element) => getComputedStyle(element).backgroundColor)) ===
        'rgb(11, 110, 79)',
    );
    await screenshot(page, 'sign-in');

    await page.getByLabel('API token').fill('drv_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await textMatching(page.getByRole('alert'), /not accepted/);
    assert.match(page.url(), /\/sign-in$/);
    assert.equal(await page.getByLabel('API token').getAttribute('aria-invalid'), 'true');

    await page.getByLabel('API token').fill(alice);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    assert.match(page.url(), /\/experiments$/, 'back where the visitor wanted to go');
    const header = page.getByRole('banner');
    assert.match(await header.innerText(), new RegExp(`${gatewayName}[\\s\\S]*alice`));
    assert.equal(
      await header.evaluate((element) => getComputedStyle(element).backgroundColor),
      'rgb(11, 110, 79)',
      "the gateway's primary colour",
    );
    assert.match(await page.title(), new RegExp(gatewayName));

    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await textMatching(page.getByRole('main'), /You are signed out/);
    assert.equal(await page.evaluate(() => localStorage.getItem('drover.token')), null, 'the token is forgotten');
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });

  it("shows each gateway's own name and colours: its sign-in link, and after sign-in the user's gateway", async () => {
    const created = await drover.call('POST', '/api/v1/gateways', {
      id: 'coral',
      name: 'Coral Reef Gateway',
      theme: { primary: '#7b2d26' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const coralUser = (await drover.call('POST', '/api/v1/users', { name: 'reef-diver' }, created.body.admin.token))
      .body.token;
    const coralColour = 'rgb(123, 45, 38)';
    const headerColour = (page: Page) =>
      page.getByRole('banner').evaluate((element) => getComputedStyle(element).backgroundColor);

    const linked = await openPage(null);
    await linked.goto(`${drover.url}/?gateway=coral`);
    await linked.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await textMatching(linked.getByRole('banner'), /Coral Reef Gateway/);
    await waitFor(
      "the second gateway's colour on its sign-in page",
      async () => (await headerColour(linked)) === coralColour,
    );
    assert.doesNotMatch(await linked.getByRole('banner').innerText(), new RegExp(gatewayName));
    await screenshot(linked, 'sign-in-second-gateway');

    // Signing in on the bootstrap gateway's page with a token of the second gateway shows the user's own gateway.
    const plain = await openPage(null);
    await plain.goto(`${drover.url}/`);
    await textMatching(plain.getByRole('banner'), new RegExp(gatewayName));
    await plain.getByLabel('API token').fill(coralUser);
    await plain.keyboard.press('Enter');
    await plain.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    assert.match(await textMatching(plain.getByRole('banner'), /Coral Reef Gateway/), /reef-diver/);
    assert.equal(await headerColour(plain), coralColour);
    assert.match(await plain.title(), /Coral Reef Gateway/);
  });

  it('submits a heat simulation from its generated form after previewing the script, and follows it live to completion', async () => {
    const page = await openPage(alice);
    await chooseApplication(page, 'heat-simulation');
    // One control per input type, with the schema's bounds and defaults.
    const duration = page.getByLabel('Duration (seconds)');
    assert.equal(await duration.getAttribute('type'), 'number');
    assert.equal(await duration.getAttribute('min'), '0.5');
    assert.equal(await duration.getAttribute('max'), '3600');
    assert.equal(await duration.inputValue(), '5');
    assert.equal(await page.getByLabel('Boundary condition').evaluate((element) => element.tagName), 'SELECT');
    assert.equal(await page.getByLabel('Label').getAttribute('maxlength'), '200');
    assert.match(
      await page.getByRole('group', { name: 'Inputs' }).innerText(),
      /A whole number from 1 to 100,000\. Default: 50\./,
    );
    assert.match(
      await page.getByRole('group', { name: 'Where and how it runs' }).innerText(),
      /normal: up to 1,440 minutes and 4 cores/,
    );
    assert.equal(await page.getByLabel('Walltime (minutes)').getAttribute('max'), '1440');

    await duration.fill('6');
    await page.getByLabel('Time steps').fill('30');
    await page.getByLabel('Label').fill("browser's run");
    await page.getByLabel('Boundary condition').selectOption('insulated');
    await page.getByLabel('Experiment name').fill('heat from the browser');
    await screenshot(page, 'new-experiment');

    await page.getByRole('button', { name: 'Preview batch script' }).click();
    const script = await textMatching(region(page, 'Batch script'), /#!\/bin\/bash/);
    assert.match(script, /'--boundary' 'insulated'/);
    assert.match(script, /'--label' 'browser'\\''s run'/, 'the label is quoted exactly as typed');

    const id = await submit(page);
    await markDocument(page);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'heat from the browser');
    await focusedIs(page, 'tagName', 'H1', 'the focus moves to the new page');

    // Running: the job, the DAG and stdout move while we watch.
    await textMatching(region(page, 'Job'), /State\s+running/);
    await textMatching(region(page, 'Logs'), /step \d+\/30/);
    await textMatching(page.getByRole('list', { name: /Task graph/ }).locator('[data-task="monitor"]'), /running/);
    await textMatching(experimentState(page), /^executing$/);
    // heat-simulation's own step lines, read with its catalogue template, as a bar.
    await textMatching(region(page, 'Job'), /\d+% \(\d+ of 30\)/);
    await screenshot(page, 'experiment-running');

    await textMatching(experimentState(page), /^completed$/, 30_000);
    await textMatching(region(page, 'Timeline'), /executing → completed/);
    // The milestones first; the tasks' routine steps are folded until asked for.
    const milestones = await region(page, 'Timeline').innerText();
    assert.match(milestones, /created → queued/);
    assert.match(milestones, /job \d+\s*queued → running/);
    assert.match(milestones, /\d{2}:\d{2}:\d{2}/, 'each event shows its time');
    assert.doesNotMatch(milestones, /task stage-out/);
    await region(page, 'Timeline')
      .getByRole('button', { name: /^Show all \d+ events \(\d+ task steps\)$/ })
      .click();
    await textMatching(region(page, 'Timeline'), /task stage-out running → completed/);
    // The inputs as the form named them, in its order: title, then the input's own name.
    const inputs = await textMatching(region(page, 'Inputs'), /Duration \(seconds\) ?duration_seconds 6\b/);
    assert.ok(inputs.indexOf('Time steps') < inputs.indexOf('Label'), inputs);
    assert.ok(inputs.indexOf('Label') < inputs.indexOf('Boundary condition'), inputs);
    for (const kind of ['env-setup', 'stage-in', 'submit', 'monitor', 'stage-out']) {
      await textMatching(page.getByRole('list', { name: /Task graph/ }).locator(`[data-task="${kind}"]`), /completed/);
    }
    await textMatching(region(page, 'Job'), /Exit code\s+0/);
    await assertNotReloaded(page);
    await textMatching(region(page, 'Logs'), /done: final mean/);
    await region(page, 'Outputs').getByRole('button', { name: 'Download result.json' }).waitFor();
    await screenshot(page, 'experiment-completed');

    const result = JSON.parse(await download(page, 'result.json'));
    assert.equal(result.label, "browser's run");
    assert.equal(result.boundary, 'insulated');
    assert.equal(result.steps, 30);
    const stored = await drover.call('GET', `/api/v1/experiments/${id}`);
    assert.equal(stored.body.state, 'completed');
    assert.equal(stored.body.owner, 'alice');
    const drafts = await drover.call('GET', '/api/v1/experiments?state=created');
    assert.deepEqual(drafts.body.items, [], 'the previewed draft was launched, not left behind');
  });

  it('shows how far a running program says it is, with its values and estimated end, on its page and in the list', async () => {
    const running = await createAsAlice({
      application: 'heat-simulation',
      name: 'long heat',
      inputs: { duration_seconds: 40, steps: 80 },
    });
    try {
      const list = await openPage(alice);
      await list.goto(drover.url);
      const row = list.locator(`tr[data-id="${running.id}"]`);
      const listed = row.getByRole('progressbar', { name: 'Progress reported by the program' });
      await listed.waitFor({ timeout: 30_000 });
      await textMatching(row, /\d+% · ends ~\d{1,2}:\d{2}/);
      await list.close();

      const page = await openPage(alice);
      await page.goto(`${drover.url}/experiments/${running.id}`);
      const bar = region(page, 'Job').getByRole('progressbar', { name: 'Progress reported by the program' });
      await bar.waitFor();
      const first = Number(await bar.getAttribute('aria-valuenow'));
      // It moves live, from the event stream, without a reload.
      await markDocument(page);
      const deadline = Date.now() + 30_000;
      while (Number(await bar.getAttribute('aria-valuenow')) <= first && Date.now() < deadline)
        await page.waitForTimeout(250);
      assert.ok(Number(await bar.getAttribute('aria-valuenow')) > first, 'the bar moves on');
      await assertNotReloaded(page);
      assert.match((await bar.getAttribute('aria-valuetext')) ?? '', /^\d+%, \d+ of 80$/);
      const job = await textMatching(region(page, 'Job'), /estimated end \d{1,2}:\d{2}/);
      assert.match(job, /Elapsed \d/);
      assert.match(job, /walltime left \d+ min/);
      const reported = await page.getByLabel('Values reported by the program').innerText();
      assert.match(reported, /^t\s+0\.\d+/m);
      assert.match(reported, /^max\s+\d/m);
      assert.match(reported, /^mean\s+\d/m);
      await screenshot(page, 'experiment-progress');
      assert.deepEqual(await axeViolations(page), []);
      await page.close();
    } finally {
      await drover.call('POST', `/api/v1/experiments/${running.id}/cancel`, undefined, alice);
    }
  });

  it('submits pi-monte-carlo and word-count (with a file upload) and downloads their outputs', async () => {
    const page = await openPage(alice);
    await chooseApplication(page, 'pi-monte-carlo');
    await page.getByLabel('Samples').fill('20000');
    await page.getByLabel('Random seed').fill('7');
    await submit(page);
    await textMatching(experimentState(page), /^completed$/);
    const pi = JSON.parse(await download(page, 'result.json'));
    assert.equal(pi.samples, 20000);
    assert.equal(pi.seed, 7);

    await chooseApplication(page, 'word-count');
    assert.equal(await page.getByLabel('Text file (required)').getAttribute('type'), 'file');
    await page.getByLabel('Text file (required)').setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('The cat and the hat\nthe end\n'),
    });
    await page.getByLabel('Top words').fill('2');
    assert.equal(await page.getByLabel('Ignore case').isChecked(), true, 'the boolean default');
    await submit(page);
    await textMatching(experimentState(page), /^completed$/);
    // The uploaded file by its name, not its upload id.
    const inputs = await textMatching(region(page, 'Inputs'), /Text file ?text notes\.txt/);
    assert.doesNotMatch(inputs, /[0-9a-f]{8}-[0-9a-f]{4}-/);
    const counts = JSON.parse(await download(page, 'counts.json'));
    assert.equal(counts.lines, 2);
    assert.equal(counts.words, 7);
    assert.deepEqual(counts.topWords[0], { word: 'the', count: 3 });
    assert.equal(counts.topWords.length, 2);
  });

  it("shows a heat simulation's results on its page: headline values, the CSV plotted and as a table, the JSON inline", async () => {
    const run = await createAsAlice({
      application: 'heat-simulation',
      name: 'results on the page',
      inputs: { duration_seconds: 1, steps: 20, grid_points: 60, diffusivity: 0.005 },
    });
    const done = await waitForState(drover, run.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const result = (await drover.call('GET', `/api/v1/experiments/${run.id}/outputs/result.json`, undefined, alice))
      .body;
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments/${run.id}`);

    // The headline values the catalogue declares, under their labels.
    const results = await textMatching(region(page, 'Results'), /Steps completed 20\b/);
    assert.match(results, /Final maximum \d/);
    assert.match(results, /Wall time [\d.]+ s/);
    assert.match(results, /Status completed/);

    // profile.csv: a plot of temperature against x, drawn (pixels of the first line's colour), and a table.
    const outputs = region(page, 'Outputs');
    const plot = outputs.getByRole('img', { name: /^Plot of profile\.csv: Plot of temperature against x$/ });
    await plot.locator('canvas').first().waitFor();
    await waitFor('the plot to draw its line', () =>
      plot.evaluate((element) => {
        const canvas = element.querySelector('canvas')!;
        const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let line = 0;
        // #0072b2, the first series' colour (anti-aliased edges aside)
        for (let index = 0; index < pixels.length; index += 4)
          if (
            Math.abs(pixels[index] - 0) < 30 &&
            Math.abs(pixels[index + 1] - 114) < 30 &&
            Math.abs(pixels[index + 2] - 178) < 30
          )
            line++;
        return line > 200;
      }),
    );
    assert.equal(await outputs.getByLabel('x axis').inputValue(), '0', 'x is the first column');
    assert.equal(await outputs.getByRole('checkbox', { name: 'temperature' }).isChecked(), true);
    const table = outputs.getByRole('table', { name: /^profile\.csv: 60 rows$/ });
    assert.deepEqual(await table.locator('thead th').allInnerTexts(), ['x', 'temperature']);
    assert.equal(await table.locator('tbody tr').count(), 60);
    assert.equal((await table.locator('tbody tr').first().locator('td').allInnerTexts())[0], '0');

    // result.json pretty-printed inline.
    const json = outputs.getByLabel('Contents of result.json');
    assert.equal(await json.innerText(), JSON.stringify(result, null, 2));
    // The logs are in the Logs panel: their previews start folded.
    assert.equal(await outputs.locator('details:has(summary:has-text("stdout.txt"))').getAttribute('open'), null);
    await page.getByRole('heading', { name: 'Outputs' }).scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(screenshots, 'results-plot.png'), fullPage: true });
    assert.deepEqual(await axeViolations(page), []);

    // The list, filtered to heat simulations, has a column per headline value; unfiltered, one Result column.
    await page.goto(`${drover.url}/experiments?application=heat-simulation`);
    const row = page.locator(`tr[data-id="${run.id}"]`);
    await textMatching(row.locator('td[data-label="Steps completed"]'), /^20$/);
    await textMatching(row.locator('td[data-label="Status"]'), /^completed$/);
    assert.deepEqual(await page.locator('table.experiments thead th').allInnerTexts(), [
      'Name',
      'State',
      'Application',
      'Resource',
      'Created',
      'Final maximum',
      'Final mean',
      'Steps completed',
      'Wall time (s)',
      'Status',
    ]);
    assert.deepEqual(await axeViolations(page), []);
    await page.goto(`${drover.url}/experiments`);
    await textMatching(page.locator(`tr[data-id="${run.id}"] td[data-label="Result"]`), /^Final maximum: \d/);
  });

  it('shows image outputs inline and never an SVG (which can carry script)', async () => {
    const registered = await drover.call('POST', '/api/v1/applications', {
      name: 'draws-pictures',
      title: 'Draws pictures (test fixture)',
      outputs: ['*.png', '*.svg'],
      deployments: {
        '*': {
          command: [
            'node',
            '-e',
            `require('fs').writeFileSync('gradient.png', Buffer.from(process.argv[1], 'base64'));
require('fs').writeFileSync('drawing.svg', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>');`,
            gradientPng,
          ],
        },
      },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const run = await createAsAlice({ application: 'draws-pictures', name: 'pictures' });
    assert.equal((await waitForState(drover, run.id, ['completed', 'failed'])).state, 'completed');
    const page = await openPage(alice);
    page.on('dialog', (dialog) => {
      pages.report(`a dialog opened: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.goto(`${drover.url}/experiments/${run.id}`);
    const image = region(page, 'Outputs').getByRole('img', { name: 'Output image gradient.png' });
    await waitFor('the image to be decoded', () =>
      image.evaluate((element: HTMLImageElement) => element.naturalWidth === 48),
    );
    const svg = region(page, 'Outputs').locator('li', { has: page.locator('code', { hasText: /^drawing\.svg$/ }) });
    await svg.getByRole('button', { name: 'Download drawing.svg' }).waitFor();
    assert.equal(await svg.locator('details').count(), 0, 'no preview of an SVG');
    assert.equal(await region(page, 'Outputs').locator('svg, object, iframe, embed').count(), 0);
  });

  it('shows a failed job as failed in the task graph, with why it ended', async () => {
    const registered = await drover.call('POST', '/api/v1/applications', exitWithApplication);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const experiment = await createAsAlice({ application: 'exit-with', inputs: { code: 7 } });
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments/${experiment.id}`);
    await textMatching(experimentState(page), /^failed$/);
    const graph = page.getByRole('list', { name: /Task graph/ });
    await textMatching(graph.locator('[data-task="monitor"]'), /job failed, exit code 7/);
    assert.match((await graph.locator('[data-task="monitor"]').getAttribute('class')) ?? '', /task-failed/);
    const job = await textMatching(region(page, 'Job'), /Exit code 7/);
    assert.doesNotMatch(job, /Pending reason/);
  });

  it('says plainly, to screen readers too, when the server is gone', async () => {
    const second = await startTestDrover();
    let stopped = false;
    try {
      const draft = await second.call('POST', '/api/v1/experiments', {
        application: 'pi-monte-carlo',
        resource: 'local',
        launch: false,
      });
      assert.equal(draft.status, 201, JSON.stringify(draft.body));
      const page = await openPage(adminToken, undefined, second.url);
      await page.goto(`${second.url}/experiments/${draft.body.id}`);
      await textMatching(page.locator('.live-indicator'), /Live/);
      // This gateway has Drover's own colours (the other tests' has its theme): none fails a contrast rule.
      assert.deepEqual(await axeViolations(page), []);
      await second.stop();
      stopped = true;
      // The server ends its event streams as it stops: the page knows at once, not after a timeout.
      const status = page.getByRole('status').filter({ hasText: 'Connection to Drover lost' });
      await textMatching(status, /what you see may be out of date\. Reconnecting/, 10_000);
    } finally {
      if (!stopped) await second.stop();
    }
  });

  it('gives a text input a multi-line text area whose value reaches the program byte for byte', async () => {
    const registered = await drover.call('POST', '/api/v1/applications', {
      name: 'notes-dump',
      title: 'Notes dump',
      inputs: [{ name: 'notes', type: 'text', title: 'Notes', required: true }],
      outputs: ['argv.hex'],
      deployments: {
        '*': {
          command: [
            'bash',
            '-c',
            'printf "%s\\0" "$@" | od -An -v -tx1 | tr -d " \\n" > argv.hex',
            'drover-argv',
            '{{notes}}',
          ],
        },
      },
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const page = await openPage(alice);
    await chooseApplication(page, 'notes-dump');
    const notes = "first line\n#SBATCH --partition=evil\n\tindented 'quoted' $(touch pwned)\nlast";
    assert.equal(await page.getByLabel('Notes (required)').evaluate((element) => element.tagName), 'TEXTAREA');
    await page.getByLabel('Notes (required)').fill(notes);
    await submit(page);
    await textMatching(experimentState(page), /^completed$/);
    assert.equal(await download(page, 'argv.hex'), Buffer.from(`${notes}\0`, 'utf8').toString('hex'));
  });

  it("shows the server's validation errors next to the fields they concern", async () => {
    const page = await openPage(alice);
    await chooseApplication(page, 'pi-monte-carlo');
    const samples = page.getByLabel('Samples');
    await samples.fill('3000000000');
    await page.getByRole('button', { name: 'Submit experiment' }).click();
    const samplesField = page.locator('.field', { has: samples });
    await textMatching(samplesField, /must be at most 2000000000/);
    assert.equal(await samples.getAttribute('aria-invalid'), 'true');
    const description = await samples.getAttribute('aria-describedby');
    assert.ok(
      description?.split(' ').includes('input-samples-error'),
      "the message is part of the field's description",
    );
    assert.match(await page.locator('.error-summary').innerText(), /Samples: must be at most 2000000000/);
    await focusedIs(page, 'id', 'form-errors', 'the focus goes to the error summary');
    assert.match(page.url(), /\/experiments\/new/, 'nothing was submitted');

    // A walltime beyond the queue's limit: the queue shows its limit, the server refuses.
    await samples.fill('1000');
    await page.getByLabel('Queue').selectOption('short');
    assert.match(
      await page.getByRole('group', { name: 'Where and how it runs' }).innerText(),
      /short: up to 10 minutes and 2 cores/,
    );
    assert.equal(await page.getByLabel('Walltime (minutes)').getAttribute('max'), '10');
    assert.equal(
      await page.getByLabel('Walltime (minutes)').inputValue(),
      '10',
      'the walltime was brought inside the new queue',
    );
    await page.getByLabel('Walltime (minutes)').fill('20');
    await page.getByRole('button', { name: 'Submit experiment' }).click();
    const walltimeField = page.locator('.field', { has: page.getByLabel('Walltime (minutes)') });
    await textMatching(walltimeField, /must be at most 10 on queue short/);
    assert.equal(await samples.getAttribute('aria-invalid'), null, 'the fixed field is no longer marked');
    await screenshot(page, 'validation-errors');
    await page
      .locator('.error-summary')
      .getByRole('link', { name: /Walltime/ })
      .click();
    await focusedIs(page, 'id', 'setting-walltimeMinutes', 'the summary links to the field');

    await page.getByLabel('Walltime (minutes)').fill('5');
    await submit(page);
    await textMatching(experimentState(page), /^(queued|executing|completed)$/);
  });

  it('creates one experiment when the answer to a submit is lost, sending it again with the same Idempotency-Key', async () => {
    const page = await openPage(alice);
    await chooseApplication(page, 'pi-monte-carlo');
    const name = `lost answer ${Date.now()}`;
    await page.getByLabel('Experiment name').fill(name);
    const keys: string[] = [];
    await page.route('**/api/v1/experiments', async (route) => {
      const request = route.request();
      if (request.method() !== 'POST') return route.continue();
      keys.push(request.headers()['idempotency-key']);
      if (keys.length > 1) return route.continue();
      // The request reaches Drover, which creates the experiment; its answer never reaches the page.
      await route.fetch();
      await route.abort('connectionreset');
    });
    const id = await submit(page);
    assert.equal(keys.length, 2, 'the page sent the create again by itself');
    assert.match(keys[0], /^[0-9a-f]{32}$/);
    assert.equal(keys[1], keys[0]);
    const listed = await drover.call('GET', '/api/v1/experiments?limit=200', undefined, alice);
    assert.deepEqual(
      listed.body.items.filter((item: { name: string }) => item.name === name).map((item: { id: string }) => item.id),
      [id],
    );
  });

  it('lists experiments newest first, filters and searches them, and updates live', async () => {
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    await page.getByRole('table').waitFor();
    await markDocument(page);

    const live = await createAsAlice({
      application: 'heat-simulation',
      name: 'live list run',
      inputs: { duration_seconds: 2, steps: 4 },
    });
    const row = page.getByRole('row', { name: /live list run/ });
    await textMatching(row, /live list run/);
    assert.match(await page.getByRole('row').nth(1).innerText(), /live list run/, 'the newest is first');
    await textMatching(row, /executing/);
    await textMatching(row, /completed/, 30_000);
    await assertNotReloaded(page);
    await screenshot(page, 'experiment-list');

    await page.getByLabel('Search').fill('live list');
    await waitFor(
      'the search to apply',
      async () => (await page.getByRole('row').count()) === 2 && /q=live/.test(page.url()),
    );
    await page.getByLabel('Search').fill('');
    await page.getByLabel('State', { exact: true }).selectOption('completed');
    await page.getByLabel('Application', { exact: true }).selectOption('word-count');
    await waitFor(
      'the filters to apply',
      async () => /state=completed/.test(page.url()) && /application=word-count/.test(page.url()),
    );
    await waitFor('only completed word counts', async () => {
      const rows = await page.getByRole('row').allInnerTexts();
      return (
        rows.length > 1 &&
        rows.slice(1).every((text) => /word-count/.test(text) && /completed/.test(text)) &&
        !rows.some((text) => /live list run/.test(text))
      );
    });
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Created from').fill(new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10));
    await textMatching(page.getByRole('main'), /No experiment matches these filters/);
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await textMatching(page.getByRole('table'), /live list run/);

    // Paging: a page holds 20; everything alice has fits on pages that never repeat a row.
    for (let i = 0; i < 21; i++)
      await createAsAlice({
        application: 'pi-monte-carlo',
        name: `paging ${i}`,
        inputs: { samples: 100 },
        launch: false,
      });
    await page.reload();
    await textMatching(page.getByRole('table'), /paging 20/);
    const rowIds = () =>
      page.locator('tbody tr').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.id));
    const first = await rowIds();
    assert.equal(first.length, 20, 'a page holds 20');
    const all = (await drover.call('GET', '/api/v1/experiments/count', undefined, alice)).body.count;
    await textMatching(page.locator('.page-position'), new RegExp(`^Experiments 1–20 of ${all}\\.$`));
    await page.getByRole('button', { name: 'Older →' }).click();
    await waitFor(
      'the second page',
      async () => /cursor=/.test(page.url()) && !(await page.getByRole('table').innerText()).includes('paging 20'),
    );
    const second = await rowIds();
    assert.ok(second.length > 0 && second.every((id) => !first.includes(id)), 'no row on both pages');
    assert.ok(second.includes(live.id), 'older experiments are on the next page');
    await textMatching(
      page.locator('.page-position'),
      new RegExp(`^Experiments 21–${20 + second.length} of ${all}\\.$`),
    );
    await page.getByRole('button', { name: '← Newer' }).click();
    await textMatching(page.getByRole('table'), /paging 20/);
    await Promise.all(
      (await drover.call('GET', '/api/v1/experiments?state=created&limit=200', undefined, alice)).body.items.map(
        (item: any) => drover.call('DELETE', `/api/v1/experiments/${item.id}`, undefined, alice),
      ),
    );
  });

  it('cancels a running experiment after a confirmation', async () => {
    const running = await createAsAlice({
      application: 'heat-simulation',
      name: 'to be canceled',
      inputs: { duration_seconds: 600, steps: 600 },
    });
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments/${running.id}`);
    await textMatching(region(page, 'Job'), /State\s+running/);

    const cancel = page.getByRole('button', { name: 'Cancel experiment' });
    await cancel.click();
    const dialog = page.getByRole('dialog', { name: 'Cancel this experiment?' });
    await dialog.waitFor();
    await focusedIs(page, 'textContent', 'Keep it running', 'the safe choice has the focus');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await focusedIs(page, 'textContent', 'Cancel experiment', 'the focus returns to the button');
    assert.equal(
      (await drover.call('GET', `/api/v1/experiments/${running.id}`)).body.state,
      'executing',
      'Escape cancels nothing',
    );

    await cancel.click();
    await dialog.getByRole('button', { name: 'Cancel experiment' }).click();
    await textMatching(experimentState(page), /^canceled$/, 30_000);
    await textMatching(region(page, 'Timeline'), /canceling → canceled/);
    await textMatching(region(page, 'Job'), /State\s+canceled/);
    // What the dialog promised: the logs and the partial outputs came back.
    await textMatching(region(page, 'Results'), /Status interrupted by SIGTERM/);
    await region(page, 'Outputs').getByRole('button', { name: 'Download profile.csv' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Cancel experiment' }).count(), 0, 'nothing left to cancel');
    assert.equal((await waitForState(drover, running.id, ['canceled'])).job.state, 'canceled');
  });

  it('shows why a launched experiment waits and its place in line, and lets its owner raise it in their own line', async () => {
    const resource = await drover.call(
      'POST',
      '/api/v1/resources',
      localResourceWithLimits('one-at-a-time', drover.dataDir, { maxActiveJobs: 1 }),
    );
    assert.equal(resource.status, 201, JSON.stringify(resource.body));
    const application = await drover.call('POST', '/api/v1/applications', sleepForApplication);
    assert.equal(application.status, 201, JSON.stringify(application.body));
    const created = [];
    for (const name of ['runs first', 'waits first', 'waits second']) {
      created.push(await createAsAlice({ application: 'sleep-for', resource: 'one-at-a-time', name, inputs: {} }));
    }
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments/${created[2].id}`);
    const notice = page.locator('.waiting-notice');
    await textMatching(
      notice,
      /Waiting: queue normal of one-at-a-time runs at most 1 experiment at once, and it is taken\. Number 2 in line/,
    );
    assert.deepEqual(await axeViolations(page), []);

    await page.getByLabel('Your priority for it among your own waiting experiments').selectOption('2');
    await page.getByRole('button', { name: 'Save priority' }).click();
    await textMatching(notice.getByRole('status'), /^Saved/);
    await textMatching(notice, /Number 1 in line/);
    await screenshot(page, 'experiment-waiting');
    assert.equal((await drover.call('GET', `/api/v1/experiments/${created[2].id}`, undefined, alice)).body.priority, 2);

    // The list shows the place in line.
    await page.goto(`${drover.url}/`);
    await textMatching(page.locator(`tr[data-id="${created[1].id}"]`), /waiting, #2 in line/);
    for (const experiment of created) {
      await drover.call('POST', `/api/v1/experiments/${experiment.id}/cancel`, undefined, alice);
    }
  });

  it('lets Drover choose the resource (auto) and shows why it chose', async () => {
    const resource = await drover.call(
      'POST',
      '/api/v1/resources',
      localResourceWithLimits('second-local', drover.dataDir, {}),
    );
    assert.equal(resource.status, 201, JSON.stringify(resource.body));
    const application = await drover.call('POST', '/api/v1/applications', {
      ...sleepForApplication,
      name: 'nap-anywhere',
    });
    assert.equal(application.status, 201, JSON.stringify(application.body));
    const page = await openPage(alice);
    await chooseApplication(page, 'nap-anywhere');
    await page.locator('#input-seconds').fill('1');
    await page.getByLabel('Resource', { exact: true }).selectOption('auto');
    await textMatching(page.locator('#setting-auto-hint'), /picks the first/);
    assert.equal(await page.getByLabel('Queue').count(), 0, 'no queue to pick with resource auto');
    const id = await submit(page);
    const chosen = await textMatching(
      page.locator('.resource-choice'),
      /^Drover chose (local|second-local|one-at-a-time) \(auto\), expected to start first: runs at once on the Drover host/,
    );
    const experiment = (await drover.call('GET', `/api/v1/experiments/${id}`, undefined, alice)).body;
    assert.equal(chosen.split(' ')[2], experiment.resource);
    assert.equal((await waitForState(drover, id, ['completed', 'failed'], 60_000)).state, 'completed');
  });

  it('clones an experiment with a changed input; the clone links to its parent and shows the change', async () => {
    const parent = await createAsAlice({
      application: 'pi-monte-carlo',
      name: 'pi parent',
      inputs: { samples: 30000, seed: 3 },
    });
    await waitForState(drover, parent.id, ['completed']);
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments/${parent.id}`);
    await page.getByRole('button', { name: 'Clone' }).click();
    await page.getByRole('heading', { level: 1, name: 'Clone pi parent' }).waitFor();
    assert.equal(await page.getByLabel('Samples').inputValue(), '30000', 'the form starts from the old inputs');
    assert.equal(await page.getByLabel('Random seed').inputValue(), '3');
    assert.equal(await page.getByLabel('Experiment name').inputValue(), 'pi parent (clone)');
    await textMatching(region(page, 'Changes from the original'), /Nothing changed yet/);

    await page.getByLabel('Samples').fill('50000');
    const changes = await textMatching(region(page, 'Changes from the original'), /Samples: was 30000 → now 50000/);
    assert.doesNotMatch(changes, /seed/i);
    await screenshot(page, 'clone-form');

    const cloneId = await submit(page, 'Submit clone');
    assert.notEqual(cloneId, parent.id);
    const lineage = page.locator('.lineage');
    await textMatching(lineage, /Cloned from pi parent with changed inputs: samples \( ?was 30000 → now 50000\)/);
    await textMatching(experimentState(page), /^completed$/);
    const result = JSON.parse(await download(page, 'result.json'));
    assert.equal(result.samples, 50000);
    assert.equal(result.seed, 3, 'the unchanged input came from the parent');
    const clone = (await drover.call('GET', `/api/v1/experiments/${cloneId}`)).body;
    assert.equal(clone.parentId, parent.id);
    assert.deepEqual(clone.changedInputs, ['samples']);

    await lineage.getByRole('link', { name: 'pi parent' }).click();
    await page.waitForURL(new RegExp(`/experiments/${parent.id}$`));
    await page.getByRole('heading', { level: 1, name: 'pi parent' }).waitFor();
  });

  it('can be used with the keyboard alone', async () => {
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('heading', { level: 1, name: 'Experiments' }).waitFor();
    await focusedIs(page, 'tagName', 'H1', 'the page starts with the focus on its title');
    await page.keyboard.press('Tab');
    await focusedIs(page, 'textContent', 'New experiment', 'focus on New experiment');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'New experiment' }).waitFor();
    await focusedIs(page, 'tagName', 'H1', 'the focus starts on the new page');

    // The form appears once the applications are loaded; a Tab before that (a busy machine,
    // seen in CI) has nothing after the title to go to, as for a user who tabs that early.
    await page.locator('#application').waitFor();
    await focusedIs(page, 'tagName', 'H1', 'the focus stays on the title while the form appears');
    await page.keyboard.press('Tab');
    await focusedIs(page, 'id', 'application', 'focus on application');
    await page.keyboard.type('Monte'); // a closed select picks the option that starts with what is typed
    await page.getByLabel('Samples').waitFor();
    await page.keyboard.press('Tab');
    await focusedIs(page, 'id', 'input-samples', 'focus on input-samples');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused control is visibly marked');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('4242');
    await page.keyboard.press('Enter'); // submits the form
    await page.waitForURL(/\/experiments\/[0-9a-f-]{36}$/);
    await textMatching(experimentState(page), /^completed$/);
    await focusedIs(page, 'tagName', 'H1', 'focus on H1');
    const id = page.url().split('/').pop()!;
    assert.equal((await drover.call('GET', `/api/v1/experiments/${id}`)).body.inputs.samples, 4242);
  });

  it('has no accessibility violations that axe-core finds, on every page', async () => {
    const done = await createAsAlice({ application: 'pi-monte-carlo', name: 'axe check', inputs: { samples: 1000 } });
    await waitForState(drover, done.id, ['completed']);
    const clone = await drover.call(
      'POST',
      `/api/v1/experiments/${done.id}/clone`,
      { inputs: { samples: 2000 } },
      alice,
    );
    assert.equal(clone.status, 201, JSON.stringify(clone.body));
    const signedOut = await openPage(null);
    await signedOut.goto(`${drover.url}/`);
    await signedOut.getByLabel('API token').waitFor();
    const page = await openPage(alice);
    const pages: Array<[string, string, () => Promise<unknown>]> = [
      ['the sign-in page', '', async () => {}],
      ['the experiment list', '/experiments', () => page.getByRole('table').waitFor()],
      [
        'the new experiment form',
        '/experiments/new?application=heat-simulation',
        () => page.getByLabel('Label').waitFor(),
      ],
      ['an experiment', `/experiments/${done.id}`, () => region(page, 'Outputs').getByRole('button').first().waitFor()],
      ['its clone form', `/experiments/${done.id}/clone`, () => page.getByLabel('Samples').waitFor()],
      // Links on tinted panels: the clone's lineage and its changed inputs.
      ['a clone', `/experiments/${clone.body.id}`, () => page.locator('.lineage ins').waitFor()],
      ['the API tokens page', '/settings/tokens', () => page.getByRole('table').waitFor()],
    ];
    const violations: string[] = [];
    for (const [name, path, ready] of pages) {
      const current = path ? page : signedOut;
      if (path) await current.goto(`${drover.url}${path}`);
      await ready();
      violations.push(...(await axeViolations(current)).map((violation) => `${name}: ${violation}`));
    }
    assert.deepEqual(violations, []);
  });

  it('sets notification defaults, an experiment’s own choice, and shows the delivery log', async () => {
    const page = await openPage(alice);
    await page.goto(`${drover.url}/experiments`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Notifications' }).click();
    await page.getByRole('heading', { level: 1, name: 'Delivery log' }).waitFor();
    await page.getByRole('link', { name: 'Notification settings' }).click();
    await page.getByRole('heading', { level: 1, name: 'Notifications' }).waitFor();
    for (const event of ['completed', 'failed', 'canceled'])
      assert.equal(await page.getByLabel(event, { exact: true }).isChecked(), true, `${event} is a default`);
    await page.getByLabel('started', { exact: true }).check();
    await page.getByLabel('Webhook URL').fill('ftp://example.org/');
    await page.getByRole('button', { name: 'Save' }).click();
    await textMatching(page.locator('#notify-webhook-error'), /http/);
    await page.getByLabel('Email address').fill('alice@example.org');
    await page.getByLabel('Webhook URL').fill(`${receiver.url}/browser`);
    await page.getByRole('button', { name: 'Save' }).click();
    const secret = await textMatching(page.getByLabel('New webhook secret'), /^whsec_/);
    await textMatching(page.getByRole('main'), /Copy it now: it is not shown again/);
    assert.deepEqual(await axeViolations(page), []);
    await screenshot(page, 'notification-settings');
    const stored = await drover.call('GET', '/api/v1/notifications/settings', undefined, alice);
    assert.equal(stored.body.email, 'alice@example.org');
    assert.ok(!JSON.stringify(stored.body).includes(secret));

    // One run follows the defaults (its webhook's first try is refused, so it is retried)...
    receiver.script('/browser', [503]);
    const first = await createAsAlice({
      application: 'pi-monte-carlo',
      name: 'notified run',
      inputs: { samples: 1000 },
    });
    // ...one, made in the form, by email only.
    await chooseApplication(page, 'pi-monte-carlo');
    await page.getByLabel('Experiment name').fill('email only run');
    await page.getByLabel('Choose for this experiment').check();
    await page.getByLabel('by webhook').uncheck();
    const second = await submit(page);
    const notifications = region(page, 'Notifications');
    assert.equal(await notifications.getByLabel('Choose for this experiment').isChecked(), true);
    assert.equal(await notifications.getByLabel('by webhook').isChecked(), false);
    await waitForState(drover, first.id, ['completed']);
    await waitForState(drover, second, ['completed']);
    await waitFor('every delivery to be made', async () => {
      const log = await drover.call('GET', '/api/v1/notifications/deliveries', undefined, alice);
      return log.body.items.length === 6 && log.body.items.every((item: any) => item.state === 'delivered');
    });

    await notifications.getByRole('link', { name: 'Its deliveries in the log' }).click();
    await page.getByRole('heading', { level: 1, name: 'Delivery log' }).waitFor();
    const onlyEmail = await textMatching(page.getByRole('table'), /email only run/);
    assert.ok(!/webhook/.test(onlyEmail), 'one experiment’s deliveries: email only');
    await page.getByRole('link', { name: 'Show all.' }).click();
    const log = page.getByRole('table');
    await textMatching(log, /notified run/);
    const rows = log.locator('tbody tr');
    assert.equal(await rows.count(), 6);
    const retried = rows
      .filter({ hasText: 'notified run' })
      .filter({ hasText: 'webhook' })
      .filter({ hasText: 'started' });
    assert.match((await retried.innerText()).replace(/\s+/g, ' '), /delivered 2 200/);
    assert.deepEqual(await axeViolations(page), []);
    await screenshot(page, 'notification-log');
    assert.equal(smtp.messages().length, 4, 'four emails: two runs, start and end each');
  });

  it('fits a phone-sized window', async () => {
    const done = await createAsAlice({
      application: 'word-count',
      name: 'narrow window words',
      inputs: { text: await upload('a b c\n'), top: 1 },
    });
    await waitForState(drover, done.id, ['completed']);
    const page = await openPage(alice, { width: 375, height: 812 });
    const fits = async (what: string) => {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `${what} is ${width}px wide in a 375px window`);
    };
    await page.goto(`${drover.url}/experiments`);
    await textMatching(page.getByRole('main'), /narrow window words/);
    await fits('the list');
    await screenshot(page, 'narrow-list');
    await page.getByRole('link', { name: 'narrow window words' }).click();
    await textMatching(experimentState(page), /^completed$/);
    await region(page, 'Outputs').getByRole('button', { name: 'Download counts.json' }).waitFor();
    await fits('the experiment page');
    await screenshot(page, 'narrow-experiment');
    await chooseApplication(page, 'heat-simulation');
    await fits('the form');
  });
});

/** Uploads `text` as alice; returns the upload id. */
async function upload(text: string): Promise<string> {
  const uploaded = await drover.call('POST', '/api/v1/uploads?filename=notes.txt', Buffer.from(text), alice);
  assert.equal(uploaded.status, 201);
  return uploaded.body.id;
}
