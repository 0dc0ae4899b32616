/**
 * The engine bench's mid-size model: an SD-1.x-shaped model at reduced width built by the engine's own
 * builders from random weights and written with `saveModel` in the optimum folder layout the pipelines read
 * (scheduler and tokenizer copied from the sd15-tiny fixture).
 */
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { saveModel, type Model } from '../../src-main/engine/graph';
import { buildClipTextModel, buildUNet, buildVaeDecoder, buildVaeEncoder } from '../../src-main/engine/models';
import { SD15_UNET_CONFIG } from '../../tests/helpers/diffusers-state-dicts';
import { clipTextShapes, parameterCount, randomWeights, unetShapes, vaeShapes } from './engine-weights';

/** SD 1.x's UNet layout (four levels, cross-attention on the first three) at reduced width. */
export const MID_UNET_CONFIG = {
  ...SD15_UNET_CONFIG,
  block_out_channels: [128, 256, 256, 256],
  // 32 × 32 latents: 256 × 256 images with the 8× VAE below.
  sample_size: 32,
};

/** CLIP ViT-L/14's text tower (SD 1.x's encoder) with 4 of its 12 layers. */
export const MID_TEXT_CONFIG = {
  _class_name: 'CLIPTextModel',
  architectures: ['CLIPTextModel'],
  hidden_size: 768,
  intermediate_size: 3072,
  num_attention_heads: 12,
  num_hidden_layers: 4,
  max_position_embeddings: 77,
  vocab_size: 49408,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  bos_token_id: 49406,
  eos_token_id: 49407,
  pad_token_id: 49407,
};

/** SD's AutoencoderKL layout (four levels: 8× down/up-sampling) at a quarter of its width, one resnet per level. */
export const MID_VAE_CONFIG = {
  _class_name: 'AutoencoderKL',
  in_channels: 3,
  out_channels: 3,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
  block_out_channels: [32, 64, 128, 128],
  layers_per_block: 1,
  act_fn: 'silu',
  latent_channels: 4,
  norm_num_groups: 32,
  sample_size: 256,
  scaling_factor: 0.18215,
};

export interface BuiltModel {
  readonly dir: string;
  readonly parameters: { unet: number; textEncoder: number; vae: number; total: number };
  readonly bytesOnDisk: number;
  readonly buildMs: number;
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, JSON.stringify(value, null, 1) + '\n');
}

async function save(model: Model, dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const result = await saveModel(model, path.join(dir, 'model.onnx'));
  return result.modelBytes + result.dataBytes;
}

/** Builds the mid-size model folder in `dir` (created), copying scheduler and tokenizer from `fixture`. */
export async function buildMidModel(dir: string, fixture: string): Promise<BuiltModel> {
  const started = performance.now();
  await mkdir(dir, { recursive: true });
  await copyFile(path.join(fixture, 'model_index.json'), path.join(dir, 'model_index.json'));
  for (const sub of ['scheduler', 'tokenizer']) {
    await mkdir(path.join(dir, sub), { recursive: true });
    for (const name of await readdir(path.join(fixture, sub))) {
      await copyFile(path.join(fixture, sub, name), path.join(dir, sub, name));
    }
  }
  let bytes = 0;

  // One component at a time, so only one set of random weights is alive.
  const textShapes = clipTextShapes(MID_TEXT_CONFIG);
  bytes += await save(
    buildClipTextModel(MID_TEXT_CONFIG, randomWeights(textShapes, 1)),
    path.join(dir, 'text_encoder'),
  );
  await writeJson(path.join(dir, 'text_encoder', 'config.json'), MID_TEXT_CONFIG);

  const uShapes = unetShapes(MID_UNET_CONFIG);
  bytes += await save(buildUNet(MID_UNET_CONFIG, randomWeights(uShapes, 2)), path.join(dir, 'unet'));
  await writeJson(path.join(dir, 'unet', 'config.json'), MID_UNET_CONFIG);

  const vShapes = vaeShapes(MID_VAE_CONFIG);
  const vaeWeights = randomWeights(vShapes, 3);
  for (const [sub, build] of [
    ['vae_decoder', buildVaeDecoder],
    ['vae_encoder', buildVaeEncoder],
  ] as const) {
    bytes += await save(build(MID_VAE_CONFIG, vaeWeights), path.join(dir, sub));
    await writeJson(path.join(dir, sub, 'config.json'), MID_VAE_CONFIG);
  }

  const parameters = {
    unet: parameterCount(uShapes),
    textEncoder: parameterCount(textShapes),
    vae: parameterCount(vShapes),
    total: 0,
  };
  parameters.total = parameters.unet + parameters.textEncoder + parameters.vae;
  return { dir, parameters, bytesOnDisk: bytes, buildMs: performance.now() - started };
}
