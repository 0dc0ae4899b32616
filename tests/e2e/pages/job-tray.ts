/** Page object: the job tray docked under every page. */
import type { Locator, Page } from 'playwright-core';
import { byData } from './selectors';

/** The job tray. */
export class JobTray {
  readonly root: Locator;

  constructor(private readonly page: Page) {
    this.root = page.getByTestId('job-tray');
  }

  /** Queued and running jobs. */
  activeRows(): Locator {
    return this.root.getByTestId('active-jobs').getByTestId('job-row');
  }

  /** A job row (active or in the history) by job id. */
  row(jobId: string): Locator {
    return this.root.locator(`[data-testid="job-row"]${byData('job-id', jobId)}`);
  }

  /** Opens the history list if it is closed. */
  async showHistory(): Promise<Locator> {
    const toggle = this.root.getByTestId('job-history-toggle');
    if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
    return this.root.getByTestId('job-history').getByTestId('job-row');
  }

  /** Clicks the Cancel button of a job. */
  async cancel(jobId: string): Promise<void> {
    await this.row(jobId).getByTestId('job-cancel').click();
  }

  /** Waits until a job's row shows `state` (finished jobs are looked for in the history). */
  async waitForState(jobId: string, state: string, timeout = 60_000): Promise<void> {
    if (state !== 'queued' && state !== 'running') await this.showHistory();
    await this.root
      .locator(`[data-testid="job-row"]${byData('job-id', jobId)}${byData('state', state)}`)
      .first()
      .waitFor({ timeout });
  }
}
