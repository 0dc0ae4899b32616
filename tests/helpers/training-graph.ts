/**
 * Test helpers for training graphs: open a fixture model's UNet and text encoders, evaluate a
 * built training model (loss and LoRA gradients) at any LoRA value, and check gradients against
 * central finite differences along random directions.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gradName } from '../../src-main/engine/autodiff';
import { encodeModel, type Model } from '../../src-main/engine/graph';
import { kohyaKeys, type LoraWeights } from '../../src-main/engine/lora';
import {
  safetensorsWeights,
  type ClipTextConfig,
  type UNetConfig,
  type WeightSource,
} from '../../src-main/engine/models';
import { type HostTensor, type InferenceBackend, type RawSession } from '../../src-main/engine/runtime';
import { SafetensorsFile } from '../../src-main/engine/weights';

/** One model part of a diffusers folder: config, weights, and the open file to close. */
export type OpenPart<C> = { config: C; weights: WeightSource; file: SafetensorsFile };

export async function openPart<C>(modelDir: string, folder: string, weightsFile: string): Promise<OpenPart<C>> {
  const config = JSON.parse(await readFile(path.join(modelDir, folder, 'config.json'), 'utf8')) as C;
  const file = await SafetensorsFile.open(path.join(modelDir, folder, weightsFile));
  return { config, weights: safetensorsWeights(file), file };
}

export const openUNet = (dir: string) => openPart<UNetConfig>(dir, 'unet', 'diffusion_pytorch_model.safetensors');
export const openTextEncoder = (dir: string, folder = 'text_encoder') =>
  openPart<ClipTextConfig>(dir, folder, 'model.safetensors');

/** A seeded uniform(−1, 1) stream (mulberry32), for test data and directions. */
export function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** Fills every LoRA tensor (up included, which kohya zeroes) with uniform(±scale) values. */
export function randomizeLora(lora: LoraWeights, seed: number, scale: number): void {
  const u = uniforms(seed);
  for (const m of lora.modules.values()) {
    for (const t of [m.down, m.up]) for (let i = 0; i < t.length; i++) t[i] = u() * scale;
  }
}

/** The LoRA array and dims behind a kohya key. */
export function loraTensor(lora: LoraWeights, key: string): { data: Float32Array; dims: number[] } {
  const m = /^(.+)\.lora_(down|up)\.weight$/.exec(key)!;
  const mod = lora.modules.get(m[1]!)!;
  return m[2] === 'down' ? { data: mod.down, dims: mod.downDims } : { data: mod.up, dims: mod.upDims };
}

/** A compiled training model that evaluates loss and gradients at the LoRA's current values. */
export class GraphProbe {
  private constructor(
    readonly session: RawSession,
    private readonly keys: string[],
    private readonly lora: LoraWeights,
    private readonly data: Record<string, HostTensor>,
  ) {}

  static async create(
    backend: InferenceBackend,
    built: { model: Model; keys: string[] },
    lora: LoraWeights,
    data: Record<string, HostTensor>,
    provider: 'cpu' | 'webgpu' = 'cpu',
  ): Promise<GraphProbe> {
    const session = await backend.createSession(encodeModel(built.model), { executionProvider: provider });
    return new GraphProbe(session, built.keys, lora, data);
  }

  /** Loss and gradients; `replace` overrides some of the data feeds for this run. */
  async run(
    withGrads = true,
    replace: Record<string, HostTensor> = {},
  ): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const feeds: Record<string, HostTensor> = { ...this.data, ...replace };
    for (const key of this.keys) {
      const { data, dims } = loraTensor(this.lora, key);
      feeds[key] = { type: 'float32', data: data.slice(), dims };
    }
    const fetches = withGrads ? ['loss', ...this.keys.map(gradName)] : ['loss'];
    const out = await this.session.run(feeds, fetches);
    const grads = new Map<string, Float32Array>();
    if (withGrads) for (const k of this.keys) grads.set(k, out[gradName(k)]!.data as Float32Array);
    return { loss: (out['loss']!.data as Float32Array)[0]!, grads };
  }

  /**
   * Relative error of the analytic directional derivative g·v against the five-point central
   * difference (8(L(θ+εv) − L(θ−εv)) − (L(θ+2εv) − L(θ−2εv))) / 12ε (error O(ε⁴), so ε can be
   * large enough to rise above float32 rounding of the loss), for a direction v over `keys`: the
   * analytic gradient scaled to max 1 plus uniform(±1) noise, so g·v is well away from 0 (a random
   * direction alone often gives a tiny derivative that float32 noise swamps) while every
   * component of the gradient still shows.
   */
  async directionalError(
    keys: readonly string[],
    seed: number,
    eps: number,
  ): Promise<{ analytic: number; numeric: number; rel: number }> {
    const { grads } = await this.run();
    const u = uniforms(seed);
    let top = 0;
    for (const k of keys) for (const g of grads.get(k)!) top = Math.max(top, Math.abs(g));
    const dirs = keys.map((k) => Float32Array.from(grads.get(k)!, (g) => g / (top || 1) + u()));
    let analytic = 0;
    keys.forEach((k, i) => grads.get(k)!.forEach((g, j) => (analytic += g * dirs[i]![j]!)));
    const shifted = async (sign: number) => {
      const saved = keys.map((k) => loraTensor(this.lora, k).data.slice());
      keys.forEach((k, i) => {
        const t = loraTensor(this.lora, k).data;
        for (let j = 0; j < t.length; j++) t[j] = t[j]! + sign * eps * dirs[i]![j]!;
      });
      const { loss } = await this.run(false);
      keys.forEach((k, i) => loraTensor(this.lora, k).data.set(saved[i]!));
      return loss;
    };
    const near = (await shifted(1)) - (await shifted(-1));
    const far = (await shifted(2)) - (await shifted(-2));
    const numeric = (8 * near - far) / (12 * eps);
    return { analytic, numeric, rel: Math.abs(analytic - numeric) / Math.max(Math.abs(numeric), 1e-12) };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** `n` seeded uniform(±scale) floats. */
export const floats = (n: number, seed: number, scale = 1) => {
  const u = uniforms(seed);
  return Float32Array.from({ length: n }, () => u() * scale);
};

/** Token ids [B, 77]: BOS, a few word ids, EOS, then `pad`. */
export function tokenIds(batch: number, pad: number): Int32Array {
  const ids = new Int32Array(batch * 77).fill(pad);
  for (let b = 0; b < batch; b++) {
    ids.set([49406, 320 + b, 1125, 539 + 7 * b, 49407], b * 77);
  }
  return ids;
}

/** The data feeds of a training graph for batch `B` of 32×32 latents. */
export function dataFeeds(B: number, extra: Record<string, HostTensor>): Record<string, HostTensor> {
  const latent = B * 4 * 32 * 32;
  return {
    sample: { type: 'float32', data: floats(latent, 1), dims: [B, 4, 32, 32] },
    timestep: { type: 'float32', data: Float32Array.from({ length: B }, (_, i) => 999 - 431 * i), dims: [B] },
    target: { type: 'float32', data: floats(latent, 2), dims: [B, 4, 32, 32] },
    loss_weights: { type: 'float32', data: Float32Array.from({ length: B }, (_, i) => 1.5 - 0.75 * i), dims: [B] },
    ...extra,
  };
}

/** The kohya keys of the LoRA modules whose names pass `test`. */
export const keysOf = (lora: LoraWeights, test: (name: string) => boolean) =>
  [...lora.modules.values()].filter((m) => test(m.name)).flatMap((m) => [kohyaKeys(m.name).down, kohyaKeys(m.name).up]);
