import sharp from 'sharp';

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
  const used = Math.min(channels, factors.length);
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let rgb = 0; rgb < 3; rgb++) {
      let x = 0;
      for (let c = 0; c < used; c++) x += latents[base + c * plane + p]! * factors[c]![rgb]!;
      const v = (x + 1) / 2;
      data[p * 3 + rgb] = Math.round(255 * (v < 0 ? 0 : v > 1 ? 1 : v));
    }
  }
  return { data, width, height };
}

/** An RGB8 image as a `data:image/png;base64,…` URL (small: latent resolution, fastest compression). */
export async function rgbToPngDataUrl(image: RgbImage): Promise<string> {
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
