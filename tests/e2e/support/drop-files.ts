/**
 * Drags files from disk over an element and drops them, as a drag from the desktop would: dragenter,
 * dragover and drop, each carrying one DataTransfer with the files; the events bubble to the window
 * like real ones.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';

// The tests' tsconfig has no DOM types: the few browser objects used are described here.
type BrowserGlobals = {
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: unknown[], name: string, options: { type: string }) => unknown;
};

/** A file to drop and the MIME type the browser would give it. */
export type DroppedFile = { file: string; type: string };

/** Drags `files` over `target` (dragenter, dragover) without dropping them; resolves to the drag's DataTransfer. */
export async function dragFiles(page: Page, target: Locator, files: readonly DroppedFile[]) {
  const payload = await Promise.all(
    files.map(async ({ file, type }) => ({
      base64: (await readFile(file)).toString('base64'),
      name: path.basename(file),
      type,
    })),
  );
  const transfer = await page.evaluateHandle((items) => {
    const g = globalThis as unknown as BrowserGlobals;
    const dataTransfer = new g.DataTransfer();
    for (const { base64, name, type } of items) {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      dataTransfer.items.add(new g.File([bytes], name, { type }));
    }
    return dataTransfer;
  }, payload);
  await target.dispatchEvent('dragenter', { dataTransfer: transfer });
  await target.dispatchEvent('dragover', { dataTransfer: transfer });
  return transfer;
}

/** Drops `files` on `target`, after dragging them over it. */
export async function dropFiles(page: Page, target: Locator, files: readonly DroppedFile[]): Promise<void> {
  const transfer = await dragFiles(page, target, files);
  await target.dispatchEvent('drop', { dataTransfer: transfer });
}
