/**
 * The LoRA trainer's session: the training model (see `training-model.ts`) compiled once on the
 * engine's execution provider; each `LoraTrainer.step` runs forward + backward in onnxruntime and
 * the optimizer(s) update the LoRA in JS. The LoRA and its gradients cross between host and
 * device once per step (a few MB at ranks a personal LoRA uses); the optimizer state stays on
 * the host.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type LoraWeights } from '../lora';
import { type UNetConfig, type WeightSource } from '../models';
import { createOrtBackend } from '../runtime/ort-backend';
import { isOutOfMemory } from '../runtime/out-of-memory';
import { parseProviderName, PROVIDER_ENV, selectExecutionProvider } from '../runtime/providers';
import { type ExecutionProviderName, type HostTensor, type InferenceBackend, type RawSession } from '../runtime';
import { resolveBaseWeights, type BaseWeightsPrecision } from './base-weights';
import { AdamW, type Optimizer } from './optimizers';
import { buildTrainingModel, type TrainingGraphOptions, type TrainingShape } from './training-model';
import { createBuiltSession } from './built-model';
import {
  appendOptimizerUpdate,
  factorInput,
  GRAD_NORM_OUTPUT,
  MAX_GRAD_NORM_INPUT,
  momentInputs,
  updateOutputs,
} from './update-graph';

export {
  buildTrainingModel,
  checkpointSegment,
  type TrainedTextEncoder,
  type TrainingGraphOptions,
  type TrainingShape,
} from './training-model';

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
  /**
   * Per-sample loss weights [B] (e.g. min-SNR-γ): loss = mean over samples of wᵢ · MSEᵢ.
   * Absent: all ones, i.e. the plain MSE.
   */
  lossWeights?: Float32Array;
  /** SDXL added conditioning: pooled text embeddings [B, P] (P = 1280 for SDXL base). */
  textEmbeds?: Float32Array;
  /** SDXL added conditioning: `time_ids` [B, 6] = [H, W, crop top, crop left, H, W] per sample. */
  timeIds?: Float32Array;
  /**
   * Token ids [B, 77] for a trainer whose graph contains the text encoder(s) (`textEncoder: true`):
   * then `cond` (and `textEmbeds`) come from the graph and are not fed.
   */
  inputIds?: Int32Array;
  /** SDXL with both encoders trained: the second tokenizer's ids [B, 77] (it pads differently). */
  inputIds2?: Int32Array;
};

export type LoraTrainerOptions = Omit<TrainingGraphOptions, 'baseWeights'> & {
  /**
   * Where the session runs: a provider (the engine passes the one it selected), or 'auto' to
   * probe as the engine does. Absent: `PINHOLE_EP` when set, else the CPU — library callers (the
   * reference loop, tests) stay on the deterministic CPU path unless told otherwise, since a
   * probed WebGPU may be a software renderer (Mesa lavapipe here: ~3.3 s per tiny-model step, the CPU 0.15–0.8 s).
   */
  provider?: ExecutionProviderName | 'auto';
  /** Frozen base weights: 'auto' (default) = float16 on GPU providers, float32 on the CPU. */
  baseWeights?: BaseWeightsPrecision;
  /** A separate optimizer (own learning rate) for the text encoders' LoRA tensors; default `optimizer`. */
  textEncoderOptimizer?: Optimizer;
};

/** The module and tensor of a kohya key `<module>.lora_down.weight` / `.lora_up.weight`. */
function splitKey(key: string): { module: string; which: 'down' | 'up' } {
  const m = /^(.+)\.lora_(down|up)\.weight$/.exec(key);
  if (!m) throw new Error(`not a LoRA tensor key: ${key}`);
  return { module: m[1]!, which: m[2] as 'down' | 'up' };
}

/** One compiled training graph in a session, and the LoRA + optimizer(s) it updates. */
export class LoraTrainer {
  /** Gradient clipping by global norm before each update; 0 (the default) turns it off. */
  maxGradNorm = 0;
  /** The global gradient norm of the last step, before clipping. */
  lastGradNorm = 0;
  private readonly inputNames: Set<string>;
  /** Indices into `keys` of the UNet's and the text encoders' tensors (optimizer param groups). */
  private readonly groups: { optimizer: Optimizer; indices: number[] }[];

  private constructor(
    private readonly session: RawSession,
    readonly lora: LoraWeights,
    private readonly keys: string[],
    readonly optimizer: Optimizer,
    /** The provider the session runs on and the base weights' dtype it was built with. */
    readonly placement: { provider: ExecutionProviderName; baseWeights: 'float32' | 'float16' },
    textEncoderOptimizer: Optimizer | undefined,
    private readonly checkpointing: boolean,
  ) {
    this.inputNames = new Set(session.inputs.map((i) => i.name));
    this.groups = paramGroups(keys, optimizer, textEncoderOptimizer);
  }

  /** Builds and loads the training graph for `lora` (updated in place by `step`). */
  static async create(
    config: UNetConfig,
    weights: WeightSource,
    lora: LoraWeights,
    optimizer: Optimizer,
    shape: TrainingShape,
    backend: InferenceBackend = createOrtBackend(),
    options: LoraTrainerOptions = {},
  ): Promise<LoraTrainer> {
    const provider =
      options.provider === 'auto'
        ? (await selectExecutionProvider(backend)).provider
        : (options.provider ?? parseProviderName(process.env[PROVIDER_ENV]) ?? 'cpu');
    const baseWeights = resolveBaseWeights(options.baseWeights ?? 'auto', provider);
    const { model, keys } = buildTrainingModel(config, weights, lora, shape, { ...options, baseWeights });
    const groups = paramGroups(keys, optimizer, options.textEncoderOptimizer);
    const withUpdate = appendOptimizerUpdate(
      model,
      groups.map((g) => ({ kind: g.optimizer.kind, keys: g.indices.map((i) => keys[i]!) })),
      (key) => loraParam(lora, key).dims,
    );
    const session = await createBuiltSession(backend, withUpdate, { executionProvider: provider });
    return new LoraTrainer(
      session,
      lora,
      keys,
      optimizer,
      { provider, baseWeights },
      options.textEncoderOptimizer,
      options.gradientCheckpointing === true,
    );
  }

  /** The LoRA array behind a kohya tensor key. */
  private param(key: string): { data: Float32Array; dims: number[] } {
    return loraParam(this.lora, key);
  }

  /** The step's data feeds, checked against what the graph reads. */
  private dataFeeds(batch: StepBatch): Record<string, HostTensor> {
    const B = batch.timesteps.length;
    const perSample = (name: string, data: Float32Array | Int32Array | undefined): HostTensor | undefined => {
      if (!this.inputNames.has(name)) return undefined;
      if (!data) throw new PinholeError('INVALID_PARAMS', `the training graph needs ${name}, which the batch lacks`);
      if (data.length % B !== 0) throw new Error(`${name}: ${data.length} values do not split into ${B} samples`);
      return data instanceof Int32Array
        ? { type: 'int32', data, dims: [B, data.length / B] }
        : { type: 'float32', data, dims: [B, data.length / B] };
    };
    const feeds: Record<string, HostTensor> = {
      sample: { type: 'float32', data: batch.sample, dims: [B, ...batch.latentDims] },
      timestep: { type: 'float32', data: Float32Array.from(batch.timesteps), dims: [B] },
      target: { type: 'float32', data: batch.target, dims: [B, ...batch.latentDims] },
      loss_weights: { type: 'float32', data: batch.lossWeights ?? new Float32Array(B).fill(1), dims: [B] },
    };
    if (this.inputNames.has('encoder_hidden_states')) {
      feeds['encoder_hidden_states'] = { type: 'float32', data: batch.cond, dims: [B, ...batch.condDims] };
    }
    const optional = {
      text_embeds: perSample('text_embeds', batch.textEmbeds),
      time_ids: perSample('time_ids', batch.timeIds),
      input_ids: perSample('input_ids', batch.inputIds),
      input_ids_2: perSample('input_ids_2', batch.inputIds2),
    };
    for (const [name, t] of Object.entries(optional)) if (t) feeds[name] = t;
    return feeds;
  }

  /**
   * Forward + backward + clipping + the optimizer update, all in one `session.run`; the new LoRA
   * weights and moments replace the old arrays (only when the loss is finite). Returns the loss
   * (before the update).
   */
  async step(batch: StepBatch): Promise<number> {
    const feeds = this.dataFeeds(batch);
    const scalar = (value: number): HostTensor => ({ type: 'float32', data: Float32Array.of(value), dims: [1] });
    feeds[MAX_GRAD_NORM_INPUT] = scalar(this.maxGradNorm);
    const fetches = ['loss', GRAD_NORM_OUTPUT];
    this.groups.forEach(({ optimizer, indices }, g) => {
      const params = indices.map((i) => this.param(this.keys[i]!));
      const factors = optimizer.nextFactors(params.map((p) => p.data.length));
      for (const [name, value] of Object.entries(factors)) feeds[factorInput(g, name)] = scalar(value);
      indices.forEach((i, j) => {
        const key = this.keys[i]!;
        const { data, dims } = params[j]!;
        feeds[key] = { type: 'float32', data, dims };
        const out = updateOutputs(key);
        fetches.push(out.param);
        if (optimizer instanceof AdamW) {
          const moments = momentInputs(key);
          feeds[moments.m] = { type: 'float32', data: optimizer.m[j]!, dims };
          feeds[moments.v] = { type: 'float32', data: optimizer.v[j]!, dims };
          fetches.push(out.m, out.v);
        }
      });
    });
    const out = await this.session.run(feeds, fetches).catch((error: unknown) => {
      throw isOutOfMemory(error) ? this.outOfMemory(error) : error;
    });
    const loss = (out['loss']!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) throw new PinholeError('INVALID_PARAMS', `training diverged: loss is ${loss}`);
    this.lastGradNorm = (out[GRAD_NORM_OUTPUT]!.data as Float32Array)[0]!;
    for (const { optimizer, indices } of this.groups) {
      indices.forEach((i, j) => {
        const key = this.keys[i]!;
        const names = updateOutputs(key);
        this.param(key).data.set(out[names.param]!.data as Float32Array);
        if (optimizer instanceof AdamW) {
          optimizer.m[j]!.set(out[names.m]!.data as Float32Array);
          optimizer.v[j]!.set(out[names.v]!.data as Float32Array);
        }
      });
    }
    return loss;
  }

  /** Out of memory in a step, with what the user can lower (activations dominate; base weights next). */
  private outOfMemory(error: unknown): PinholeError {
    const { provider, baseWeights } = this.placement;
    const options = [
      'the batch size',
      'the resolution',
      ...(this.checkpointing ? [] : ['memory by turning on gradient checkpointing']),
      ...(baseWeights === 'float32' && provider !== 'cpu' ? ['memory with float16 base weights'] : []),
      'the LoRA rank',
    ];
    return new PinholeError(
      'UNAVAILABLE',
      `Out of memory in a training step on ${provider}. Lower ${options.join(', ')}, or close other programs using the ${provider === 'cpu' ? 'memory' : 'graphics card'}.`,
      { cause: error },
    );
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The LoRA array behind a kohya tensor key. */
function loraParam(lora: LoraWeights, key: string): { data: Float32Array; dims: number[] } {
  const { module, which } = splitKey(key);
  const mod = lora.modules.get(module);
  if (!mod) throw new Error(`LoRA module ${module} vanished from the LoRA being trained`);
  return which === 'down' ? { data: mod.down, dims: mod.downDims } : { data: mod.up, dims: mod.upDims };
}

/** Indices into `keys` of the UNet's and the text encoders' tensors (optimizer param groups). */
function paramGroups(
  keys: readonly string[],
  optimizer: Optimizer,
  textEncoderOptimizer: Optimizer | undefined,
): { optimizer: Optimizer; indices: number[] }[] {
  const isTe = (k: string) => k.startsWith('lora_te');
  const all = keys.map((_, i) => i);
  return textEncoderOptimizer
    ? [
        { optimizer, indices: all.filter((i) => !isTe(keys[i]!)) },
        { optimizer: textEncoderOptimizer, indices: all.filter((i) => isTe(keys[i]!)) },
      ].filter((g) => g.indices.length > 0)
    : [{ optimizer, indices: all }];
}
