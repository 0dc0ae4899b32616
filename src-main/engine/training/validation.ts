/**
 * Validation loss: the plain MSE of the LoRA'd UNet on one fixed (noise, timestep) pair per image,
 * averaged over the images. The pairs are drawn once from their own generator, seeded with
 * (run seed + 1) mod 2⁶⁴, per image in dataset order (`randn` of its latent shape, then one
 * `randint(0, T)`), so they never disturb the training stream and every checkpoint of the run (and of a
 * resumed run) is measured on the same pairs. Each image's unmirrored latents and own caption are used.
 *
 * The forward graph is the UNet with the LoRA as inputs and an MSE, batch 1, one session per latent
 * shape, each released before the next is built (they exist only while a checkpoint is measured). With a
 * text-encoder LoRA the captions' conditioning comes from the frozen encoder (the cached embeddings).
 */
import { type Model } from '../graph';
import { kohyaKeys, loraHooks, type LoraWeights } from '../lora';
import { buildUNet, type UNetConfig, type WeightSource } from '../models';
import { TorchGenerator } from '../random';
import { type HostTensor, type InferenceBackend, type RawSession } from '../runtime';
import { selectExecutionProvider } from '../runtime/providers';
import { alphaCumprodAddNoise } from '../schedulers/add-noise';
import { vpScales } from '../schedulers/prediction';
import type { TrainingData } from './data';
import { createBuiltSession } from './built-model';

type Pair = { sample: Float32Array; target: Float32Array; timestep: number };

export class ValidationSet {
  private readonly pairs: Pair[];

  constructor(
    private readonly data: TrainingData,
    seed: bigint,
    alphasCumprod: Float32Array,
    prediction: 'epsilon' | 'v_prediction',
  ) {
    const g = new TorchGenerator((seed + 1n) % (1n << 64n));
    this.pairs = data.examples.map((ex) => {
      const noise = g.randn(ex.latentDims);
      const timestep = g.randint(0, alphasCumprod.length, 1)[0]!;
      const a = alphasCumprod[timestep]!;
      const sample = alphaCumprodAddNoise(ex.latents, noise, a);
      let target = noise;
      if (prediction === 'v_prediction') {
        const { alpha, sigma } = vpScales(a);
        target = noise.map((e, i) => Math.fround(Math.fround(alpha * e) - Math.fround(sigma * ex.latents[i]!)));
      }
      return { sample, target, timestep };
    });
  }

  /** The mean validation loss of `lora` now. */
  async evaluate(
    config: UNetConfig,
    weights: WeightSource,
    lora: LoraWeights,
    backend: InferenceBackend,
  ): Promise<number> {
    // One shape at a time, so at most one forward session is loaded beside the trainer's.
    const byShape = new Map<string, number[]>();
    this.data.examples.forEach((ex, i) => {
      const key = ex.latentDims.join('x');
      byShape.set(key, [...(byShape.get(key) ?? []), i]);
    });
    // The provider the trainer runs on (the engine's choice, or `PINHOLE_EP`).
    const { provider } = await selectExecutionProvider(backend);
    let sum = 0;
    for (const indices of byShape.values()) {
      const [, h, w] = this.data.examples[indices[0]!]!.latentDims;
      const built = buildLossModel(config, weights, lora, [h, w, this.data.condDims[0]]);
      const session = await createBuiltSession(backend, built.model, { executionProvider: provider });
      try {
        for (const i of indices) sum += await this.lossOf(session, new Set(built.keys), lora, i);
      } finally {
        await session.release();
      }
    }
    return sum / this.data.examples.length;
  }

  private async lossOf(session: RawSession, keys: ReadonlySet<string>, lora: LoraWeights, i: number): Promise<number> {
    const ex = this.data.examples[i]!;
    const pair = this.pairs[i]!;
    const feeds: Record<string, HostTensor> = {
      sample: { type: 'float32', data: pair.sample, dims: [1, ...ex.latentDims] },
      timestep: { type: 'float32', data: Float32Array.of(pair.timestep), dims: [1] },
      encoder_hidden_states: { type: 'float32', data: ex.cond, dims: [1, ...this.data.condDims] },
      target: { type: 'float32', data: pair.target, dims: [1, ...ex.latentDims] },
    };
    if (ex.pooled) {
      feeds['text_embeds'] = { type: 'float32', data: ex.pooled, dims: [1, ex.pooled.length] };
      feeds['time_ids'] = { type: 'float32', data: Float32Array.from(ex.timeIds), dims: [1, 6] };
    }
    for (const m of lora.modules.values()) {
      const k = kohyaKeys(m.name);
      if (!keys.has(k.down)) continue;
      feeds[k.down] = { type: 'float32', data: m.down, dims: m.downDims };
      feeds[k.up] = { type: 'float32', data: m.up, dims: m.upDims };
    }
    const out = await session.run(feeds, ['loss']);
    return (out['loss']!.data as Float32Array)[0]!;
  }
}

/** UNet (LoRA as inputs `<module>.lora_down.weight` / `.lora_up.weight`) + `loss` = mean((out − target)²). */
function buildLossModel(
  config: UNetConfig,
  weights: WeightSource,
  lora: LoraWeights,
  [height, width, sequence]: [number, number, number],
): { model: Model; keys: string[] } {
  const injection = loraHooks(lora, { part: 'unet', mode: 'inputs' });
  buildUNet(config, weights, { hooks: injection.hooks, batch: 1, height, width, sequence });
  const b = injection.builder()!;
  const out = b.value('out_sample')!;
  const target = b.input('target', 'float32', out.shape!);
  const diff = b.sub(out, target);
  b.output(
    b.reduceMean(
      b.mul(diff, diff),
      out.shape!.map((_, i) => i),
      { keepdims: false },
    ),
    'loss',
  );
  const model = b.build();
  return {
    model: { ...model, graph: { ...model.graph, outputs: model.graph.outputs.filter((o) => o.name === 'loss') } },
    keys: [...injection.inputs.keys()],
  };
}
