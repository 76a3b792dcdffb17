/** Debian's Chromium for the browser tier (scripts/install-chromium.sh); CHROMIUM_PATH overrides its path. */
import { chromium, type Browser } from 'playwright-core';

/** Launches a headless Chromium; close it after the tests. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
}
