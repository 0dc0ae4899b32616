/**
 * Debian's Chromium driven by playwright-core (no downloaded browsers), one context per
 * suite, and screenshots saved as artifacts under test-results/e2e/.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const ROOT = path.resolve(import.meta.dirname, '../../..');
/** Where screenshots go (gitignored). */
export const ARTIFACTS = path.join(ROOT, 'test-results/e2e');

const CHROMIUM = process.env['PINHOLE_E2E_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** A launched browser with one page. */
export type BrowserSession = {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors (CSP violations included), in order. */
  problems: string[];
  close(): Promise<void>;
};

/** Launches Chromium and opens a page with a desktop-sized viewport. */
export async function launchBrowser(): Promise<BrowserSession> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  const page = await context.newPage();
  // Waits stay well under the vitest timeouts so a failure names the locator, not the test.
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  return { browser, context, page, problems, close: () => browser.close() };
}

/** Saves a full-page screenshot as test-results/e2e/<name>.png; returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
