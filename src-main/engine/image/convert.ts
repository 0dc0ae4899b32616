import sharp from 'sharp';
import { PinholeError } from '../../../src-shared/errors';
import type { RgbImage } from './latent-preview';

/**
 * Pixels ↔ tensors, as diffusers' `VaeImageProcessor` does it: images in [−1, 1] for the VAE encoder, masks in
 * grayscale binarized at 0.5, the decoder's output rounded to RGB8. Arithmetic is float32 like torch/numpy.
 */

/** An image the engine takes: a file path, an encoded file's bytes (PNG, JPEG, WebP…), or raw RGB8 pixels. */
export type ImageInput = string | Uint8Array | RgbImage;

function isRgbImage(input: ImageInput): input is RgbImage {
  return typeof input === 'object' && !(input instanceof Uint8Array);
}

/** Decodes an input to RGB8 (alpha dropped over black, as PIL's `convert("RGB")` does). */
export async function readRgb(input: ImageInput): Promise<RgbImage> {
  if (isRgbImage(input)) {
    if (input.data.length !== input.width * input.height * 3) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `raw image data does not hold ${input.width}×${input.height} RGB pixels`,
      );
    }
    return input;
  }
  try {
    const { data, info } = await sharp(input)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (error) {
    const what = typeof input === 'string' ? input : 'the image data';
    throw new PinholeError('INVALID_PARAMS', `Cannot read ${what} as an image`, { cause: error });
  }
}

/** Resizes raw pixels (1 or 3 channels) with Lanczos (PIL's and diffusers' default resample), unless already that size. */
async function resizeRaw(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  toWidth: number,
  toHeight: number,
): Promise<Uint8Array> {
  if (width === toWidth && height === toHeight) return data;
  const out = await sharp(data, { raw: { width, height, channels } })
    .resize(toWidth, toHeight, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** An input as RGB8 of exactly `width × height` (resized without keeping the aspect ratio, as diffusers does). */
export async function loadRgb(input: ImageInput, width: number, height: number): Promise<RgbImage> {
  const image = await readRgb(input);
  return { data: await resizeRaw(image.data, image.width, image.height, 3, width, height), width, height };
}

/**
 * RGB8 → the VAE encoder's input: float32 [1, 3, height, width] in [−1, 1], computed as diffusers does
 * (`x / 255` in float32, then `2x − 1`).
 */
export function rgbToTensor(image: RgbImage): Float32Array {
  const plane = image.width * image.height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = Math.fround(2 * Math.fround(image.data[p * 3 + c]! / 255)) - 1;
  }
  return out;
}

/**
 * A mask image as diffusers' mask processor prepares it: grayscale (PIL's `L`: 299/587/114 luma, rounded),
 * resized to `width × height`, then binarized at 0.5 — 1 where the image is repainted (white), 0 where kept.
 * @returns float32 [height × width] of 0 and 1.
 */
export async function loadMask(input: ImageInput, width: number, height: number): Promise<Float32Array> {
  const image = await readRgb(input);
  const gray = new Uint8Array(image.width * image.height);
  for (let p = 0; p < gray.length; p++) {
    const r = image.data[p * 3]!;
    const g = image.data[p * 3 + 1]!;
    const b = image.data[p * 3 + 2]!;
    gray[p] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
  const resized = await resizeRaw(gray, image.width, image.height, 1, width, height);
  return Float32Array.from(resized, (v) => (Math.fround(v / 255) >= 0.5 ? 1 : 0));
}

/**
 * A binary mask resized to the latent grid with torch's `interpolate(mode="nearest")`: latent pixel (y, x) takes
 * image pixel (⌊y·H/h⌋, ⌊x·W/w⌋).
 * @returns float32 [h × w].
 */
export function maskToLatentGrid(
  mask: Float32Array,
  width: number,
  height: number,
  latentWidth: number,
  latentHeight: number,
): Float32Array {
  const out = new Float32Array(latentWidth * latentHeight);
  const sy = Math.fround(height / latentHeight);
  const sx = Math.fround(width / latentWidth);
  for (let y = 0; y < latentHeight; y++) {
    const srcY = Math.min(Math.floor(Math.fround(y * sy)), height - 1);
    for (let x = 0; x < latentWidth; x++) {
      const srcX = Math.min(Math.floor(Math.fround(x * sx)), width - 1);
      out[y * latentWidth + x] = mask[srcY * width + srcX]!;
    }
  }
  return out;
}

/**
 * The VAE decoder's output → RGB8, as diffusers' post-processing: `(x / 2 + 0.5).clamp(0, 1) · 255`, rounded
 * half to even (numpy's `round`), all in float32.
 * @param decoded float32 [batch, 3, height, width].
 * @param index the batch item.
 */
export function tensorToRgb(decoded: Float32Array, dims: readonly number[], index = 0): RgbImage {
  const [, channels = 3, height = 0, width = 0] = dims;
  if (channels !== 3) throw new PinholeError('INTERNAL', `the VAE decoder gave ${channels} channels, not 3`);
  const plane = width * height;
  const base = index * 3 * plane;
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let v = Math.fround(decoded[base + c * plane + p]! / 2 + 0.5);
      v = v < 0 ? 0 : v > 1 ? 1 : v;
      data[p * 3 + c] = roundHalfEven(Math.fround(v * 255));
    }
  }
  return { data, width, height };
}

/** numpy's `round`: to nearest, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Inpainting's optional paste-back: the original pixels where the mask keeps the image, the generated ones
 * where it repaints.
 * @param mask float32 [height × width] of 0/1 at image resolution (from `loadMask`).
 */
export function pasteOutsideMask(generated: RgbImage, original: RgbImage, mask: Float32Array): RgbImage {
  const data = Uint8Array.from(generated.data);
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] !== 0) continue;
    data[p * 3] = original.data[p * 3]!;
    data[p * 3 + 1] = original.data[p * 3 + 1]!;
    data[p * 3 + 2] = original.data[p * 3 + 2]!;
  }
  return { data, width: generated.width, height: generated.height };
}

/** RGB8 → PNG bytes (no metadata; see `png-text` for the parameters chunk). */
export async function encodePng(image: RgbImage): Promise<Uint8Array> {
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}
