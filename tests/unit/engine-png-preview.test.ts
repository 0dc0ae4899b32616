/** Latent previews (latent2rgb) and the pixel ↔ tensor conversions around the VAE. */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  latentToRgb,
  loadMask,
  maskToLatentGrid,
  pasteOutsideMask,
  rgbToPngDataUrl,
  rgbToTensor,
  roundHalfEven,
  tensorToRgb,
  LATENT_RGB_SD,
  LATENT_RGB_SDXL,
} from '../../src-main/engine/image';

describe('latent2rgb preview', () => {
  it('maps each latent pixel through the 4×3 matrix and (x + 1) / 2', () => {
    // [2, 4, 1, 2]: two images, 4 channels, 1×2 pixels.
    const latents = new Float32Array(2 * 4 * 2);
    // image 1, pixel 0: channel c = c + 1; pixel 1: all zero.
    for (let c = 0; c < 4; c++) latents[8 + c * 2] = c + 1;
    const image = latentToRgb(latents, [2, 4, 1, 2], 1, LATENT_RGB_SD);
    expect([image.width, image.height]).toEqual([2, 1]);
    const expected = [0, 1, 2].map((r) => {
      const x = LATENT_RGB_SD.reduce((s, row, c) => s + (c + 1) * row[r]!, 0);
      return Math.round(255 * Math.min(1, Math.max(0, (x + 1) / 2)));
    });
    expect(Array.from(image.data.subarray(0, 3))).toEqual(expected);
    expect(Array.from(image.data.subarray(3))).toEqual([128, 128, 128]); // zero latents → mid gray
    expect(LATENT_RGB_SDXL).toHaveLength(4);
  });

  it('clamps and encodes a small PNG data URL', async () => {
    const latents = new Float32Array(4 * 8 * 8).fill(100);
    const url = await rgbToPngDataUrl(latentToRgb(latents, [1, 4, 8, 8]));
    expect(url.startsWith('data:image/png;base64,')).toBe(true);
    const png = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([8, 8, 3]);
    expect(data[0]).toBe(255); // 100 × (0.298 + 0.187 − 0.158 − 0.184) > 1 → clamped
  });
});

describe('pixels and tensors', () => {
  it('rounds half to even like numpy', () => {
    expect([0.5, 1.5, 2.5, 254.5, 3.4999, 3.5001].map(roundHalfEven)).toEqual([0, 2, 2, 254, 3, 4]);
  });

  it('post-processes the decoder output like diffusers', () => {
    // [1, 3, 1, 2]: R = (−1, 1), G = (−2, 2), B = (0, 0.00392157)
    const decoded = Float32Array.from([-1, 1, -2, 2, 0, 0.00392157]);
    const image = tensorToRgb(decoded, [1, 3, 1, 2]);
    // (0 / 2 + 0.5) × 255 = 127.5 → 128 (ties to even); (0.0039/2 + 0.5) × 255 = 128.0 → 128
    expect(Array.from(image.data)).toEqual([0, 0, 128, 255, 255, 128]);
  });

  it('normalizes RGB8 to [−1, 1] channel-first', () => {
    const t = rgbToTensor({ data: Uint8Array.from([0, 255, 51, 102, 153, 204]), width: 2, height: 1 });
    const norm = (v: number) => Math.fround(Math.fround(2 * Math.fround(v / 255)) - 1);
    expect(Array.from(t)).toEqual([-1, norm(102), 1, norm(153), norm(51), norm(204)]);
  });

  it('binarizes a mask at 0.5 and resizes it to the latent grid by nearest neighbour', async () => {
    // 4×2 mask: gray levels around the threshold (127 < 127.5 ≤ 128) and colours through PIL's luma.
    const rgb = Uint8Array.from(
      [
        [255, 255, 255],
        [128, 128, 128],
        [127, 127, 127],
        [0, 0, 0],
        [255, 0, 0], // luma 76 → keep
        [0, 255, 0], // luma 150 → repaint
        [255, 255, 0], // luma 226 → repaint
        [0, 0, 255], // luma 29 → keep
      ].flat(),
    );
    const mask = await loadMask({ data: rgb, width: 4, height: 2 }, 4, 2);
    expect(Array.from(mask)).toEqual([1, 1, 0, 0, 0, 1, 1, 0]);
    expect(Array.from(maskToLatentGrid(mask, 4, 2, 2, 1))).toEqual([1, 0]);
    const big = new Float32Array(16 * 16);
    for (let y = 4; y < 12; y++) for (let x = 8; x < 16; x++) big[y * 16 + x] = 1;
    // Latent pixel (y, x) takes image pixel (8y, 8x): only (1, 1) → (8, 8) lies in the rectangle.
    expect(Array.from(maskToLatentGrid(big, 16, 16, 2, 2))).toEqual([0, 0, 0, 1]);
  });

  it('pastes the original back where the mask keeps it', () => {
    const generated = { data: new Uint8Array(6).fill(9), width: 2, height: 1 };
    const original = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 2, height: 1 };
    expect(Array.from(pasteOutsideMask(generated, original, Float32Array.of(0, 1)).data)).toEqual([1, 2, 3, 9, 9, 9]);
  });
});
