/**
 * The studio shell: every page is reachable from the sidebar, pages whose engines are not
 * built say so plainly with nothing pretending to work, and Settings shows the app facts.
 * (Generate itself is exercised in generate.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StudioApp, type PageId } from './pages/studio-app';
import { launchBrowser, type BrowserSession } from './support/browser';
import { startStudioServer, type StudioServer } from './support/server';

// Models is built (tests/e2e/models.test.ts).
const NOT_BUILT: PageId[] = ['wallet'];

describe('Studio shell', () => {
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;

  beforeAll(async () => {
    server = await startStudioServer();
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
  });

  test.each(NOT_BUILT)('%s says it is not available and offers no controls', async (id) => {
    await app.goTo(id);
    const main = session.page.getByTestId(`page-${id}`);
    expect(await main.getByTestId('not-built').innerText()).toMatch(
      /not available in this build|not part of this build/i,
    );
    // Nothing to click or type into: no fake forms.
    expect(await main.locator('button, input, textarea, select').count()).toBe(0);
    expect(await session.page.getByTestId(`nav-${id}`).getAttribute('aria-current')).toBe('page');
  });

  test('Generate is built: its form is there and it is not marked "soon"', async () => {
    await app.goTo('generate');
    const main = session.page.getByTestId('page-generate');
    await main.getByTestId('prompt-input').waitFor();
    expect(await main.getByTestId('not-built').count()).toBe(0);
    expect(await session.page.getByTestId('nav-generate').innerText()).not.toMatch(/soon/i);
    // A fresh data home has no model: Generate says why it cannot start.
    await main.getByTestId('models-empty').waitFor();
    expect(await main.getByTestId('generate-button').isDisabled()).toBe(true);
  });

  test('Settings shows version, mode and data folder', async () => {
    await app.goTo('settings');
    const info = session.page.getByTestId('app-info');
    await info.waitFor();
    expect(await info.getByTestId('app-version').innerText()).toMatch(/^\d+\.\d+\.\d+/);
    expect(await info.getByTestId('app-mode').innerText()).toContain('Headless');
    expect(await info.getByTestId('app-data-dir').innerText()).toBe(server.dataDir);
    await app.screenshot('settings');
  });

  test('Settings shows where the engine runs, why others were skipped, and switches provider', async () => {
    await app.goTo('settings');
    const panel = session.page.getByTestId('engine-settings');
    const provider = panel.getByTestId('engine-provider');
    await provider.waitFor({ timeout: 60_000 });
    // Every provider tried is listed; the chosen one last, each skipped one with its reason.
    const attempts = panel.getByTestId('engine-attempts').locator('li');
    const count = await attempts.count();
    expect(count).toBeGreaterThan(0);
    expect(await attempts.nth(count - 1).getAttribute('data-ok')).toBe('true');
    for (let i = 0; i < count - 1; i++) expect(await attempts.nth(i).innerText()).toMatch(/skipped — \S/);

    const select = panel.getByTestId('engine-provider-select');
    expect(await select.inputValue()).toBe('auto');
    expect(await panel.getByTestId('engine-provider-apply').isDisabled()).toBe(true);
    await select.selectOption('cpu');
    await panel.getByTestId('engine-provider-apply').click();
    await panel.getByTestId('engine-source').getByText('Chosen below.').waitFor({ timeout: 60_000 });
    expect(await provider.innerText()).toMatch(/^CPU/);
    // Stored in the data home: a reload shows the choice.
    await app.reload();
    await app.goTo('settings');
    await panel.getByTestId('engine-source').getByText('Chosen below.').waitFor({ timeout: 60_000 });
    expect(await panel.getByTestId('engine-provider-select').inputValue()).toBe('cpu');
    await app.screenshot('settings-engine');
  });

  test('the job tray is on every page and collapses', async () => {
    for (const id of ['train', 'gallery', 'settings'] as const) {
      await app.goTo(id);
      expect(await app.tray.root.isVisible()).toBe(true);
    }
    const header = app.tray.root.getByRole('button', { name: /Jobs/ });
    await header.click();
    expect(await header.getAttribute('aria-expanded')).toBe('false');
    // The choice survives a reload.
    await app.reload();
    expect(await app.tray.root.getByRole('button', { name: /Jobs/ }).getAttribute('aria-expanded')).toBe('false');
    await app.tray.root.getByRole('button', { name: /Jobs/ }).click();
  });

  test('the page logged no errors (CSP violations included)', () => {
    expect(session.problems).toEqual([]);
  });
});
