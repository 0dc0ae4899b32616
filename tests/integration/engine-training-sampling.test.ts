/**
 * Sample images during training (`createTrainingSampler`) on sd15-tiny: with `style.safetensors`
 * (UNet + text encoder LoRA) at the multiplier of `train.json`, a sample reproduces diffusers'
 * `lora-ddim.rgb` and the engine's `generate` with that LoRA merged (as `pinhole generate --lora`
 * runs it) within CONTRACTS' tolerance; changing the LoRA's values between samples changes the
 * image without rebuilding anything (a zeroed LoRA gives the image without LoRA).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { cloneLora, readKohyaLora, type LoraWeights } from '../../src-main/engine/lora';
import { Engine, type GenerateRequest } from '../../src-main/engine/pipelines';
import { createTrainingSampler } from '../../src-main/engine/training/sampling';
import { FIXTURES } from '../helpers/fixtures';
import { compareRgb, expectRgbClose } from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = path.join(FIXTURES, 'sd15-tiny');
const TRAINING = path.join(SD15, 'training');
const STYLE = path.join(TRAINING, 'style.safetensors');

type GenerateCase = {
  multiplier: number;
  prompt: string;
  negative_prompt: string;
  steps: number;
  cfg: number;
  seed: number;
  width: number;
  height: number;
  image_rgb8: string;
};
const gen = (JSON.parse(readFileSync(path.join(TRAINING, 'train.json'), 'utf8')) as { generate: GenerateCase })
  .generate;

const tmp = makeTempDir('pinhole-train-samples-');
const engine = new Engine({ cacheDir: path.join(tmp.dir, 'cache'), provider: 'cpu' });
afterAll(async () => {
  await engine.dispose();
  tmp.cleanup();
});

const request = (loras?: GenerateRequest['loras']): GenerateRequest => ({
  model: SD15,
  prompt: gen.prompt,
  negativePrompt: gen.negative_prompt,
  seed: BigInt(gen.seed),
  sampler: 'ddim',
  steps: gen.steps,
  cfgScale: gen.cfg,
  width: gen.width,
  height: gen.height,
  ...(loras ? { loras } : {}),
});

async function rgbOf(file: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(file).removeAlpha().raw().toBuffer());
}

/** kohya's multiplier m folded into the LoRA: up · m (the delta is linear in up). */
function scaled(lora: LoraWeights, m: number): LoraWeights {
  const out = cloneLora(lora);
  for (const mod of out.modules.values()) mod.up = mod.up.map((x) => Math.fround(x * m));
  return out;
}

describe('sample images during training', () => {
  it('match diffusers and `generate --lora` with the LoRA at that step, and follow its values without rebuilding', async () => {
    const style = scaled(await readKohyaLora(STYLE), gen.multiplier);
    const sampler = await createTrainingSampler({
      modelDir: SD15,
      prompts: [gen.prompt],
      negativePrompt: gen.negative_prompt,
      seed: BigInt(gen.seed),
      steps: gen.steps,
      sampler: 'ddim',
      cfgScale: gen.cfg,
      width: gen.width,
      height: gen.height,
      outDir: path.join(tmp.dir, 'samples'),
      lora: style,
      provider: 'cpu',
    });
    try {
      const [first] = await sampler.sample(style, 10);
      expect(first).toEqual({ index: 0, prompt: gen.prompt, file: path.join(tmp.dir, 'samples', 'step-10-0.png') });
      const sample = await rgbOf(first!.file);
      expectRgbClose(sample, readFileSync(path.join(TRAINING, gen.image_rgb8)), 'sample vs diffusers lora-ddim');
      const merged = await engine.generate(request([{ path: STYLE, weight: gen.multiplier }]));
      expectRgbClose(sample, merged.images[0]!.image.data, 'sample vs generate --lora');

      // The same sessions, other values: a zeroed LoRA gives the image without LoRA.
      const zero = cloneLora(style);
      for (const mod of zero.modules.values()) mod.up.fill(0);
      const [plainSample] = await sampler.sample(zero, 20);
      const plain = await engine.generate(request());
      expectRgbClose(await rgbOf(plainSample!.file), plain.images[0]!.image.data, 'zeroed LoRA vs no LoRA');
      expect(compareRgb(await rgbOf(plainSample!.file), sample).max).toBeGreaterThan(8);
    } finally {
      await sampler.release();
    }
  });
});
