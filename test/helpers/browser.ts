/**
 * Debian's Chromium driven by playwright-core, for end-to-end tests of the web UI: a fresh browser
 * profile per run, console errors and page errors collected (a test asserts there are none), and
 * screenshots saved to test-results/screenshots/ (git-ignored).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
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
