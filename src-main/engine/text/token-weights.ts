/**
 * Applies A1111's "Original" emphasis to one chunk's text-encoder output, in place: every token's hidden
 * state is multiplied by its weight, then the whole chunk is rescaled so that its mean over all tokens and
 * channels is what it was before. (A1111 notes that restoring the mean "is likely not correct, but it seems to
 * work well to prevent artifacts"; `normalize: false` is its "No norm" option.)
 *
 * Use it per chunk and per encoder, on the hidden states the UNet will see (for SDXL, on each encoder's
 * output before they are concatenated), as A1111 does in `process_tokens`. Arithmetic follows torch in
 * float32: the means are rounded to float32 and so is their ratio. If the weighted mean is 0 or not finite the
 * rescale is skipped rather than filling the chunk with NaN.
 *
 * @param hidden float32 [tokens, channels], row-major; modified in place.
 * @param dims `[tokens, channels]` (e.g. `[77, 768]`).
 * @param weights float32 [tokens]: the chunk's per-token multipliers from `buildWeightedChunks`.
 */
export function applyTokenWeights(
  hidden: Float32Array,
  dims: readonly [tokens: number, channels: number],
  weights: Float32Array,
  options: { normalize?: boolean } = {},
): void {
  const [tokens, channels] = dims;
  if (hidden.length !== tokens * channels || weights.length !== tokens) {
    throw new RangeError(
      `applyTokenWeights: ${hidden.length} values and ${weights.length} weights do not fit [${tokens}, ${channels}]`,
    );
  }
  const normalize = options.normalize ?? true;
  const before = normalize ? mean(hidden) : 0;
  for (let t = 0; t < tokens; t++) {
    const w = weights[t] as number;
    if (w === 1) continue;
    const row = t * channels;
    for (let c = 0; c < channels; c++) hidden[row + c] = (hidden[row + c] as number) * w;
  }
  if (!normalize) return;
  const after = mean(hidden);
  if (after === 0 || !Number.isFinite(after)) return;
  const ratio = Math.fround(before / after);
  for (let i = 0; i < hidden.length; i++) hidden[i] = (hidden[i] as number) * ratio;
}

/** Mean accumulated in float64, rounded to float32 like torch's float32 `mean()`. */
function mean(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  return Math.fround(sum / values.length);
}
