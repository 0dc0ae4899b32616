/** Page object: Models (the library's tables, import by upload or drop, per-file outcomes, row actions). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { byData } from './selectors';

/** A file outcome as the import panel shows it. */
export type ImportOutcomeRow = { status: string; file: string; detail: string };

// The tests' tsconfig has no DOM types: the few browser objects used are described here.
type BrowserGlobals = {
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: unknown[], name: string, options: { type: string }) => unknown;
};

/** The Models page. */
export class ModelsPage {
  constructor(readonly page: Page) {}

  root(): Locator {
    return this.page.getByTestId('models-page');
  }

  /** Uploads files through the page's file chooser (headless mode). */
  async upload(files: string[]): Promise<void> {
    await this.page.getByTestId('models-file-input').setInputFiles(files);
  }

  /** Drops a file anywhere on the page, as a drag from the desktop would. */
  async drop(file: string): Promise<void> {
    const base64 = (await readFile(file)).toString('base64');
    const transfer = await this.page.evaluateHandle(
      ({ base64, name }) => {
        const g = globalThis as unknown as BrowserGlobals;
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const dataTransfer = new g.DataTransfer();
        dataTransfer.items.add(new g.File([bytes], name, { type: 'application/octet-stream' }));
        return dataTransfer;
      },
      { base64, name: path.basename(file) },
    );
    const target = this.root();
    await target.dispatchEvent('dragenter', { dataTransfer: transfer });
    await target.dispatchEvent('dragover', { dataTransfer: transfer });
    await target.dispatchEvent('drop', { dataTransfer: transfer });
  }

  /** The import the panel watches. */
  importJob(): Locator {
    return this.page.getByTestId('models-import-job');
  }

  /** Waits for the watched import to finish; resolves to its per-file outcomes. */
  async importOutcomes(count: number): Promise<ImportOutcomeRow[]> {
    await this.page.locator('[data-testid="models-import-job"][data-job-state="succeeded"]').waitFor();
    const rows = this.page.getByTestId('models-import-result');
    await rows.nth(count - 1).waitFor();
    return rows.evaluateAll((els) =>
      els.map((el) => ({
        status: el.getAttribute('data-status') ?? '',
        file: el.children[1]?.textContent ?? '',
        detail: el.children[2]?.textContent ?? '',
      })),
    );
  }

  /** The table row of a library model (by name and kind). */
  row(name: string, kind = 'checkpoint'): Locator {
    return this.page.locator(`[data-testid="model-row"]${byData('name', name)}${byData('kind', kind)}`);
  }

  /** The short hash a row shows. */
  shortHash(name: string, kind = 'checkpoint'): Promise<string> {
    return this.row(name, kind).getByTestId('model-short-hash').innerText();
  }

  /** A checkpoint's prediction select: '' (from the weights), `epsilon` or `v_prediction`. */
  prediction(name: string): Locator {
    return this.row(name).getByTestId('model-prediction');
  }

  async rename(name: string, to: string, kind = 'checkpoint'): Promise<void> {
    const row = this.row(name, kind);
    await row.getByRole('button', { name: 'Rename' }).click();
    await row.getByTestId('model-rename-input').fill(to);
    await row.getByTestId('model-rename-save').click();
    await this.row(to, kind).waitFor();
  }

  async makeDefault(name: string, kind = 'checkpoint'): Promise<void> {
    await this.row(name, kind).getByTestId('model-set-default').click();
    await this.row(name, kind).getByTestId('model-default').waitFor();
  }

  /** Clicks Delete and answers the confirmation; resolves to what the confirmation said. */
  async delete(name: string, kind = 'checkpoint'): Promise<string> {
    const row = this.row(name, kind);
    await row.getByTestId('model-delete').click();
    const message = await row.getByTestId('model-delete-message').innerText();
    await row.getByTestId('model-delete-confirm').click();
    await row.waitFor({ state: 'detached' });
    return message;
  }

  /** The notice the page shows after an action (e.g. what a removed model was used by). */
  notice(): Locator {
    return this.page.getByTestId('models-notice');
  }

  /** A catalogue entry by its id. */
  catalogueItem(id: string): Locator {
    return this.page.locator(`[data-testid="catalogue-item"]${byData('id', id)}`);
  }
}
