/**
 * A diffusers folder (`model_index.json`, per-component `config.json` + `.safetensors`, `.fp16.`
 * variants accepted) as model components, so it converts like a single-file checkpoint. The
 * family comes from the UNet config (or the `pinhole_family` our converter records); the folder's own scheduler config is kept.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { type Tensor } from '../graph';
import type { ModelComponents } from './components';
import type { CheckpointFamily, PredictionType } from './family';
import { openStateDict } from './state-dict';

const WEIGHT_NAMES: Readonly<Record<string, readonly string[]>> = {
  unet: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
  vae: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
  text_encoder: ['model.safetensors', 'model.fp16.safetensors'],
  text_encoder_2: ['model.safetensors', 'model.fp16.safetensors'],
};

/** Whether `dir` is a diffusers folder (as opposed to optimum's ONNX layout). */
export function isDiffusersFolder(dir: string): boolean {
  return (
    existsSync(path.join(dir, 'model_index.json')) &&
    existsSync(path.join(dir, 'unet', 'config.json')) &&
    WEIGHT_NAMES['unet']!.some((n) => existsSync(path.join(dir, 'unet', n)))
  );
}

async function json(file: string): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (error) {
    throw new PinholeError('IMPORT_REJECTED', `${file} is missing or not valid JSON`, { cause: error });
  }
  throw new PinholeError('IMPORT_REJECTED', `${file} is not a JSON object`);
}

/** The files of one component: its config and the first weights file present. */
export function componentFiles(dir: string, sub: string): { config: string; weights: string } | undefined {
  const config = path.join(dir, sub, 'config.json');
  const weights = WEIGHT_NAMES[sub]?.map((n) => path.join(dir, sub, n)).find((f) => existsSync(f));
  return existsSync(config) && weights ? { config, weights } : undefined;
}

async function component(
  dir: string,
  sub: string,
): Promise<{ config: Record<string, unknown>; weights: Map<string, Tensor> }> {
  const files = componentFiles(dir, sub);
  if (!files)
    throw new PinholeError('IMPORT_REJECTED', `${dir}: ${sub}/config.json or its .safetensors weights are missing`);
  const dict = await openStateDict(files.weights);
  return { config: await json(files.config), weights: new Map(dict.tensors) };
}

/** All files the conversion reads (the cache key stamps them). */
export function diffusersFolderFiles(dir: string): string[] {
  const out = [path.join(dir, 'model_index.json'), path.join(dir, 'scheduler', 'scheduler_config.json')];
  for (const sub of Object.keys(WEIGHT_NAMES)) {
    const f = componentFiles(dir, sub);
    if (f) out.push(f.config, f.weights);
  }
  return out.filter((f) => existsSync(f));
}

/** Reads a diffusers folder's components and scheduler config. */
export async function diffusersComponents(
  dir: string,
): Promise<{ components: ModelComponents; schedulerConfig: Record<string, unknown> }> {
  const unet = await component(dir, 'unet');
  const vae = await component(dir, 'vae');
  const textEncoder = await component(dir, 'text_encoder');
  const sdxl = unet.config['addition_embed_type'] === 'text_time';
  const textEncoder2 = sdxl ? await component(dir, 'text_encoder_2') : undefined;
  // A folder our converter wrote says which family its checkpoint was (tiny widths cannot tell SD 2.x from 1.x).
  const declared = (await json(path.join(dir, 'model_index.json')))['pinhole_family'];
  const family: CheckpointFamily = sdxl
    ? 'sdxl'
    : declared === 'sd1' || declared === 'sd2'
      ? declared
      : unet.config['cross_attention_dim'] === 1024 || textEncoder.config['hidden_size'] === 1024
        ? 'sd2'
        : 'sd1';
  const schedulerConfig = await json(path.join(dir, 'scheduler', 'scheduler_config.json'));
  const prediction: PredictionType = schedulerConfig['prediction_type'] === 'v_prediction' ? 'v_prediction' : 'epsilon';
  const blocks = vae.config['block_out_channels'];
  const vaeScale = Array.isArray(blocks) ? 2 ** (blocks.length - 1) : 8;
  const sample = typeof unet.config['sample_size'] === 'number' ? unet.config['sample_size'] : undefined;
  return {
    components: {
      family,
      prediction,
      inpainting: unet.config['in_channels'] === 9,
      nativeResolution: sample ? sample * vaeScale : family === 'sdxl' ? 1024 : 512,
      unet,
      vae,
      textEncoder,
      textEncoder2,
    },
    schedulerConfig,
  };
}
