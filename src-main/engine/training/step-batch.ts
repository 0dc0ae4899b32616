/**
 * One training step's inputs from the cached dataset and the run's generator. Draws, in this order, and
 * only those asked for (with every feature off this is exactly the reference loop of the fixtures'
 * README: `randn` noise, then `randint` timesteps):
 * 1. flip: `randint(0, 2, B)`, 1 = the mirrored image's latents;
 * 2. caption dropout: `randint(0, 2²⁴, B)` (the bits of torch's float32 `rand(B)`), sample i trains on
 *    the empty caption when u/2²⁴ < p;
 * 3. noise: `randn(B, C, h, w)`;
 * 4. noise offset (kohya): `randn(B, C)`, noise[b, c] += offset · r[b, c];
 * 5. timesteps: `randint(0, T, B)`.
 * Min-SNR-γ weights per sample (kohya's `apply_snr_weight`): min(SNR, γ) / SNR for epsilon,
 * min(SNR, γ) / (SNR + 1) for v-prediction, SNR = ᾱ / (1 − ᾱ).
 */
import { type TorchGenerator } from '../random';
import { alphaCumprodAddNoise } from '../schedulers/add-noise';
import { vpScales } from '../schedulers/prediction';
import type { TrainingData, TrainingExample } from './data';
import type { StepBatch } from './training-graph';

export type BatchFeatures = {
  flip?: boolean;
  captionDropout?: number;
  noiseOffset?: number;
  minSnrGamma?: number | undefined;
  /** Fill `textEmbeds` and `timeIds` (SDXL). */
  sdxl?: boolean;
};

const DROPOUT_RANGE = 2 ** 24;

/** Min-SNR-γ weight at ᾱ. */
export function minSnrWeight(alphaProd: number, gamma: number, prediction: 'epsilon' | 'v_prediction'): number {
  const snr = alphaProd / (1 - alphaProd);
  return Math.min(snr, gamma) / (prediction === 'epsilon' ? snr : snr + 1);
}

/** Draws noise and timesteps for `picked` (one bucket) and builds the batch. */
export function drawStepBatch(
  data: TrainingData,
  picked: readonly TrainingExample[],
  g: TorchGenerator,
  alphasCumprod: Float32Array,
  prediction: 'epsilon' | 'v_prediction',
  features: BatchFeatures = {},
): StepBatch {
  const B = picked.length;
  const latentDims = picked[0]!.latentDims;
  const [C] = latentDims;
  const per = latentDims[0] * latentDims[1] * latentDims[2];
  const plane = per / C;
  const perCond = data.condDims[0] * data.condDims[1];
  const flips = features.flip === true ? g.randint(0, 2, B) : new Array<number>(B).fill(0);
  const dropout = features.captionDropout ?? 0;
  const dropped =
    dropout > 0
      ? g.randint(0, DROPOUT_RANGE, B).map((u) => u / DROPOUT_RANGE < dropout)
      : new Array<boolean>(B).fill(false);
  const noise = g.randn([B, ...latentDims]);
  const offset = features.noiseOffset ?? 0;
  if (offset !== 0) {
    const r = g.randn([B, C]);
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        const add = Math.fround(offset * r[b * C + c]!);
        const start = b * per + c * plane;
        for (let i = start; i < start + plane; i++) noise[i] = Math.fround(noise[i]! + add);
      }
    }
  }
  const timesteps = g.randint(0, alphasCumprod.length, B);
  const sample = new Float32Array(B * per);
  const target = new Float32Array(B * per);
  const cond = new Float32Array(B * perCond);
  const pooledDim = data.pooledDim ?? 0;
  const textEmbeds = features.sdxl === true ? new Float32Array(B * pooledDim) : undefined;
  const timeIds = features.sdxl === true ? new Float32Array(B * 6) : undefined;
  const tokens = picked[0]!.ids?.length ?? 0;
  const inputIds = tokens > 0 ? new Int32Array(B * tokens) : undefined;
  const inputIds2 = tokens > 0 && picked[0]!.ids2 ? new Int32Array(B * tokens) : undefined;
  picked.forEach((ex, j) => {
    if (flips[j] === 1 && !ex.flipped)
      throw new Error(`${ex.file}: flip asked for, but no mirrored latents were prepared`);
    const x0 = flips[j] === 1 ? ex.flipped! : ex.latents;
    const eps = noise.subarray(j * per, (j + 1) * per);
    const a = alphasCumprod[timesteps[j]!]!;
    sample.set(alphaCumprodAddNoise(x0, eps, a), j * per);
    if (prediction === 'epsilon') target.set(eps, j * per);
    else {
      // DDPM get_velocity: √ᾱ·ε − √(1 − ᾱ)·x0.
      const { alpha, sigma } = vpScales(a);
      for (let i = 0; i < per; i++) {
        target[j * per + i] = Math.fround(Math.fround(alpha * eps[i]!) - Math.fround(sigma * x0[i]!));
      }
    }
    const text = dropped[j] && data.empty ? data.empty : ex;
    cond.set(text.cond, j * perCond);
    if (textEmbeds && text.pooled) textEmbeds.set(text.pooled, j * pooledDim);
    if (timeIds) timeIds.set(ex.timeIds, j * 6);
    if (inputIds && text.ids) inputIds.set(text.ids, j * tokens);
    if (inputIds2 && text.ids2) inputIds2.set(text.ids2, j * tokens);
  });
  const batch: StepBatch = { sample, timesteps, cond, target, latentDims, condDims: data.condDims };
  if (features.minSnrGamma !== undefined) {
    const gamma = features.minSnrGamma;
    batch.lossWeights = Float32Array.from(timesteps, (t) => minSnrWeight(alphasCumprod[t]!, gamma, prediction));
  }
  if (textEmbeds) batch.textEmbeds = textEmbeds;
  if (timeIds) batch.timeIds = timeIds;
  if (inputIds) batch.inputIds = inputIds;
  if (inputIds2) batch.inputIds2 = inputIds2;
  return batch;
}
