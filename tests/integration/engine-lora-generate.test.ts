/**
 * Generation with LoRAs merged at build time, against `sd15-tiny/training`: `style.safetensors` (UNet and text
 * encoder, rank 8) at the multiplier in `train.json` → `generate` reproduces `lora-ddim.rgb` (diffusers' DDIM
 * loop with the LoRA merged); weight 0 gives the image without LoRA; the merged models are cached on disk; keys
 * that match nothing and folders without diffusers weights are clear errors.
 */
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInfotext } from '../../src-main/engine/image';
import { readKohyaLora, writeKohyaLora } from '../../src-main/engine/lora';
import { addnetHash, Engine, type GenerateRequest } from '../../src-main/engine/pipelines';
import { compareRgb, expectRgbClose } from '../helpers/reference-images';
import { FIXTURES } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = path.join(FIXTURES, 'sd15-tiny');
const TRAINING = path.join(SD15, 'training');
const STYLE = path.join(TRAINING, 'style.safetensors');

type GenerateCase = {
  lora: string;
  multiplier: number;
  prompt: string;
  negative_prompt: string;
  scheduler: 'ddim';
  steps: number;
  cfg: number;
  seed: number;
  width: number;
  height: number;
  image_rgb8: string;
};
const gen = (JSON.parse(readFileSync(path.join(TRAINING, 'train.json'), 'utf8')) as { generate: GenerateCase })
  .generate;

const request = (loras?: GenerateRequest['loras'], model = SD15): GenerateRequest => ({
  model,
  prompt: gen.prompt,
  negativePrompt: gen.negative_prompt,
  seed: BigInt(gen.seed),
  sampler: gen.scheduler,
  steps: gen.steps,
  cfgScale: gen.cfg,
  width: gen.width,
  height: gen.height,
  ...(loras ? { loras } : {}),
});

const tmp = makeTempDir('pinhole-lora-gen-');
const cacheDir = path.join(tmp.dir, 'cache');
const engine = new Engine({ cacheDir });
afterAll(async () => {
  await engine.dispose();
  tmp.cleanup();
});

describe('generation with a kohya LoRA (sd15-tiny/training)', () => {
  it('reproduces lora-ddim.rgb with style.safetensors at its multiplier, and caches the merged models', async () => {
    const expected = readFileSync(path.join(TRAINING, gen.image_rgb8));
    const result = await engine.generate(request([{ path: STYLE, weight: gen.multiplier }]));
    const image = result.images[0]!.image;
    expectRgbClose(image.data, expected, 'style LoRA, DDIM');

    // The LoRA changes the image: without it the reference is far off.
    const plain = await engine.generate(request());
    const { mean } = compareRgb(plain.images[0]!.image.data, expected);
    expect(Math.max(...mean)).toBeGreaterThan(2);

    // A1111's `Lora hashes` (the addnet hash of the file's tensor data, 12 digits).
    const params = parseInfotext(result.images[0]!.parameters).params;
    expect(params['Lora hashes']).toBe(`style: ${(await addnetHash(STYLE)).slice(0, 12)}`);
    expect(parseInfotext(plain.images[0]!.parameters).params['Lora hashes']).toBeUndefined();

    // Both parts built once, into the cache, and reused.
    expect(readdirSync(path.join(cacheDir, 'lora-unet'))).toHaveLength(1);
    expect(readdirSync(path.join(cacheDir, 'lora-text-encoder'))).toHaveLength(1);
    const again = await engine.generate(request([{ path: STYLE, weight: gen.multiplier }]));
    expect(Buffer.from(again.images[0]!.image.data).equals(Buffer.from(image.data))).toBe(true);
    expect(readdirSync(path.join(cacheDir, 'lora-unet'))).toHaveLength(1);

    // Another weight is another build.
    await engine.generate(request([{ path: STYLE, weight: 0.4 }]));
    expect(readdirSync(path.join(cacheDir, 'lora-unet'))).toHaveLength(2);
  });

  it('gives the image without LoRA at weight 0', async () => {
    const plain = await engine.generate(request());
    const zero = await engine.generate(request([{ path: STYLE, weight: 0 }]));
    const { mean, max } = compareRgb(zero.images[0]!.image.data, plain.images[0]!.image.data);
    console.info(`weight 0 vs no LoRA: mean |Δ| ${mean.map((m) => m.toFixed(4)).join(' / ')}, max ${max}`);
    expect(max).toBe(0);
  });

  it('names LoRA modules that match nothing in the model, whatever their weight', async () => {
    const lora = await readKohyaLora(STYLE);
    const [first] = lora.modules.values();
    lora.modules.set('lora_unet_down_blocks_9_attentions_0_proj_in', {
      ...first!,
      name: 'lora_unet_down_blocks_9_attentions_0_proj_in',
    });
    const bad = path.join(tmp.dir, 'bad.safetensors');
    await writeKohyaLora(bad, lora);
    for (const weight of [1, 0]) {
      await expect(engine.generate(request([{ path: bad, weight }]))).rejects.toThrow(
        /lora_unet_down_blocks_9_attentions_0_proj_in/,
      );
    }
    lora.modules.delete('lora_unet_down_blocks_9_attentions_0_proj_in');
    lora.modules.set('lora_foo_bar', { ...first!, name: 'lora_foo_bar' });
    const prefix = path.join(tmp.dir, 'prefix.safetensors');
    await writeKohyaLora(prefix, lora);
    await expect(engine.generate(request([{ path: prefix, weight: 1 }]))).rejects.toThrow(/lora_foo_bar/);
  });

  it('says a folder without diffusers weights needs them for LoRAs', async () => {
    const onnxOnly = path.join(tmp.dir, 'onnx-only');
    cpSync(SD15, onnxOnly, { recursive: true, filter: (src) => !src.includes(`${path.sep}training`) });
    rmSync(path.join(onnxOnly, 'unet', 'diffusion_pytorch_model.safetensors'));
    await expect(engine.generate(request([{ path: STYLE, weight: 1 }], onnxOnly))).rejects.toThrow(
      /needs its diffusers weights for LoRAs.*unet\/diffusion_pytorch_model\.safetensors/,
    );
  });

  it('rejects bad loras fields', async () => {
    await expect(engine.generate(request([{ path: STYLE, weight: Number.NaN }]))).rejects.toThrow(/loras\[0\]\.weight/);
    const many = Array.from({ length: 17 }, () => ({ path: STYLE, weight: 1 }));
    await expect(engine.generate(request(many))).rejects.toThrow(/at most 16/);
    await expect(
      engine.generate(request([{ path: path.join(tmp.dir, 'nope.safetensors'), weight: 1 }])),
    ).rejects.toThrow(/LoRA file not found/);
  });
});
