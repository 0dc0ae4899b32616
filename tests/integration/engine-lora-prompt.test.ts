/**
 * LoRAs named in prompts (`<lora:NAME:WEIGHT>`, A1111) and diffusers / PEFT LoRA files, against
 * `sd15-tiny/training`: the tag (in the prompt or the negative prompt) gives exactly the image of the explicit
 * LoRA, which reproduces `lora-ddim.rgb`; the infotext keeps the tag in the prompt and lists `Lora hashes`; an
 * unknown name is an error naming it. `style.safetensors` rewritten with LDM UNet names (as kohya names SDXL
 * LoRAs) or in PEFT's layout (its scales folded into `lora_B`, no alphas) reproduces `lora-ddim.rgb` too; an SDXL
 * LoRA with `lora_te1_` / `lora_te2_` / LDM UNet modules builds all three parts of sdxl-tiny.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInfotext } from '../../src-main/engine/image';
import { loraComponentOf, readKohyaLora, writeKohyaLora, type LoraModule } from '../../src-main/engine/lora';
import { addnetHash, Engine, type GenerateRequest } from '../../src-main/engine/pipelines';
import { SafetensorsFile, writeSafetensors } from '../../src-main/engine/weights';
import type { Tensor } from '../../src-main/engine/graph';
import { compareRgb, expectRgbClose } from '../helpers/reference-images';
import { FIXTURES } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = path.join(FIXTURES, 'sd15-tiny');
const TRAINING = path.join(SD15, 'training');
const STYLE = path.join(TRAINING, 'style.safetensors');

type GenerateCase = {
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
const expected = readFileSync(path.join(TRAINING, gen.image_rgb8));

const request = (extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model: SD15,
  prompt: gen.prompt,
  negativePrompt: gen.negative_prompt,
  seed: BigInt(gen.seed),
  sampler: gen.scheduler,
  steps: gen.steps,
  cfgScale: gen.cfg,
  width: gen.width,
  height: gen.height,
  ...extra,
});

const tmp = makeTempDir('pinhole-lora-prompt-');
const engine = new Engine({ cacheDir: path.join(tmp.dir, 'cache') });
afterAll(async () => {
  await engine.dispose();
  tmp.cleanup();
});

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('<lora:NAME:WEIGHT> in prompts', () => {
  it('gives exactly the explicit LoRA image (lora-ddim.rgb), from the prompt or the negative prompt', async () => {
    const networks = { loras: { style: STYLE } };
    const explicit = await engine.generate(request({ loras: [{ path: STYLE, weight: gen.multiplier }] }));
    expectRgbClose(explicit.images[0]!.image.data, expected, 'explicit style LoRA');

    const tagged = await engine.generate(request({ prompt: `${gen.prompt} <lora:style:${gen.multiplier}>`, networks }));
    expect(same(tagged.images[0]!.image.data, explicit.images[0]!.image.data)).toBe(true);
    // A1111's infotext: the tag stays in the prompt, the hash is listed.
    const info = parseInfotext(tagged.images[0]!.parameters);
    expect(info.prompt).toBe(`${gen.prompt} <lora:style:${gen.multiplier}>`);
    expect(info.params['Lora hashes']).toBe(`style: ${(await addnetHash(STYLE)).slice(0, 12)}`);
    // An explicit LoRA is written as a tag too, so the infotext alone reproduces the image.
    expect(parseInfotext(explicit.images[0]!.parameters).prompt).toBe(info.prompt);

    const inNegative = await engine.generate(
      request({ negativePrompt: `<lyco:style:${gen.multiplier}>${gen.negative_prompt}`, networks }),
    );
    expect(same(inNegative.images[0]!.image.data, explicit.images[0]!.image.data)).toBe(true);
  });

  it('splits text-encoder and UNet weights (<lora:NAME:TE:UNET>)', async () => {
    const networks = { loras: { style: STYLE } };
    const full = await engine.generate(request({ prompt: `${gen.prompt}<lora:style:${gen.multiplier}>`, networks }));
    const split = await engine.generate(
      request({ prompt: `${gen.prompt}<lora:style:${gen.multiplier}:${gen.multiplier}>`, networks }),
    );
    expect(same(split.images[0]!.image.data, full.images[0]!.image.data)).toBe(true);
    const teOnly = await engine.generate(
      request({ prompt: `${gen.prompt}<lora:style:te=${gen.multiplier}:unet=0>`, networks }),
    );
    const plain = await engine.generate(request());
    expect(same(teOnly.images[0]!.image.data, full.images[0]!.image.data)).toBe(false);
    expect(same(teOnly.images[0]!.image.data, plain.images[0]!.image.data)).toBe(false);
  });

  it('names an unknown LoRA, and unsupported extra networks', async () => {
    await expect(engine.generate(request({ prompt: 'a cat <lora:nope:0.5>' }))).rejects.toThrow(
      /Unknown LoRA "nope" in <lora:nope:0\.5>/,
    );
    await expect(
      engine.generate(request({ prompt: 'a cat <hypernet:thing:1>', networks: { loras: { style: STYLE } } })),
    ).rejects.toThrow(/<hypernet:thing:1>: "hypernet" extra networks are not supported/);
    await expect(
      engine.generate(request({ prompt: 'a cat <lora:style:lots>', networks: { loras: { style: STYLE } } })),
    ).rejects.toThrow(/<lora:style:lots>: "lots" is not a weight/);
  });
});

/** Module paths by kohya's underscored form, from a component's weight names. */
async function modulePaths(weights: string): Promise<Map<string, string>> {
  const file = await SafetensorsFile.open(weights);
  try {
    const out = new Map<string, string>();
    for (const name of file.names) {
      if (name.endsWith('.weight')) out.set(name.slice(0, -7).replace(/\./g, '_'), name.slice(0, -7));
    }
    return out;
  } finally {
    await file.close();
  }
}

describe('kohya LoRAs with LDM module names (as kohya names SDXL LoRAs)', () => {
  it('style.safetensors renamed to input_blocks / middle_block / output_blocks reproduces lora-ddim.rgb', async () => {
    // sd15-tiny: layers_per_block 2, so input and output blocks come in groups of 3 (LDM's layout).
    const ldm = (rest: string): string => {
      let m = /^down_blocks_(\d+)_attentions_(\d+)_(.+)$/.exec(rest);
      if (m) return `input_blocks_${1 + Number(m[1]) * 3 + Number(m[2])}_1_${m[3]}`;
      m = /^up_blocks_(\d+)_attentions_(\d+)_(.+)$/.exec(rest);
      if (m) return `output_blocks_${Number(m[1]) * 3 + Number(m[2])}_1_${m[3]}`;
      m = /^mid_block_attentions_0_(.+)$/.exec(rest);
      if (m) return `middle_block_1_${m[1]}`;
      throw new Error(`no LDM name for ${rest}`);
    };
    const kohya = await readKohyaLora(STYLE);
    const renamed = new Map<string, LoraModule>();
    let changed = 0;
    for (const m of kohya.modules.values()) {
      const part = loraComponentOf(m.name)!;
      const name = part.component === 'unet' ? `lora_unet_${ldm(part.rest)}` : m.name;
      if (name !== m.name) changed++;
      renamed.set(name, { ...m, name });
    }
    expect(changed).toBeGreaterThan(0);
    const file = path.join(tmp.dir, 'style-ldm.safetensors');
    await writeKohyaLora(file, { modules: renamed, metadata: {} });
    const result = await engine.generate(request({ loras: [{ path: file, weight: gen.multiplier }] }));
    expectRgbClose(result.images[0]!.image.data, expected, 'style LoRA with LDM names');
  });
});

describe('SDXL kohya LoRAs (lora_te1_ / lora_te2_, LDM UNet names)', () => {
  it('merge into both text encoders and the UNet of sdxl-tiny', async () => {
    const SDXL = path.join(FIXTURES, 'sdxl-tiny');
    const rand = (n: number, seed: number) =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.2);
    const module = (name: string, width: number, seed: number): LoraModule => ({
      name,
      down: rand(4 * width, seed),
      downDims: [4, width],
      up: rand(width * 4, seed + 1),
      upDims: [width, 4],
      alpha: 4,
    });
    const modules = [
      module('lora_te1_text_model_encoder_layers_0_self_attn_q_proj', 32, 1),
      module('lora_te2_text_model_encoder_layers_0_self_attn_q_proj', 32, 2),
      // down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q (layers_per_block 2).
      module('lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q', 64, 3),
    ];
    const file = path.join(tmp.dir, 'sdxl-lora.safetensors');
    await writeKohyaLora(file, { modules: new Map(modules.map((m) => [m.name, m])), metadata: {} });
    const sdxl = (loras?: GenerateRequest['loras']): GenerateRequest => ({
      model: SDXL,
      prompt: 'a lighthouse',
      seed: 3n,
      sampler: 'euler',
      steps: 3,
      ...(loras ? { loras } : {}),
    });
    // An engine with its own cache, to see each part built once.
    const cacheDir = path.join(tmp.dir, 'sdxl-cache');
    const own = new Engine({ cacheDir });
    try {
      const plain = await own.generate(sdxl());
      const merged = await own.generate(sdxl([{ path: file, weight: 1 }]));
      expect(same(merged.images[0]!.image.data, plain.images[0]!.image.data)).toBe(false);
      for (const kind of ['lora-unet', 'lora-text-encoder', 'lora-text-encoder-2']) {
        expect(readdirSync(path.join(cacheDir, kind))).toHaveLength(1);
      }
    } finally {
      await own.dispose();
    }
  });
});

describe('diffusers / PEFT LoRA files', () => {
  it('style.safetensors in PEFT layout (scale folded into lora_B, no alpha) reproduces lora-ddim.rgb', async () => {
    const kohya = await readKohyaLora(STYLE);
    const paths = {
      unet: await modulePaths(path.join(SD15, 'unet', 'diffusion_pytorch_model.safetensors')),
      text_encoder: await modulePaths(path.join(SD15, 'text_encoder', 'model.safetensors')),
    };
    const tensors: Tensor[] = [];
    for (const m of kohya.modules.values()) {
      const part = loraComponentOf(m.name)!;
      const component = part.component as 'unet' | 'text_encoder';
      const modulePath = paths[component].get(part.rest)!;
      expect(modulePath).toBeDefined();
      const scale = m.alpha / m.downDims[0]!;
      tensors.push({
        name: `${component}.${modulePath}.lora_A.weight`,
        dtype: 'float32',
        dims: m.downDims,
        data: m.down,
      });
      tensors.push({
        name: `${component}.${modulePath}.lora_B.weight`,
        dtype: 'float32',
        dims: m.upDims,
        data: m.up.map((u) => u * scale),
      });
    }
    const peft = path.join(tmp.dir, 'style-peft.safetensors');
    await writeSafetensors(peft, tensors);
    const result = await engine.generate(request({ loras: [{ path: peft, weight: gen.multiplier }] }));
    expectRgbClose(result.images[0]!.image.data, expected, 'style LoRA in PEFT layout');
    const plain = await engine.generate(request());
    expect(Math.max(...compareRgb(plain.images[0]!.image.data, expected).mean)).toBeGreaterThan(2);
  });
});
