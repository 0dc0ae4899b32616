/**
 * Sample images during training: fixed prompts and seed, generated with the LoRA as it is at that
 * step, so the creator watches the subject appear. The UNet (and each text encoder the LoRA
 * touches) is built once with the LoRA's up/down as graph inputs; every `sample` feeds the
 * current weights, so nothing is rebuilt or merged per sample. Everything else — tokenizing,
 * prompt encoding, the scheduler, the VAE decoder and the PNG — is the engine's ordinary
 * pipeline: the sampler hands it a backend that serves the LoRA-input models in place of the
 * folder's `unet/model.onnx` (and the text encoders' `model.onnx`).
 */
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { type Model } from '../graph';
import { kohyaKeys, loraHooks, type LoraPart, type LoraWeights } from '../lora';
import {
  buildClipTextModel,
  buildUNet,
  safetensorsWeights,
  type ClipTextConfig,
  type UNetConfig,
  type WeightSource,
} from '../models';
import { loadModelFolder, StableDiffusionPipeline } from '../pipelines';
import {
  Runtime,
  type DeviceTensor,
  type ExecutionProviderName,
  type HostTensor,
  type InferenceBackend,
  type RawSession,
  type SessionOptions,
} from '../runtime';
import { createOrtBackend } from '../runtime/ort-backend';
import { parseProviderName, PROVIDER_ENV } from '../runtime/providers';
import { type SamplerName } from '../schedulers';
import { SafetensorsFile } from '../weights';
import { materializeModel, type BuiltModelSource } from './built-model';

export type TrainingSamplerOptions = {
  /** The model folder: optimum ONNX layout for the pipeline, plus the diffusers weights of the parts the LoRA touches. */
  modelDir: string;
  prompts: readonly string[];
  /** Every sample run uses this seed (prompt i: seed + i), so samples differ only by the LoRA. */
  seed: bigint;
  steps: number;
  width: number;
  height: number;
  /** Where PNGs go: `step-<step>-<index>.png`. */
  outDir: string;
  backend?: InferenceBackend;
  /** The LoRA's structure (modules, shapes, alphas): the graphs' inputs. */
  lora: LoraWeights;
  /** Default: `PINHOLE_EP` when set, else the CPU (as `LoraTrainer`). */
  provider?: ExecutionProviderName;
  sampler?: SamplerName;
  cfgScale?: number;
  negativePrompt?: string;
};

export type TrainingSample = { index: number; prompt: string; file: string };

export interface TrainingSampler {
  /** Generates one PNG per prompt with `lora` (same structure as at creation) at its current values. */
  sample(lora: LoraWeights, step: number): Promise<TrainingSample[]>;
  release(): Promise<void>;
}

/** The diffusers weights of a folder part, opened (closed by the sampler's `release`). */
async function openWeights(dir: string, file: string): Promise<{ weights: WeightSource; close(): Promise<void> }> {
  const st = await SafetensorsFile.open(path.join(dir, file));
  return { weights: safetensorsWeights(st), close: () => st.close() };
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** A model with LoRA inputs, and the kohya keys it reads. */
type LoraInputModel = { source: BuiltModelSource; keys: string[] };

/** Builds `build` with `part`'s LoRA modules as graph inputs; undefined when the LoRA has none for it. */
async function withLoraInputs(
  lora: LoraWeights,
  part: LoraPart,
  build: (hooks: ReturnType<typeof loraHooks>['hooks']) => Model,
): Promise<LoraInputModel | undefined> {
  const prefix = `lora_${part}_`;
  if (![...lora.modules.keys()].some((n) => n.startsWith(prefix))) return undefined;
  const injection = loraHooks(lora, { part, mode: 'inputs' });
  const model = build(injection.hooks);
  const unused = injection.unused();
  if (unused.length > 0) {
    throw new PinholeError('INVALID_PARAMS', `LoRA modules that match nothing in the model: ${unused.join(', ')}`);
  }
  return { source: await materializeModel(model), keys: [...injection.inputs.keys()] };
}

/**
 * A session of a LoRA-input model that looks like the plain model to the pipeline: the LoRA inputs
 * are hidden from `inputs` and fed from the sampler's current LoRA on every run.
 */
class LoraFedSession implements RawSession {
  readonly inputs: RawSession['inputs'];
  readonly outputs: RawSession['outputs'];

  constructor(
    private readonly raw: RawSession,
    private readonly keys: readonly string[],
    private readonly current: () => LoraWeights,
  ) {
    const hidden = new Set(keys);
    this.inputs = raw.inputs.filter((i) => !hidden.has(i.name));
    this.outputs = raw.outputs;
  }

  run(
    feeds: Readonly<Record<string, HostTensor>>,
    fetches?: readonly string[],
    deviceFeeds?: Readonly<Record<string, DeviceTensor>>,
  ): Promise<Record<string, HostTensor>> {
    const lora = this.current();
    const all: Record<string, HostTensor> = { ...feeds };
    for (const key of this.keys) {
      const m = /^(.+)\.lora_(down|up)\.weight$/.exec(key)!;
      const mod = lora.modules.get(m[1]!);
      if (!mod) throw new PinholeError('INVALID_PARAMS', `the LoRA being sampled has no module ${m[1]}`);
      all[key] =
        m[2] === 'down'
          ? { type: 'float32', data: mod.down, dims: mod.downDims }
          : { type: 'float32', data: mod.up, dims: mod.upDims };
    }
    return deviceFeeds ? this.raw.run(all, fetches, deviceFeeds) : this.raw.run(all, fetches);
  }

  release(): Promise<void> {
    return this.raw.release();
  }
}

/** Checks that `lora` has the structure the graphs were built for (same modules and shapes). */
function checkStructure(built: LoraWeights, lora: LoraWeights): void {
  for (const [name, m] of built.modules) {
    const now = lora.modules.get(name);
    if (!now || now.down.length !== m.down.length || now.up.length !== m.up.length || now.alpha !== m.alpha) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `the LoRA to sample differs from the sampler's at ${kohyaKeys(name).down}`,
      );
    }
  }
}

/**
 * Creates the sampler: builds the LoRA-input UNet (and text encoders) once; the first `sample`
 * loads the sessions, later ones only run them.
 */
export async function createTrainingSampler(options: TrainingSamplerOptions): Promise<TrainingSampler> {
  if (options.prompts.length === 0) throw new PinholeError('INVALID_PARAMS', 'sample images need at least one prompt');
  const base = options.backend ?? createOrtBackend();
  const folder = await loadModelFolder(options.modelDir);
  const root = folder.dir;
  const opened: { close(): Promise<void> }[] = [];
  const served = new Map<string, LoraInputModel>();
  try {
    const unetConfig = await readJson<UNetConfig>(path.join(root, 'unet/config.json'));
    const unet = await openWeights(path.join(root, 'unet'), 'diffusion_pytorch_model.safetensors');
    opened.push(unet);
    const unetModel = await withLoraInputs(options.lora, 'unet', (hooks) =>
      buildUNet(unetConfig, unet.weights, { hooks }),
    );
    if (unetModel) served.set(path.resolve(folder.files.unet), unetModel);
    const sdxl = folder.files.textEncoder2 !== undefined;
    const encoders: [LoraPart, string, string | undefined][] = [
      [sdxl ? 'te1' : 'te', 'text_encoder', folder.files.textEncoder],
      ['te2', 'text_encoder_2', folder.files.textEncoder2],
    ];
    for (const [part, sub, onnx] of encoders) {
      if (!onnx || (part === 'te2' && !sdxl)) continue;
      if (![...options.lora.modules.keys()].some((n) => n.startsWith(`lora_${part}_`))) continue;
      const config = await readJson<ClipTextConfig>(path.join(root, sub, 'config.json'));
      const te = await openWeights(path.join(root, sub), 'model.safetensors');
      opened.push(te);
      const built = await withLoraInputs(options.lora, part, (hooks) =>
        buildClipTextModel(config, te.weights, { hooks }),
      );
      if (built) served.set(path.resolve(onnx), built);
    }
  } finally {
    // The built models hold their weights (in memory or written out); the files are no longer needed.
    for (const o of opened) await o.close();
  }

  let current = options.lora;
  const backend: InferenceBackend = {
    listProviders: () => base.listProviders(),
    async createSession(model: string | Uint8Array, sessionOptions: SessionOptions): Promise<RawSession> {
      const own = typeof model === 'string' ? served.get(path.resolve(model)) : undefined;
      if (!own) return base.createSession(model, sessionOptions);
      return new LoraFedSession(await base.createSession(own.source.model, sessionOptions), own.keys, () => current);
    },
    ...(base.keepsTensorsOnDevice ? { keepsTensorsOnDevice: base.keepsTensorsOnDevice.bind(base) } : {}),
    ...(base.upload ? { upload: base.upload.bind(base) } : {}),
  };
  const provider = options.provider ?? parseProviderName(process.env[PROVIDER_ENV]) ?? 'cpu';
  const runtime = new Runtime({ backend, provider, maxSessions: 8 });
  const pipeline = await StableDiffusionPipeline.load(runtime, root);

  return {
    async sample(lora: LoraWeights, step: number): Promise<TrainingSample[]> {
      checkStructure(options.lora, lora);
      current = lora;
      await mkdir(options.outDir, { recursive: true });
      const samples: TrainingSample[] = [];
      for (const [index, prompt] of options.prompts.entries()) {
        const result = await pipeline.generate({
          model: root,
          prompt,
          seed: (options.seed + BigInt(index)) % 2n ** 64n,
          steps: options.steps,
          width: options.width,
          height: options.height,
          previewEvery: 0,
          ...(options.negativePrompt !== undefined ? { negativePrompt: options.negativePrompt } : {}),
          ...(options.sampler !== undefined ? { sampler: options.sampler } : {}),
          ...(options.cfgScale !== undefined ? { cfgScale: options.cfgScale } : {}),
        });
        const file = path.join(options.outDir, `step-${step}-${index}.png`);
        await writeFile(file, result.images[0]!.png);
        samples.push({ index, prompt, file });
      }
      return samples;
    },
    release: async () => {
      try {
        await runtime.dispose();
      } finally {
        for (const own of served.values()) await own.source.dispose();
      }
    },
  };
}
