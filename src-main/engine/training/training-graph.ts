/**
 * The LoRA training graph and its session: the UNet built (float32) with the LoRA's up/down as graph
 * inputs, an MSE loss against a `target` input, differentiated with respect to every LoRA input; each
 * `LoraTrainer.step` runs forward + backward in onnxruntime and the optimizer updates the LoRA in JS.
 */
import { PinholeError } from '../../../src-shared/errors';
import { differentiate, gradName } from '../autodiff';
import { encodeModel, type Model } from '../graph';
import { loraHooks, type LoraWeights } from '../lora';
import { buildUNet, type UNetConfig, type WeightSource } from '../models';
import { createOrtBackend } from '../runtime/ort-backend';
import { type HostTensor, type InferenceBackend, type RawSession } from '../runtime';
import { clipGradNorm } from './clip';
import { type Optimizer } from './optimizers';

/** Static sizes of the training graph (the loss gradient needs them): batch, latent h/w, text tokens. */
export type TrainingShape = { batch: number; height: number; width: number; sequence: number };

/**
 * The training graph: `buildUNet` with LoRA inputs, plus input `target` (like `out_sample`) and
 * output `loss` = mean((out_sample − target)²), differentiated: outputs `loss`,
 * `grad.<kohya key>` for every LoRA down/up tensor (in `keys` order).
 */
export function buildTrainingModel(
  config: UNetConfig,
  weights: WeightSource,
  lora: LoraWeights,
  shape: TrainingShape,
): { model: Model; keys: string[] } {
  const injection = loraHooks(lora, { part: 'unet', mode: 'inputs' });
  buildUNet(config, weights, { hooks: injection.hooks, ...shape });
  const unused = injection.unused();
  if (unused.length > 0) {
    throw new PinholeError('INVALID_PARAMS', `LoRA modules that match nothing in the UNet: ${unused.join(', ')}`);
  }
  const b = injection.builder();
  if (!b) throw new PinholeError('INVALID_PARAMS', 'the LoRA has no UNet modules to train');
  const out = b.value('out_sample');
  if (!out || !out.shape) throw new Error('training graph: out_sample not found');
  const target = b.input('target', 'float32', out.shape);
  const diff = b.sub(out, target);
  const loss = b.reduceMean(
    b.mul(diff, diff),
    out.shape.map((_, i) => i),
    { keepdims: false },
  );
  b.output(loss, 'loss');
  const keys = [...injection.inputs.keys()];
  const forward = b.build();
  // Only the loss is fetched; out_sample stays an output of the forward model only.
  const lossOnly: Model = {
    ...forward,
    graph: { ...forward.graph, outputs: forward.graph.outputs.filter((o) => o.name === 'loss') },
  };
  return { model: differentiate(lossOnly, { loss: 'loss', wrt: keys }), keys };
}

export type StepBatch = {
  /** Noisy latents [B, C, h, w]. */
  sample: Float32Array;
  /** One timestep per sample. */
  timesteps: readonly number[];
  /** [B, S, D]. */
  cond: Float32Array;
  /** The prediction target, like `sample`. */
  target: Float32Array;
  latentDims: readonly [number, number, number];
  condDims: readonly [number, number];
};

/** One compiled training graph in a session, and the LoRA + optimizer it updates. */
export class LoraTrainer {
  /** Gradient clipping by global norm before each update; 0 (the default) turns it off. */
  maxGradNorm = 0;
  /** The global gradient norm of the last step, before clipping. */
  lastGradNorm = 0;

  private constructor(
    private readonly session: RawSession,
    readonly lora: LoraWeights,
    private readonly keys: string[],
    readonly optimizer: Optimizer,
  ) {}

  /** Builds and loads the training graph for `lora` (updated in place by `step`). */
  static async create(
    config: UNetConfig,
    weights: WeightSource,
    lora: LoraWeights,
    optimizer: Optimizer,
    shape: TrainingShape,
    backend: InferenceBackend = createOrtBackend(),
  ): Promise<LoraTrainer> {
    const { model, keys } = buildTrainingModel(config, weights, lora, shape);
    const session = await backend.createSession(encodeModel(model), { executionProvider: 'cpu' });
    return new LoraTrainer(session, lora, keys, optimizer);
  }

  /** The LoRA array behind a kohya tensor key. */
  private param(key: string): Float32Array {
    const m = /^(.+)\.lora_(down|up)\.weight$/.exec(key)!;
    const mod = this.lora.modules.get(m[1]!)!;
    return m[2] === 'down' ? mod.down : mod.up;
  }

  /** Forward + backward, then one optimizer update. Returns the loss (before the update). */
  async step(batch: StepBatch): Promise<number> {
    const B = batch.timesteps.length;
    const feeds: Record<string, HostTensor> = {
      sample: { type: 'float32', data: batch.sample, dims: [B, ...batch.latentDims] },
      timestep: { type: 'float32', data: Float32Array.from(batch.timesteps), dims: [B] },
      encoder_hidden_states: { type: 'float32', data: batch.cond, dims: [B, ...batch.condDims] },
      target: { type: 'float32', data: batch.target, dims: [B, ...batch.latentDims] },
    };
    for (const key of this.keys) {
      const m = /^(.+)\.lora_(down|up)\.weight$/.exec(key)!;
      const mod = this.lora.modules.get(m[1]!)!;
      feeds[key] = {
        type: 'float32',
        data: m[2] === 'down' ? mod.down : mod.up,
        dims: m[2] === 'down' ? mod.downDims : mod.upDims,
      };
    }
    const out = await this.session.run(feeds, ['loss', ...this.keys.map(gradName)]);
    const loss = (out['loss']!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) throw new PinholeError('INVALID_PARAMS', `training diverged: loss is ${loss}`);
    const grads = this.keys.map((k) => out[gradName(k)]!.data as Float32Array);
    this.lastGradNorm = clipGradNorm(grads, this.maxGradNorm);
    this.optimizer.step(
      this.keys.map((k) => this.param(k)),
      grads,
    );
    return loss;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
