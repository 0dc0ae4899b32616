import path from 'node:path';
import { saveModel } from '../graph';
import { buildClipTextModel, safetensorsWeights, type ClipTextConfig } from '../models';
import type { DerivedModel } from '../runtime';
import {
  parseComponentConfig,
  readComponentSources,
  withComponentWeights,
  type ComponentWeightFiles,
} from './component-weights';

/**
 * A text encoder with every layer's output, for when the folder's ONNX encoder lacks them. Clip skip on
 * SD 1.x/2.x reads an inner layer (`hidden_states[-k]`, then the final layer norm, as A1111 and diffusers do), and
 * SDXL always reads the penultimate one; optimum exports `hidden_states.0…N` for SDXL but not for SD 1.x/2.x, so
 * a standard SD 1.x export cannot give them. As the VAE encoder does (`vae-encoder-source.ts`), the encoder is then
 * built from the folder's diffusers weights (`text_encoder/config.json` + `text_encoder/model.safetensors`, or its
 * `.fp16` variant) with `buildClipTextModel` — float32, int32 `input_ids`, the optimum output names — cached on
 * disk in the runtime's cache folder (`<cacheDir>/text-encoder-hidden/<key>/model.onnx`, keyed by the weights' and
 * config's real path, size and mtime and by `TEXT_ENCODER_BUILD_VERSION`). Without weights the ONNX encoder stays
 * and the request is refused with what is missing.
 */

/** Bump when the built encoder changes: cached encoders built by older code are then not reused. */
export const TEXT_ENCODER_BUILD_VERSION = 1;

/** The encoders of a folder: SD's only one, or SDXL's second. */
export type TextEncoderComponent = 'text_encoder' | 'text_encoder_2';

const KINDS: Readonly<Record<TextEncoderComponent, string>> = {
  text_encoder: 'text-encoder-hidden',
  text_encoder_2: 'text-encoder-2-hidden',
};

/** The derived-model description of an encoder built from diffusers weights (stamps read now). */
export async function textEncoderBuild(
  component: TextEncoderComponent,
  files: ComponentWeightFiles,
): Promise<DerivedModel> {
  const { configText, weights, config } = await readComponentSources(component, files);
  const sources = { weights, config };
  return {
    kind: KINDS[component],
    version: TEXT_ENCODER_BUILD_VERSION,
    sources,
    write: (dir) => writeTextEncoder(files, configText, path.join(dir, 'model.onnx')),
  };
}

/** Builds the encoder with every hidden state as an output and saves it (weights in `model.onnx.data`). */
async function writeTextEncoder(files: ComponentWeightFiles, configText: string, file: string): Promise<void> {
  const config = parseComponentConfig<ClipTextConfig>(files.config, configText, 'CLIP text');
  await withComponentWeights(files, async (source) => {
    const model = buildClipTextModel(config, safetensorsWeights(source, 'float32'), { hiddenStates: 'all' });
    await saveModel(model, file);
  });
}
