/**
 * Writes model components as the folder the engine runs: optimum's ONNX layout (built with the
 * engine's own builders) plus the diffusers-layout weights and configs LoRA merging and training
 * read. Weights stream from the source file to both outputs, tensor by tensor.
 *
 * ```
 * model_index.json   scheduler/scheduler_config.json   tokenizer(_2)/{vocab.json,merges.txt,tokenizer_config.json}
 * unet/{config.json, diffusion_pytorch_model.safetensors, model.onnx(.data)}
 * vae/{config.json, diffusion_pytorch_model.safetensors}   vae_decoder/, vae_encoder/{config.json, model.onnx(.data)}
 * text_encoder(_2)/{config.json, model.safetensors, model.onnx(.data)}
 * ```
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { saveModel, type DType, type Model, type Tensor } from '../graph';
import { buildClipTextModel, buildUNet, buildVaeDecoder, buildVaeEncoder, type WeightSource } from '../models';
import { writeSafetensors } from '../weights';
import type { ClipComponent } from './clip-keys';
import type { Component, ModelComponents } from './components';
import { schedulerConfigFor, writeClipTokenizer } from './family-files';
import { withDtype } from './tensor-ops';

/** Progress of a conversion: a stage name and the fraction of the work done (0…1). */
export type ConvertProgress = { stage: string; fraction: number };

export type WriteFolderOptions = {
  resources: string;
  /** Weight dtype inside the ONNX graphs (activations stay float32). */
  precision: 'float32' | 'float16';
  /** A scheduler config that replaces the family default (diffusers folders carry their own). */
  schedulerConfig?: Record<string, unknown> | undefined;
  onProgress?: ((progress: ConvertProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
};

/** A weight source over mapped tensors, each served in `dtype`. */
function weightSource(weights: ReadonlyMap<string, Tensor>, dtype: DType, label: string): WeightSource {
  return {
    has: (name) => weights.has(name),
    get: (name) => {
      const t = weights.get(name);
      if (!t) throw new PinholeError('IMPORT_REJECTED', `${label}: the weight "${name}" is missing`);
      return withDtype(t, dtype);
    },
    names: () => weights.keys(),
  };
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** `<dir>/<sub>/model.onnx`, built when called (so a cancelled conversion builds nothing more). */
async function saveGraph(dir: string, sub: string, model: () => Model): Promise<void> {
  await mkdir(path.join(dir, sub), { recursive: true });
  await saveModel(model(), path.join(dir, sub, 'model.onnx'));
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PinholeError('CANCELED', 'The model conversion was cancelled');
}

/** One piece of work of a conversion, weighing `bytes` of the whole. */
type Step = (stage: string, bytes: number, work: () => Promise<unknown>) => Promise<void>;

/** Runs steps in turn, checking for cancellation before each and reporting progress over `total` bytes. */
function progressSteps(total: number, options: Pick<WriteFolderOptions, 'onProgress' | 'signal'>): Step {
  let done = 0;
  return async (stage, bytes, work) => {
    checkAbort(options.signal);
    options.onProgress?.({ stage, fraction: done / total });
    await work();
    done += bytes;
    options.onProgress?.({ stage, fraction: Math.min(done / total, 1) });
  };
}

/** Bytes a component's weights take as stored. */
function storedBytes(c: Component | ClipComponent): number {
  let n = 0;
  for (const t of c.weights.values()) n += ArrayBuffer.isView(t.data) ? t.data.byteLength : t.data.length;
  return n;
}

/**
 * Writes the folder into `dir` (which must not hold another model).
 * @throws PinholeError `IMPORT_REJECTED` when a builder refuses the weights; `CANCELED` when `signal` aborts.
 */
export async function writeModelFolder(
  components: ModelComponents,
  dir: string,
  options: WriteFolderOptions,
): Promise<void> {
  const { family, prediction } = components;
  const sdxl = family === 'sdxl';
  const total =
    2 * storedBytes(components.unet) +
    3 * storedBytes(components.vae) +
    2 * storedBytes(components.textEncoder) +
    (components.textEncoder2 ? 2 * storedBytes(components.textEncoder2) : 0);
  const step = progressSteps(total, options);
  const dtype = options.precision;

  const modelIndex: Record<string, unknown> = sdxl
    ? {
        _class_name: 'StableDiffusionXLPipeline',
        force_zeros_for_empty_prompt: true,
        text_encoder: ['transformers', 'CLIPTextModel'],
        text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        tokenizer_2: ['transformers', 'CLIPTokenizer'],
      }
    : {
        _class_name: 'ORTStableDiffusionPipeline',
        text_encoder: ['transformers', 'CLIPTextModel'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
      };
  const schedulerConfig = options.schedulerConfig ?? (await schedulerConfigFor(options.resources, family, prediction));
  const schedulerClass = schedulerConfig['_class_name'];
  await writeJson(path.join(dir, 'model_index.json'), {
    ...modelIndex,
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae_decoder: ['diffusers', 'AutoencoderKL'],
    vae_encoder: ['diffusers', 'AutoencoderKL'],
    scheduler: ['diffusers', typeof schedulerClass === 'string' ? schedulerClass : 'PNDMScheduler'],
    // The family the weights' key names gave (tiny test models' widths cannot tell SD 2.x from 1.x).
    pinhole_family: family,
  });
  await writeJson(path.join(dir, 'scheduler', 'scheduler_config.json'), schedulerConfig);
  // SD 2.x's and SDXL's OpenCLIP tokenizers pad with "!", OpenAI CLIP's with <|endoftext|>.
  await writeClipTokenizer(options.resources, path.join(dir, 'tokenizer'), family === 'sd2' ? '!' : '<|endoftext|>');
  if (sdxl) await writeClipTokenizer(options.resources, path.join(dir, 'tokenizer_2'), '!');

  const encoders: [string, ClipComponent][] = [['text_encoder', components.textEncoder]];
  if (components.textEncoder2) encoders.push(['text_encoder_2', components.textEncoder2]);
  for (const [sub, encoder] of encoders) {
    const bytes = storedBytes(encoder);
    await writeJson(path.join(dir, sub, 'config.json'), encoder.config);
    await step(`${sub} weights`, bytes, () =>
      writeSafetensors(path.join(dir, sub, 'model.safetensors'), [...encoder.weights.values()]),
    );
    await step(`${sub} graph`, bytes, () =>
      saveGraph(dir, sub, () =>
        buildClipTextModel(encoder.config, weightSource(encoder.weights, dtype, sub), { name: sub }),
      ),
    );
  }

  const { unet, vae } = components;
  const unetBytes = storedBytes(unet);
  await writeJson(path.join(dir, 'unet', 'config.json'), unet.config);
  await step('unet weights', unetBytes, () =>
    writeSafetensors(path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), [...unet.weights.values()]),
  );
  await step('unet graph', unetBytes, () =>
    saveGraph(dir, 'unet', () => buildUNet(unet.config, weightSource(unet.weights, dtype, 'unet'))),
  );

  await writeVaeParts(vae, dir, step);
}

/** `vae/` (config + weights), `vae_decoder/` and `vae_encoder/` (config + graph) of a VAE component. */
async function writeVaeParts(vae: Component, dir: string, step: Step): Promise<void> {
  const vaeBytes = storedBytes(vae);
  await writeJson(path.join(dir, 'vae', 'config.json'), vae.config);
  await writeJson(path.join(dir, 'vae_decoder', 'config.json'), vae.config);
  await writeJson(path.join(dir, 'vae_encoder', 'config.json'), vae.config);
  await step('vae weights', vaeBytes, () =>
    writeSafetensors(path.join(dir, 'vae', 'diffusion_pytorch_model.safetensors'), [...vae.weights.values()]),
  );
  // The VAE stays float32: float16 VAEs overflow in SD 1.x / SDXL (diffusers' force_upcast).
  await step('vae decoder graph', vaeBytes, () =>
    saveGraph(dir, 'vae_decoder', () => buildVaeDecoder(vae.config, weightSource(vae.weights, 'float32', 'vae'))),
  );
  await step('vae encoder graph', vaeBytes, () =>
    saveGraph(dir, 'vae_encoder', () => buildVaeEncoder(vae.config, weightSource(vae.weights, 'float32', 'vae'))),
  );
}

/**
 * Writes only the VAE parts of a folder (`vae/`, `vae_decoder/`, `vae_encoder/`) into `dir`: a separate VAE
 * for a folder whose other parts come from elsewhere (see `onnx-vae-overlay.ts`).
 * @throws PinholeError `IMPORT_REJECTED` when the builder refuses the weights; `CANCELED` when `signal` aborts.
 */
export async function writeVaeFolder(
  vae: Component,
  dir: string,
  options: Pick<WriteFolderOptions, 'onProgress' | 'signal'>,
): Promise<void> {
  await writeVaeParts(vae, dir, progressSteps(3 * storedBytes(vae), options));
}

function graphBytes(c: Component | ClipComponent, dtype: 'float32' | 'float16'): number {
  let n = 0;
  for (const t of c.weights.values()) n += t.dims.reduce((a, d) => a * d, 1) * (dtype === 'float32' ? 4 : 2);
  return n;
}

/** Bytes `writeVaeFolder` will write: the weights as stored and two float32 graphs. */
export function estimateVaeFolderBytes(vae: Component): number {
  return storedBytes(vae) + 2 * graphBytes(vae, 'float32') + (1 << 20);
}

/** Bytes the folder will take, estimated from the weights (ONNX copies in `precision`, diffusers copies as stored). */
export function estimateFolderBytes(components: ModelComponents, precision: 'float32' | 'float16'): number {
  const parts: (Component | ClipComponent)[] = [components.unet, components.textEncoder];
  if (components.textEncoder2) parts.push(components.textEncoder2);
  let n = estimateVaeFolderBytes(components.vae);
  for (const c of parts) n += storedBytes(c) + graphBytes(c, precision);
  return n + (3 << 20); // tokenizers, configs, protobuf framing
}
