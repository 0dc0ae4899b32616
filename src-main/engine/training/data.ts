/**
 * The data side of the reference training loop, computed once: VAE latent means × scaling factor
 * per image, and the text encoder's `last_hidden_state` per caption (padded to 77), for a folder of
 * images with same-name `.txt` captions, in file-name order.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { encodeModel } from '../graph';
import { loadRgb, rgbToTensor } from '../image/convert';
import {
  buildClipTextModel,
  buildVaeEncoder,
  resolveVaeConfig,
  safetensorsWeights,
  type AutoencoderKLConfig,
  type ClipTextConfig,
} from '../models';
import { type InferenceBackend } from '../runtime';
import { ClipTokenizer } from '../text';
import { SafetensorsFile } from '../weights';

const IMAGE_EXT = /\.(png|jpe?g|webp)$/i;

export type TrainingExample = {
  file: string;
  caption: string;
  /** [latent_channels, h, w] × scaling factor. */
  latents: Float32Array;
  /** [77, hidden]. */
  cond: Float32Array;
};

export type TrainingData = {
  examples: TrainingExample[];
  latentDims: [number, number, number];
  condDims: [number, number];
};

/** Image files of `dir` (png/jpg/webp) with their `.txt` captions ('' when absent), by file name. */
export async function listImages(dir: string): Promise<{ file: string; caption: string }[]> {
  const names = (await readdir(dir)).filter((n) => IMAGE_EXT.test(n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new PinholeError('INVALID_PARAMS', `${dir}: no images to train on`);
  return Promise.all(
    names.map(async (n) => {
      const file = path.join(dir, n);
      const txt = file.replace(IMAGE_EXT, '.txt');
      const caption = await readFile(txt, 'utf8').then(
        (t) => t.trim(),
        () => '',
      );
      return { file, caption };
    }),
  );
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/**
 * Encodes the dataset with the model folder's `vae/` and `text_encoder/` (diffusers layout),
 * images resized to `resolution` × `resolution`.
 */
export async function prepareTrainingData(
  modelDir: string,
  imagesDir: string,
  resolution: number,
  backend: InferenceBackend,
): Promise<TrainingData> {
  const items = await listImages(imagesDir);
  const vaeConfig = await readJson<AutoencoderKLConfig>(path.join(modelDir, 'vae/config.json'));
  const scaling = vaeConfig.scaling_factor ?? 0.18215;
  const latentChannels = resolveVaeConfig(vaeConfig).latentChannels;
  const vaeFile = await SafetensorsFile.open(path.join(modelDir, 'vae/diffusion_pytorch_model.safetensors'));
  const teConfig = await readJson<ClipTextConfig>(path.join(modelDir, 'text_encoder/config.json'));
  const teFile = await SafetensorsFile.open(path.join(modelDir, 'text_encoder/model.safetensors'));
  try {
    const vae = await backend.createSession(encodeModel(buildVaeEncoder(vaeConfig, safetensorsWeights(vaeFile))), {
      executionProvider: 'cpu',
    });
    const te = await backend.createSession(
      encodeModel(buildClipTextModel(teConfig, safetensorsWeights(teFile), { hiddenStates: 'none' })),
      { executionProvider: 'cpu' },
    );
    const tokenizer = await ClipTokenizer.fromModelFolder(modelDir);
    try {
      const examples: TrainingExample[] = [];
      let latentDims: [number, number, number] = [0, 0, 0];
      let condDims: [number, number] = [0, 0];
      for (const item of items) {
        const pixels = rgbToTensor(await loadRgb(item.file, resolution, resolution));
        const out = await vae.run({ sample: { type: 'float32', data: pixels, dims: [1, 3, resolution, resolution] } });
        const params = out['latent_parameters']!;
        const [, , h, w] = params.dims as [number, number, number, number];
        const mean = (params.data as Float32Array).slice(0, latentChannels * h * w);
        const latents = mean.map((x) => Math.fround(x * scaling));
        latentDims = [latentChannels, h, w];
        const ids = tokenizer.encodePadded(item.caption).ids;
        const enc = await te.run({ input_ids: { type: 'int32', data: ids, dims: [1, ids.length] } });
        const last = enc['last_hidden_state']!;
        condDims = [last.dims[1]!, last.dims[2]!];
        examples.push({ ...item, latents, cond: (last.data as Float32Array).slice() });
      }
      return { examples, latentDims, condDims };
    } finally {
      await vae.release();
      await te.release();
    }
  } finally {
    await vaeFile.close();
    await teFile.close();
  }
}
