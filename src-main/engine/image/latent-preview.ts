import { deflateSync } from 'node:zlib';
import { encodePngChunk } from './png-text';

/**
 * Cheap live previews: each latent pixel's 4 channels times a fixed 4×3 matrix give an RGB pixel in [−1, 1]
 * (A1111's "Approximate cheap" / ComfyUI's latent2rgb), at latent resolution. Far from the VAE's image, but
 * costs nothing next to a UNet step.
 */

/** A 4×3 matrix: row = latent channel, column = R, G, B. */
export type LatentRgbFactors = readonly (readonly [number, number, number])[];

/** SD 1.x / 2.x latents (A1111's `cheap_approximation`). */
export const LATENT_RGB_SD: LatentRgbFactors = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

/** SDXL latents (A1111's `cheap_approximation` for SDXL). */
export const LATENT_RGB_SDXL: LatentRgbFactors = [
  [0.3448, 0.4168, 0.4395],
  [-0.1953, -0.029, 0.025],
  [0.1074, 0.0886, -0.0163],
  [-0.373, -0.2499, -0.2088],
];

/** An RGB8 image: `width × height × 3` bytes, row-major, channels interleaved. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/**
 * One batch item of the latents as RGB8 at latent resolution: `rgb = clamp((Σ_c latent_c · F[c]) + 1) / 2)`.
 * @param latents float32 [batch, channels, height, width] (the sampler's latents, not divided by the VAE scale).
 * @param dims `[batch, channels, height, width]`; channels beyond the matrix's rows are ignored.
 * @param index the batch item.
 */
export function latentToRgb(
  latents: Float32Array,
  dims: readonly number[],
  index = 0,
  factors: LatentRgbFactors = LATENT_RGB_SD,
): RgbImage {
  const [, channels = 4, height = 0, width = 0] = dims;
  const plane = height * width;
  const base = index * channels * plane;
  const used = Math.min(channels, factors.length, 4);
  // Flat factors and channel offsets: this runs on the denoising loop's thread every few steps.
  const f = new Float64Array(12);
  for (let c = 0; c < used; c++) for (let rgb = 0; rgb < 3; rgb++) f[c * 3 + rgb] = factors[c]![rgb]!;
  const [o0, o1, o2, o3] = [base, base + plane, base + 2 * plane, base + 3 * plane];
  const data = new Uint8Array(plane * 3);
  const toByte = (x: number): number => {
    const v = (x + 1) / 2;
    return Math.round(255 * (v < 0 ? 0 : v > 1 ? 1 : v));
  };
  for (let p = 0; p < plane; p++) {
    // Channels past `used` count as 0 (exactly what skipping them gives); the sum runs in the same order.
    const l0 = latents[o0 + p]!;
    const l1 = used > 1 ? latents[o1 + p]! : 0;
    const l2 = used > 2 ? latents[o2 + p]! : 0;
    const l3 = used > 3 ? latents[o3 + p]! : 0;
    data[p * 3] = toByte(l0 * f[0]! + l1 * f[3]! + l2 * f[6]! + l3 * f[9]!);
    data[p * 3 + 1] = toByte(l0 * f[1]! + l1 * f[4]! + l2 * f[7]! + l3 * f[10]!);
    data[p * 3 + 2] = toByte(l0 * f[2]! + l1 * f[5]! + l2 * f[8]! + l3 * f[11]!);
  }
  return { data, width, height };
}

/**
 * An RGB8 image as a `data:image/png;base64,…` URL. Encoded here, synchronously, rather than with sharp: a
 * preview is a few kilobytes at latent resolution, and sharp's round trip through libuv's thread pool, which
 * ORT's threads keep busy during generation, cost more than the encoding itself (engine bench on 2 cores: a
 * preview step ~15 ms longer than a plain step with sharp, ~2 ms with this). The promise is kept for callers
 * that await it; the work is done when it returns.
 */
export function rgbToPngDataUrl(image: RgbImage): Promise<string> {
  return Promise.resolve(`data:image/png;base64,${Buffer.from(encodeRgbPng(image)).toString('base64')}`);
}

/** PNG signature, IHDR (8-bit RGB, no interlace), one IDAT (filter 0 rows, fastest deflate), IEND. */
function encodeRgbPng(image: RgbImage): Uint8Array {
  const { width, height, data } = image;
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const stride = width * 3;
  const rows = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) rows.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const parts = [
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    encodePngChunk('IHDR', header),
    encodePngChunk('IDAT', deflateSync(rows, { level: 1 })),
    encodePngChunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
