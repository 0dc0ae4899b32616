/**
 * Losing the server: the page says it is reconnecting, comes back by itself with backoff
 * when the server returns, and re-fetches state it missed while the event stream was down.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StudioApp } from './pages/studio-app';
import { TrainPage } from './pages/train-page';
import { launchBrowser, type BrowserSession } from './support/browser';
import { startStudioServer, type StudioServer } from './support/server';

const TOKEN = 'e2e-reconnect-token';

describe('Reconnecting', () => {
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let train: TrainPage;

  beforeAll(async () => {
    server = await startStudioServer({ token: TOKEN });
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    train = new TrainPage(session.page);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
  });

  test('shows the outage, reconnects when the server is back and re-fetches what changed meanwhile', async () => {
    await app.goTo('train');
    await train.createDataset('Before the outage');

    await server.halt();
    const banner = session.page.getByTestId('connection-banner');
    await banner.and(session.page.locator('[data-status="reconnecting"]')).waitFor();
    await app.screenshot('reconnecting');
    // Stay down long enough for the backoff to grow past its first steps.
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    await server.restart();
    // A change made through the API right away, most likely before the page's socket is back:
    // the page can only learn of it by re-fetching on reconnect, not from an event.
    const response = await fetch(`${server.origin}/api/call/datasets.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Made while away' }),
    });
    expect(((await response.json()) as { ok: boolean }).ok).toBe(true);

    await banner.waitFor({ state: 'detached', timeout: 30_000 });
    await train.dataset('Made while away').waitFor();
    expect(await train.datasets().count()).toBe(2);
    // Calls work again over the same session cookie.
    await train.selectDataset('Made while away');
    await app.screenshot('reconnected');

    // While the server was down, only connection failures may have been logged.
    const unexpected = session.problems.filter(
      (p) => !/WebSocket connection|Failed to load resource|ERR_CONNECTION_REFUSED/.test(p),
    );
    expect(unexpected).toEqual([]);
  });
});
