/** Page object: Train (datasets, uploads, per-file results, photos and captions; training runs). */
import type { Locator, Page } from 'playwright-core';
import { byData } from './selectors';

/** Training settings the form takes (blank ones keep the preset's or the default value). */
export type TrainSettings = {
  preset?: '' | 'sd1' | 'sd2' | 'sdxl';
  trigger?: string;
  steps?: number;
  resolution?: number;
  saveEvery?: number;
  sampleEvery?: number;
  lr?: string;
  samplePrompts?: string[];
  seed?: string;
};

/** The states a training run shows. */
export type TrainRunState = 'queued' | 'running' | 'paused' | 'succeeded' | 'failed' | 'canceled' | 'interrupted';

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

  /** Fills the training form (opening the advanced settings when needed). */
  async fillTraining(settings: TrainSettings): Promise<void> {
    const page = this.page;
    await page.getByTestId('train-model').locator('option').first().waitFor({ state: 'attached' });
    if (settings.preset !== undefined) await page.getByTestId('train-preset').selectOption(settings.preset);
    if (settings.trigger !== undefined) await page.getByTestId('train-trigger').fill(settings.trigger);
    const advanced: [string, string | undefined][] = [
      ['train-steps', settings.steps?.toString()],
      ['train-resolution', settings.resolution?.toString()],
      ['train-save-every', settings.saveEvery?.toString()],
      ['train-sample-every', settings.sampleEvery?.toString()],
      ['train-sample-prompts', settings.samplePrompts?.join('\n')],
      ['train-seed', settings.seed],
      ['train-lr', settings.lr],
    ];
    if (advanced.some(([, v]) => v !== undefined)) {
      const details = page.locator('details.advanced');
      if ((await details.getAttribute('open')) === null) await page.getByTestId('train-advanced').click();
      for (const [id, value] of advanced) if (value !== undefined) await page.getByTestId(id).fill(value);
    }
  }

  /** Starts training and waits for the run panel of a new job; resolves with its id. */
  async startTraining(): Promise<string> {
    const before = await this.runJobId();
    await this.page.getByTestId('train-start').click();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const id = await this.runJobId();
      if (id && id !== before) return id;
      if (Date.now() > deadline) throw new Error('No new training run appeared after Start training');
      await this.page.waitForTimeout(100);
    }
  }

  /** The run panel. */
  run(): Locator {
    return this.page.getByTestId('train-run');
  }

  /** The job id the run panel shows, or null when there is none. */
  async runJobId(): Promise<string | null> {
    return (await this.run().count()) > 0 ? this.run().getAttribute('data-job-id') : null;
  }

  /** Waits until the run is in `state`. */
  async waitForRunState(state: TrainRunState, timeout = 120_000): Promise<void> {
    await this.page.locator(`[data-testid="train-run"]${byData('job-state', state)}`).waitFor({ timeout });
  }

  /** The step the run panel shows. */
  async runStep(): Promise<number> {
    return Number(await this.run().getAttribute('data-step'));
  }

  /** How many points the loss chart draws (0 while it has none). */
  async chartPoints(): Promise<number> {
    const chart = this.page.getByTestId('loss-chart');
    return (await chart.count()) > 0 ? Number(await chart.getAttribute('data-points')) : 0;
  }

  /** The sample images of the run. */
  samples(): Locator {
    return this.page.getByTestId('train-sample');
  }

  /** Pause, Resume or Cancel on the run panel. */
  async runAction(action: 'pause' | 'resume' | 'cancel'): Promise<void> {
    await this.page.getByTestId(`train-${action}`).click();
  }

  /** The checkpoint cards of a stopped run. */
  checkpoints(): Locator {
    return this.page.getByTestId('train-checkpoint');
  }

  /** The card of the checkpoint at `step`. */
  checkpoint(step: number): Locator {
    return this.page.locator(`[data-testid="train-checkpoint"]${byData('step', String(step))}`);
  }

  /** The LoRA file the run's result names. */
  async resultFile(): Promise<string | null> {
    return this.page.getByTestId('train-result').getAttribute('data-file');
  }

  /** The name the run's LoRA has in the Models library, as the result shows it. */
  async resultLibraryName(): Promise<string | null> {
    return this.page.getByTestId('train-result-name').getAttribute('data-name');
  }

  /** The Resume button (for a cancelled run: "Resume from step N", with the step as `data-step`). */
  resumeButton(): Locator {
    return this.page.getByTestId('train-resume');
  }

  /** The ETA the running run shows ('' while there is none). */
  async eta(): Promise<string> {
    const eta = this.page.getByTestId('train-eta');
    return (await eta.count()) > 0 ? eta.innerText() : '';
  }

  /** How many points the smoothed-loss line of the chart has (0 while there is no chart). */
  async smoothedPoints(): Promise<number> {
    const line = this.page.getByTestId('loss-smooth');
    if ((await line.count()) === 0) return 0;
    return ((await line.getAttribute('points')) ?? '').split(' ').filter(Boolean).length;
  }

  /** Types a caption and commits it with Enter. */
  async setCaption(originalName: string, text: string): Promise<void> {
    const box = this.caption(originalName);
    await box.fill(text);
    await box.press('Enter');
  }
}
