/** Page object: the studio shell (navigation, connection state, reloads, artifacts). */
import type { Page } from 'playwright-core';
import { saveScreenshot } from '../support/browser';
import { JobTray } from './job-tray';

/** The pages in the sidebar. */
export type PageId = 'generate' | 'train' | 'gallery' | 'models' | 'wallet' | 'settings';

/** The whole app as a user sees it. */
export class StudioApp {
  readonly tray: JobTray;

  constructor(
    readonly page: Page,
    private readonly url: string,
  ) {
    this.tray = new JobTray(page);
  }

  /** Opens the studio (with the server's token, which the server trades for a cookie). */
  async open(): Promise<void> {
    await this.page.goto(this.url);
    await this.waitConnected();
  }

  /** Waits until the page is rendered and its event stream is live. */
  async waitConnected(): Promise<void> {
    await this.page.getByRole('navigation', { name: 'Studio' }).waitFor();
    await this.page.getByTestId('connection-banner').waitFor({ state: 'detached' });
  }

  /** Clicks a sidebar link and waits for its page. */
  async goTo(id: PageId): Promise<void> {
    await this.page.getByTestId(`nav-${id}`).click();
    await this.page.getByTestId(`page-${id}`).waitFor();
  }

  /** Reloads the page and waits until it is connected again. */
  async reload(): Promise<void> {
    await this.page.reload();
    await this.waitConnected();
  }

  /** Saves a screenshot artifact. */
  screenshot(name: string): Promise<string> {
    return saveScreenshot(this.page, name);
  }
}
