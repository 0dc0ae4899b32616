/** Page object: Train (datasets, uploads, per-file results, photos and captions). */
import type { Locator, Page } from 'playwright-core';
import { byData } from './selectors';

/** The per-file statuses the results list shows. */
export type ImportStatus = 'accepted' | 'duplicate' | 'rejected';

/** The Train page. */
export class TrainPage {
  constructor(private readonly page: Page) {}

  /** A dataset's entry in the list. */
  dataset(name: string): Locator {
    return this.page.locator(`[data-testid="dataset-item"]${byData('dataset-name', name)}`);
  }

  /** Every dataset entry. */
  datasets(): Locator {
    return this.page.getByTestId('dataset-item');
  }

  /** Creates a dataset through the form and waits until it is the selected one. */
  async createDataset(name: string): Promise<void> {
    await this.page.getByLabel('New dataset').fill(name);
    await this.page.getByTestId('dataset-create').click();
    await this.dataset(name).and(this.page.locator('[data-selected="true"]')).waitFor();
    await this.page.getByTestId('selected-dataset').filter({ hasText: name }).waitFor();
  }

  /** Selects a dataset in the list. */
  async selectDataset(name: string): Promise<void> {
    await this.dataset(name).getByRole('button').click();
    await this.page.getByTestId('selected-dataset').filter({ hasText: name }).waitFor();
  }

  /** The "N images" text of a dataset entry. */
  datasetCount(name: string): Promise<string> {
    return this.dataset(name).getByTestId('dataset-count').innerText();
  }

  /** Uploads files through the page's file input, as the "Choose photos…" picker would. */
  async upload(files: readonly string[]): Promise<void> {
    await this.page.getByTestId('file-input').setInputFiles([...files]);
  }

  /** The last-import panel of the selected dataset. */
  importPanel(): Locator {
    return this.page.getByTestId('import-results');
  }

  /** The job id the last-import panel shows. */
  async importJobId(): Promise<string> {
    const id = await this.importPanel().getAttribute('data-job-id');
    if (!id) throw new Error('The import panel names no job');
    return id;
  }

  /** Waits until the last import is in one of `states` (e.g. succeeded). */
  async waitForImportState(state: string, timeout = 60_000): Promise<void> {
    await this.page.locator(`[data-testid="import-results"]${byData('job-state', state)}`).waitFor({ timeout });
  }

  /** Per-file result rows, optionally of one status. */
  results(status?: ImportStatus): Locator {
    const rows = this.page.getByTestId('import-result');
    return status ? rows.and(this.page.locator(byData('status', status))) : rows;
  }

  /** The result row of one file. */
  result(file: string): Locator {
    return this.page.locator(`[data-testid="import-result"]${byData('file', file)}`);
  }

  /** Thumbnails of the selected dataset. */
  thumbnails(): Locator {
    return this.page.getByTestId('dataset-thumb');
  }

  /** The caption box of the photo with this original name. */
  caption(originalName: string): Locator {
    return this.page.getByLabel(`Caption for ${originalName}`);
  }

  /** Clicks Remove on the photo with this original name. */
  async removePhoto(originalName: string): Promise<void> {
    await this.page.getByRole('button', { name: `Remove ${originalName} from the dataset` }).click();
  }

  /** Types a caption and commits it with Enter. */
  async setCaption(originalName: string, text: string): Promise<void> {
    const box = this.caption(originalName);
    await box.fill(text);
    await box.press('Enter');
  }
}
