/**
 * Reading library media the way the page does (its own origin, its session cookie) and
 * comparing decoded pixels with the fixtures' raw RGB references.
 */
import type { Page } from 'playwright-core';
import sharp from 'sharp';

export { compareRgb } from '../../helpers/reference-images';

/** Fetches a URL from inside the page (relative URLs resolve against it); resolves to the bytes. */
export async function fetchInPage(page: Page, url: string): Promise<Buffer> {
  const base64 = await page.evaluate(async (address) => {
    const response = await fetch(address);
    if (!response.ok) throw new Error(`${address} answered ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }, url);
  return Buffer.from(base64, 'base64');
}

/** Calls the API from inside the page (the headless transport, with the page's session). */
export async function callInPage<T>(page: Page, method: string, params: unknown): Promise<T> {
  const answer = await page.evaluate(
    async ({ method, params }) => {
      const response = await fetch(`/api/call/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params),
      });
      return (await response.json()) as { ok: boolean; result?: unknown; error?: { message: string } };
    },
    { method, params },
  );
  if (!answer.ok) throw new Error(`${method} failed: ${answer.error?.message ?? 'unknown error'}`);
  return answer.result as T;
}

/** An image decoded to 8-bit RGB. */
export type Rgb = { data: Buffer; width: number; height: number };

/** Decodes PNG/JPEG/WebP bytes to RGB (alpha dropped). */
export async function decodeRgb(bytes: Buffer | string): Promise<Rgb> {
  const { data, info } = await sharp(bytes)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/**
 * Mean absolute difference of two RGB images inside and outside a mask (one byte per pixel,
 * ≥ 128 = inside), averaged over the channels.
 */
export function maskedDifference(a: Rgb, b: Rgb, mask: Uint8Array): { inside: number; outside: number } {
  let inside = 0;
  let outside = 0;
  let insideCount = 0;
  let outsideCount = 0;
  for (let p = 0; p < mask.length; p++) {
    let d = 0;
    for (let c = 0; c < 3; c++) d += Math.abs(a.data[p * 3 + c]! - b.data[p * 3 + c]!);
    if (mask[p]! >= 128) {
      inside += d / 3;
      insideCount++;
    } else {
      outside += d / 3;
      outsideCount++;
    }
  }
  return { inside: inside / Math.max(1, insideCount), outside: outside / Math.max(1, outsideCount) };
}
