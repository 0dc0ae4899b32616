/** Page object: Generate (model, prompts with token counters, settings, init image and mask, the run). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { byData } from './selectors';

/** Settings as the test fills them; absent ones are left as they are. */
export type GenerateSettings = {
  prompt?: string;
  negativePrompt?: string;
  sampler?: string;
  steps?: number;
  cfgScale?: number;
  width?: number;
  height?: number;
  /** A seed to lock, or `random`. */
  seed?: string;
};

/** The job states the run panel shows. */
export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'interrupted';

// The tests' tsconfig has no DOM types: the few browser objects used are described here.
type BrowserGlobals = {
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: unknown[], name: string, options: { type: string }) => unknown;
};

/** The Generate page. */
export class GeneratePage {
  constructor(readonly page: Page) {}

  root(): Locator {
    return this.page.getByTestId('page-generate');
  }

  prompt(): Locator {
    return this.page.getByTestId('prompt-input');
  }

  negativePrompt(): Locator {
    return this.page.getByTestId('negative-prompt-input');
  }

  /** The `count/limit` counter of a prompt box. */
  tokenCount(box: 'prompt' | 'negative-prompt'): Locator {
    return this.page.getByTestId(`${box}-token-count`);
  }

  /** A settings field by name (`steps`, `cfgScale`, `width`, `seed`, `sampler`, `strength`, …). */
  field(name: string): Locator {
    return this.page.getByTestId(`field-${name}`);
  }

  /** The inline error of a field. */
  fieldError(name: string): Locator {
    return this.page.getByTestId(`error-${name}`);
  }

  modelSelect(): Locator {
    return this.page.getByTestId('model-select');
  }

  /** The VAE select: '' for the model's own, else a library VAE's file. */
  vaeSelect(): Locator {
    return this.page.getByTestId('vae-select');
  }

  generateButton(): Locator {
    return this.page.getByTestId('generate-button');
  }

  seedLock(): Locator {
    return this.page.getByTestId('seed-lock');
  }

  /** Locks the seed to `seed`, or switches to a random one. */
  async setSeed(seed: string): Promise<void> {
    const locked = (await this.seedLock().getAttribute('aria-pressed')) === 'true';
    if ((seed === 'random') === locked) await this.seedLock().click();
    if (seed !== 'random') await this.field('seed').fill(seed);
  }

  /** Fills the given settings. */
  async fill(settings: GenerateSettings): Promise<void> {
    if (settings.prompt !== undefined) await this.prompt().fill(settings.prompt);
    if (settings.negativePrompt !== undefined) await this.negativePrompt().fill(settings.negativePrompt);
    if (settings.sampler !== undefined) await this.field('sampler').selectOption(settings.sampler);
    const numbers = ['steps', 'cfgScale', 'width', 'height'] as const;
    for (const name of numbers) {
      const value = settings[name];
      if (value !== undefined) await this.field(name).fill(String(value));
    }
    if (settings.seed !== undefined) await this.setSeed(settings.seed);
  }

  /** The LoRA picker's select (adds the chosen LoRA). */
  loraSelect(): Locator {
    return this.page.getByTestId('lora-select');
  }

  /** The row of a chosen LoRA, by name. */
  loraRow(name: string): Locator {
    return this.page.locator(`[data-testid="lora-row"]${byData('name', name)}`);
  }

  /** Adds a LoRA by its name in the picker and sets its weight slider. */
  async addLora(name: string, weight: number): Promise<void> {
    await this.loraSelect().selectOption({ label: name });
    const row = this.loraRow(name);
    await row.waitFor();
    await row.getByTestId('lora-weight').fill(String(weight));
  }

  /** Removes a chosen LoRA. */
  async removeLora(name: string): Promise<void> {
    await this.loraRow(name).getByTestId('lora-remove').click();
    await this.loraRow(name).waitFor({ state: 'detached' });
  }

  /** The panel of the job the page watches. */
  run(): Locator {
    return this.page.getByTestId('generate-run');
  }

  /** Clicks Generate and waits until the page watches the new job; resolves to its id. */
  async generate(): Promise<string> {
    const before = (await this.run().count()) > 0 ? await this.run().getAttribute('data-job-id') : null;
    await this.generateButton().click();
    return this.waitForNewRun(before);
  }

  /** Waits until the page watches a job other than `before`; resolves to its id. */
  async waitForNewRun(before: string | null): Promise<string> {
    const selector = before
      ? `[data-testid="generate-run"]:not(${byData('job-id', before)})`
      : '[data-testid="generate-run"]';
    await this.page.locator(selector).waitFor();
    const jobId = await this.run().getAttribute('data-job-id');
    if (!jobId) throw new Error('The run panel names no job');
    return jobId;
  }

  /** Waits until the watched job is in `state`. */
  async waitForState(state: RunState, timeout = 120_000): Promise<void> {
    await this.page.locator(`[data-testid="generate-run"][data-state="${state}"]`).waitFor({ timeout });
  }

  /** The result thumbnails of the watched job. */
  results(): Locator {
    return this.page.getByTestId('generate-result');
  }

  /** The SHA-256 of every result image, in order. */
  resultShas(): Promise<string[]> {
    return this.results().evaluateAll((els) => els.map((el) => el.getAttribute('data-sha256') ?? ''));
  }

  /** Drops an image file onto the init-image area, as a drag from the desktop would. */
  async dropInitImage(file: string): Promise<void> {
    const base64 = (await readFile(file)).toString('base64');
    const transfer = await this.page.evaluateHandle(
      ({ base64, name }) => {
        const g = globalThis as unknown as BrowserGlobals;
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const dataTransfer = new g.DataTransfer();
        dataTransfer.items.add(new g.File([bytes], name, { type: 'image/png' }));
        return dataTransfer;
      },
      { base64, name: path.basename(file) },
    );
    const target = this.page.getByTestId('init-drop');
    await target.dispatchEvent('dragenter', { dataTransfer: transfer });
    await target.dispatchEvent('dragover', { dataTransfer: transfer });
    await target.dispatchEvent('drop', { dataTransfer: transfer });
    await this.page.getByTestId('init-preview').waitFor();
  }

  /** Picks an init image through the file chooser. */
  async chooseInitImage(file: string): Promise<void> {
    await this.page.getByTestId('init-file-input').setInputFiles(file);
    await this.page.getByTestId('init-preview').waitFor();
  }

  /** Removes the init image (and its mask). */
  async removeInitImage(): Promise<void> {
    if ((await this.page.getByTestId('init-remove').count()) > 0) await this.page.getByTestId('init-remove').click();
    await this.page.getByTestId('init-drop').waitFor();
  }

  /** Sets the denoising strength slider. */
  async setStrength(value: number): Promise<void> {
    await this.field('strength').fill(String(value));
  }

  /** The mask canvas. */
  maskCanvas(): Locator {
    return this.page.getByTestId('mask-canvas');
  }

  /**
   * Paints one stroke on the mask through the given points, each as fractions (0…1) of the
   * canvas's width and height, with the mouse.
   */
  async paintStroke(points: readonly [number, number][]): Promise<void> {
    const box = await this.maskCanvas().boundingBox();
    if (!box) throw new Error('The mask canvas is not visible');
    const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
    const [first, ...rest] = points;
    if (!first) return;
    await this.page.mouse.move(...at(first));
    await this.page.mouse.down();
    for (const point of rest) await this.page.mouse.move(...at(point), { steps: 8 });
    await this.page.mouse.up();
  }

  /** "Generating", "Done"… */
  mode(): Promise<string> {
    return this.page.getByTestId('generate-mode').innerText();
  }
}
