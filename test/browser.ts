/**
 * What the browser tests share: Debian's Chromium (scripts/install-chromium.sh;
 * CHROMIUM_PATH overrides its path), pages in fresh contexts that count errors thrown in the
 * page and Content-Security-Policy refusals as failures, waiting for a text, and axe-core.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { projectRoot, sessionCookies } from './harness.ts';

/** Launches a headless Chromium; close it after the tests. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
}

/**
 * The pages of one test file. `open` makes each in a context of its own (own cookies and
 * storage); `closeAll`, after each test, closes them and fails the test when the page threw
 * or the browser refused something under the Content-Security-Policy: such an error is a
 * bug even when the test's assertions passed.
 */
export class TestPages {
  private readonly contexts: BrowserContext[] = [];
  private readonly errors: string[] = [];

  /** `browser` is read at each `open`: the file launches it in its `before`. */
  constructor(private readonly browser: () => Browser) {}

  /**
   * A page at the Drover at `url`, signed in as `token` (a session made from it, as the
   * sign-in page's token form does) unless it is null. Cookies are per host, not per port:
   * one session cookie per context.
   */
  async open(url: string, token: string | null, viewport = { width: 1200, height: 900 }): Promise<Page> {
    const context = await this.browser().newContext({ viewport, acceptDownloads: true, reducedMotion: 'reduce' });
    this.contexts.push(context);
    if (token) await context.addCookies(await sessionCookies(url, token));
    const page = await context.newPage();
    // Generous: CI runs this tier beside others on two cores.
    page.setDefaultTimeout(30_000);
    page.setDefaultNavigationTimeout(60_000);
    page.on('pageerror', (error) => this.errors.push(error.message));
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) this.errors.push(message.text());
    });
    return page;
  }

  /** Records an error a page caused that no assertion sees (a dialog it opened): `closeAll` fails on it. */
  report(error: string): void {
    this.errors.push(error);
  }

  /** Closes every page's context, then asserts that none of them saw an error. */
  async closeAll(): Promise<void> {
    await Promise.all(this.contexts.splice(0).map((context) => context.close()));
    assert.deepEqual(this.errors.splice(0), [], 'errors thrown in the page');
  }
}

/** Waits until the text of `locator`, white space collapsed, matches `pattern`; returns that text. */
export async function textMatching(locator: Locator, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.innerText({ timeout: 1000 }).catch(() => '')).replace(/\s+/g, ' ').trim();
    if (pattern.test(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${locator} to show ${pattern}; it shows ${JSON.stringify(last.slice(0, 500))}`,
  );
}

const axeSource = readFileSync(join(projectRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * What axe-core (WCAG 2 A and AA rules) finds wrong on the page as it is, one line per
 * element: the rule, why, and the element. Evaluated over the DevTools protocol, which the
 * page's Content-Security-Policy does not govern (a script tag would be refused).
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    (window as any).axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } }),
  );
  return results.violations.flatMap((violation: any) =>
    violation.nodes.map(
      (node: any) =>
        `${violation.id} (${violation.help}): ${node.failureSummary?.replace(/\s+/g, ' ')} at ${node.html}`,
    ),
  );
}
