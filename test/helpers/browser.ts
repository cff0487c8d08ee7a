/**
 * Debian's Chromium driven by playwright-core, for end-to-end tests of the web UI: a fresh browser
 * profile per run, console errors and page errors collected (a test asserts there are none), and
 * screenshots saved to test-results/screenshots/ (git-ignored).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT } from './berth-process.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'test-results', 'screenshots');

export interface UiBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors so far. */
  errors: string[];
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * `ignoreHTTPSErrors` for a server with Berth's own CA, which this browser profile does not trust;
 * `args`: more Chromium switches (a host resolver rule, say).
 */
export async function openBrowser(baseURL: string, options: { ignoreHTTPSErrors?: boolean; args?: string[] } = {}): Promise<UiBrowser> {
  const { args = [], ...contextOptions } = options;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...args],
  });
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 860 }, colorScheme: 'light', locale: 'en-US', timezoneId: 'UTC', acceptDownloads: true, ...contextOptions });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  await fs.mkdir(SCREENSHOTS, { recursive: true });
  return {
    browser,
    context,
    page,
    errors,
    async screenshot(name: string) {
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
    },
    async close() {
      await context.close();
      await browser.close();
    },
  };
}

/**
 * What `read` gives once `accept` says the page has settled (a tab switched, data loaded, a value
 * filled in by an async handler): polled, like playwright's expect; a read that never settles fails
 * with the last value seen. Reading a page once, right after an action, races the page's own work.
 */
export async function settled<T>(read: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let failure: unknown = null;
  for (;;) {
    try {
      last = await read();
      failure = null;
      if (accept(last)) return last;
    } catch (err) {
      failure = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last seen: ${failure ? String(failure) : JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The text of `locator` once it matches `pattern`. */
export function textMatching(locator: Locator, pattern: RegExp): Promise<string> {
  return settled(() => locator.innerText(), (text) => pattern.test(text), `text matching ${pattern}`);
}

/** The value of the input `locator` once it is `expected`. */
export function valueBecomes(locator: Locator, expected: string): Promise<string> {
  return settled(() => locator.inputValue(), (value) => value === expected, `the value ${JSON.stringify(expected)}`);
}

/**
 * Removes from `ui.errors` the failed request a test provoked on purpose (Chromium logs every one):
 * the answer `status` for `url`; fails when there is none. Anything else stays an error.
 */
export function expectRefusal(ui: UiBrowser, url: string, status = 400): void {
  const index = ui.errors.findIndex((e) => e.includes(`status of ${status}`) && e.includes(`${url})`));
  assert.ok(index >= 0, `a ${status} for ${url} in ${ui.errors.join('\n')}`);
  ui.errors.splice(index, 1);
}
