/**
 * The LoRA trainer's session: the training model (see `training-model.ts`) with clipping and the
 * optimizer update appended (`update-graph.ts`), compiled once on the engine's execution provider;
 * each `LoraTrainer.step` is one `session.run` that returns the loss and the new LoRA weights and
 * optimizer moments. Where the provider keeps tensors on its device (WebGPU), those outputs stay
 * there and feed the next step directly: only the batch goes up and the loss comes down, and the
 * host arrays are brought up to date on demand (`syncToHost`: checkpoints, samples, the end).
 * Elsewhere the LoRA and its moments cross between host and device once per step (a few MB at the
 * ranks a personal LoRA uses).
 */
import { PinholeError } from '../../../src-shared/errors';
import { type LoraWeights } from '../lora';
import { type UNetConfig, type WeightSource } from '../models';
import { createOrtBackend } from '../runtime/ort-backend';
import { isOutOfMemory } from '../runtime/out-of-memory';
import { parseProviderName, PROVIDER_ENV, selectExecutionProvider } from '../runtime/providers';
import {
  type DeviceTensor,
  type ExecutionProviderName,
  type HostTensor,
  type InferenceBackend,
  type RawSession,
} from '../runtime';
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
  /**
   * Keep the LoRA and optimizer moments on the device between steps where the provider can (default true);
   * false copies them every step, as on providers that cannot (the tests compare the two).
   */
  keepStateOnDevice?: boolean;
};

/**
 * One tensor of training state: the graph input it feeds, the output that replaces it, its host array, and how to
 * put a new array in that array's place (the step's output, adopted instead of copied).
 */
type StateTensor = {
  input: string;
  output: string;
  host: () => Float32Array;
  adopt: (data: Float32Array) => void;
  dims: number[];
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
  /**
   * State the last step left on the device, by the input it feeds next. While not empty, the host arrays
   * (`lora`, the optimizers' moments) are stale until `syncToHost`.
   */
  private readonly onDevice = new Map<string, DeviceTensor>();

  private constructor(
    private readonly session: RawSession,
    readonly lora: LoraWeights,
    private readonly keys: string[],
    readonly optimizer: Optimizer,
    /** The provider the session runs on and the base weights' dtype it was built with. */
    readonly placement: { provider: ExecutionProviderName; baseWeights: 'float32' | 'float16' },
    textEncoderOptimizer: Optimizer | undefined,
    private readonly checkpointing: boolean,
    /** Where state goes back to the host; absent when state is copied every step. */
    private readonly download: ((tensor: DeviceTensor) => Promise<HostTensor>) | undefined,
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
    const resident =
      options.keepStateOnDevice !== false &&
      backend.keepsTensorsOnDevice?.(provider) === true &&
      backend.download !== undefined;
    const deviceOutputs = resident
      ? groups.flatMap((g) =>
          g.indices.flatMap((i) => {
            const out = updateOutputs(keys[i]!);
            return g.optimizer instanceof AdamW ? [out.param, out.m, out.v] : [out.param];
          }),
        )
      : undefined;
    const sessionOptions = { executionProvider: provider, ...(deviceOutputs ? { deviceOutputs } : {}) };
    const session = await createBuiltSession(backend, withUpdate, sessionOptions);
    const download =
      resident && session.runOnDevice ? (tensor: DeviceTensor) => backend.download!(tensor, sessionOptions) : undefined;
    return new LoraTrainer(
      session,
      lora,
      keys,
      optimizer,
      { provider, baseWeights },
      options.textEncoderOptimizer,
      options.gradientCheckpointing === true,
      download,
    );
  }

  /** Whether the LoRA and optimizer moments stay on the device between steps. */
  get keepsStateOnDevice(): boolean {
    return this.download !== undefined;
  }

  /** Every state tensor the graph updates, in the order of the param groups. */
  private stateTensors(): StateTensor[] {
    return this.groups.flatMap(({ optimizer, indices }) =>
      indices.flatMap((i, j) => {
        const key = this.keys[i]!;
        const { dims } = this.param(key);
        const out = updateOutputs(key);
        const param: StateTensor = {
          input: key,
          output: out.param,
          host: () => this.param(key).data,
          adopt: (data) => adoptParam(this.lora, key, data),
          dims,
        };
        if (!(optimizer instanceof AdamW)) return [param];
        const moments = momentInputs(key);
        return [
          param,
          { input: moments.m, output: out.m, host: () => optimizer.m[j]!, adopt: (d) => (optimizer.m[j] = d), dims },
          { input: moments.v, output: out.v, host: () => optimizer.v[j]!, adopt: (d) => (optimizer.v[j] = d), dims },
        ];
      }),
    );
  }

  /**
   * Brings the LoRA and the optimizer moments in host memory up to date with the device, and frees the
   * device copies (the next step feeds the host arrays again). Call before reading or changing them:
   * checkpoints, samples, validation, switching to another trainer over the same LoRA, the end of a run.
   */
  async syncToHost(): Promise<void> {
    if (this.onDevice.size === 0) return;
    for (const state of this.stateTensors()) {
      const tensor = this.onDevice.get(state.input);
      if (!tensor) continue;
      const host = await this.download!(tensor);
      state.host().set(host.data as Float32Array);
    }
    this.disposeDeviceState();
  }

  private disposeDeviceState(): void {
    for (const tensor of this.onDevice.values()) tensor.dispose();
    this.onDevice.clear();
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
    const deviceFeeds: Record<string, DeviceTensor> = {};
    const scalar = (value: number): HostTensor => ({ type: 'float32', data: Float32Array.of(value), dims: [1] });
    feeds[MAX_GRAD_NORM_INPUT] = scalar(this.maxGradNorm);
    this.groups.forEach(({ optimizer, indices }, g) => {
      const factors = optimizer.nextFactors(indices.map((i) => this.param(this.keys[i]!).data.length));
      for (const [name, value] of Object.entries(factors)) feeds[factorInput(g, name)] = scalar(value);
    });
    const state = this.stateTensors();
    for (const { input, host, dims } of state) {
      const device = this.onDevice.get(input);
      if (device) deviceFeeds[input] = device;
      else feeds[input] = { type: 'float32', data: host(), dims };
    }
    const fetches = ['loss', GRAD_NORM_OUTPUT, ...state.map((t) => t.output)];
    const failed = (error: unknown): never => {
      throw isOutOfMemory(error) ? this.outOfMemory(error) : error;
    };
    if (this.download) {
      const { host, device } = await this.session.runOnDevice!(feeds, fetches, deviceFeeds).catch(failed);
      const loss = this.finiteLoss(host);
      if (loss === undefined) {
        for (const t of Object.values(device)) t.dispose();
        throw this.diverged(host);
      }
      for (const { input, output } of state) {
        const next = device[output];
        if (!next) throw new PinholeError('INTERNAL', `the training step left ${output} off the device`);
        this.onDevice.get(input)?.dispose();
        this.onDevice.set(input, next);
      }
      return loss;
    }
    const out = await this.session.run(feeds, fetches).catch(failed);
    const loss = this.finiteLoss(out);
    if (loss === undefined) throw this.diverged(out);
    // The outputs are fresh arrays onnxruntime-node made for this run: adopted as the new state, not copied (a
    // copy of every LoRA tensor and both moments per step is most of the time a step spends outside the run).
    for (const { output, adopt } of state) adopt(out[output]!.data as Float32Array);
    return loss;
  }

  /** The step's loss (and the gradient norm kept), or undefined when the loss is not finite. */
  private finiteLoss(out: Record<string, HostTensor>): number | undefined {
    const loss = (out['loss']!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) return undefined;
    this.lastGradNorm = (out[GRAD_NORM_OUTPUT]!.data as Float32Array)[0]!;
    return loss;
  }

  private diverged(out: Record<string, HostTensor>): PinholeError {
    const loss = (out['loss']!.data as Float32Array)[0]!;
    return new PinholeError('INVALID_PARAMS', `training diverged: loss is ${loss}`);
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

  /** Frees the session and any state left on the device (call `syncToHost` first to keep it). */
  release(): Promise<void> {
    this.disposeDeviceState();
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

/** Puts `data` in place of the LoRA array behind a kohya tensor key (same length). */
function adoptParam(lora: LoraWeights, key: string, data: Float32Array): void {
  const { module, which } = splitKey(key);
  const mod = lora.modules.get(module)!;
  const current = which === 'down' ? mod.down : mod.up;
  if (data.length !== current.length)
    throw new PinholeError('INTERNAL', `${key}: the step returned ${data.length} values, not ${current.length}`);
  if (which === 'down') mod.down = data;
  else mod.up = data;
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
