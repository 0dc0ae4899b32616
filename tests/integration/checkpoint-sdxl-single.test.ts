/**
 * SDXL single-file checkpoints, checked numerically: the sdxl-tiny fixture's diffusers weights (a third party's,
 * with diffusers' reference runs) written into the single-file layout by the independent key table in
 * `tests/helpers/ldm-checkpoint.ts` (OpenCLIP's fused q ‖ k ‖ v, `text_projection` as `x @ P`, `ln_final`,
 * `positional_embedding`), then converted by `pinhole generate`, must reproduce the fixture's runs.
 *
 * What an SDXL single file implies versus what the fixture uses: the scheduler config, `force_zeros_for_empty_prompt`,
 * the VAE scaling, the activations and every width and depth agree; the attention head counts do not — the family
 * convention is 64-wide heads, the fixture has 4 heads of 8 (text encoders) and 4 of 16 (UNet). The weights cannot
 * show head counts, so the file carries them in a `<name>.config.json` sidecar (architecture-configs.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singleFileComponents } from '../../src-main/engine/checkpoint/components';
import { schedulerConfigFor, defaultResourcesDir } from '../../src-main/engine/checkpoint/family-files';
import { openStateDict } from '../../src-main/engine/checkpoint/state-dict';
import { tensorToFloat32 } from '../../src-main/engine/graph';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import {
  ldmFillFromDiffusers,
  ldmTargetNames,
  writeLdmSafetensors,
  type DiffusersWeights,
  type LdmArch,
} from '../helpers/ldm-checkpoint';
import {
  compareRgb,
  expectCliReferenceImage,
  generateArgs,
  readReferenceFile,
  type ReferenceRun,
} from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

type Config = Record<string, unknown>;
const PARTS = {
  unet: 'unet/diffusion_pytorch_model.safetensors',
  vae: 'vae/diffusion_pytorch_model.safetensors',
  text_encoder: 'text_encoder/model.safetensors',
  text_encoder_2: 'text_encoder_2/model.safetensors',
} as const;
type Part = keyof typeof PARTS;

const configOf = (part: Part): Config =>
  JSON.parse(readFileSync(fixture('sdxl-tiny', part, 'config.json'), 'utf8')) as Config;
const numbers = (v: unknown): number[] => v as number[];

/** The single-file architecture the fixture's configs describe (widths, depths; no head counts: files have none). */
function archOf(configs: Record<Part, Config>): LdmArch {
  const { unet, vae, text_encoder: te1, text_encoder_2: te2 } = configs;
  const blocks = numbers(unet['block_out_channels']);
  const perLevel = unet['transformer_layers_per_block'];
  const depthAt = (i: number): number => (Array.isArray(perLevel) ? (perLevel[i] as number) : (perLevel as number));
  const vaeBlocks = numbers(vae['block_out_channels']);
  return {
    family: 'sdxl',
    unet: {
      inChannels: unet['in_channels'] as number,
      modelChannels: blocks[0]!,
      mult: blocks.map((c) => c / blocks[0]!),
      layers: unet['layers_per_block'] as number,
      depth: (unet['down_block_types'] as string[]).map((t, i) => (t.startsWith('CrossAttn') ? depthAt(i) : 0)),
      midDepth: depthAt(blocks.length - 1),
      context: unet['cross_attention_dim'] as number,
      linearProjection: unet['use_linear_projection'] === true,
      admIn: unet['projection_class_embeddings_input_dim'] as number,
    },
    vae: {
      ch: vaeBlocks[0]!,
      mult: vaeBlocks.map((c) => c / vaeBlocks[0]!),
      layers: vae['layers_per_block'] as number,
      z: vae['latent_channels'] as number,
    },
    clip: {
      width: te1['hidden_size'] as number,
      layers: te1['num_hidden_layers'] as number,
      intermediate: te1['intermediate_size'] as number,
      vocab: te1['vocab_size'] as number,
      positions: te1['max_position_embeddings'] as number,
    },
    openClip: {
      width: te2['hidden_size'] as number,
      layers: te2['num_hidden_layers'] as number,
      intermediate: te2['intermediate_size'] as number,
      vocab: te2['vocab_size'] as number,
      positions: te2['max_position_embeddings'] as number,
      projection: te2['projection_dim'] as number,
    },
  };
}

async function readWeights(part: Part): Promise<Map<string, { dims: number[]; data: Float32Array }>> {
  const file = await SafetensorsFile.open(fixture('sdxl-tiny', PARTS[part]));
  try {
    const out = new Map<string, { dims: number[]; data: Float32Array }>();
    for (const name of file.names) {
      const t = await file.read(name, { dtype: 'float32' });
      out.set(name, { dims: [...t.dims], data: tensorToFloat32(t) });
    }
    return out;
  } finally {
    await file.close();
  }
}

describe('SDXL single-file checkpoint written from sdxl-tiny (diffusers reference runs)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let checkpoint: string;
  let weights: DiffusersWeights;
  const configs = {
    unet: configOf('unet'),
    vae: configOf('vae'),
    text_encoder: configOf('text_encoder'),
    text_encoder_2: configOf('text_encoder_2'),
  };
  const arch = archOf(configs);

  beforeAll(async () => {
    tmp = makeTempDir('pinhole-sdxl-single-');
    weights = {
      unet: await readWeights('unet'),
      vae: await readWeights('vae'),
      text_encoder: await readWeights('text_encoder'),
      text_encoder_2: await readWeights('text_encoder_2'),
    };
    checkpoint = path.join(tmp.dir, 'tiny-sdxl.safetensors');
    await writeLdmSafetensors(checkpoint, arch, 'float32', ldmFillFromDiffusers(arch, weights));
  });
  afterAll(() => tmp.cleanup());

  it('the key table covers exactly the fixture’s weights', () => {
    const targets = ldmTargetNames(arch);
    for (const part of Object.keys(PARTS) as Part[]) {
      expect([...targets[part]].sort(), part).toEqual([...weights[part].keys()].sort());
    }
  });

  it('conversion infers every width and depth, and the family’s conventions match the fixture but for heads', async () => {
    const c = singleFileComponents(await openStateDict(checkpoint));
    expect([c.family, c.prediction, c.inpainting]).toEqual(['sdxl', 'epsilon', false]);
    const same = (inferred: Config, given: Config, fields: string[]) => {
      for (const f of fields) expect(inferred[f], f).toEqual(given[f]);
    };
    same(c.unet.config, configs.unet, [
      'in_channels',
      'out_channels',
      'block_out_channels',
      'layers_per_block',
      'transformer_layers_per_block',
      'down_block_types',
      'up_block_types',
      'cross_attention_dim',
      'use_linear_projection',
      'addition_embed_type',
      'addition_time_embed_dim',
      'projection_class_embeddings_input_dim',
      'flip_sin_to_cos',
      'freq_shift',
      'norm_num_groups',
    ]);
    same(c.vae.config, configs.vae, ['block_out_channels', 'layers_per_block', 'latent_channels', 'scaling_factor']);
    const text = ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'vocab_size', 'hidden_act'];
    same(c.textEncoder.config, configs.text_encoder, text);
    same(c.textEncoder2!.config, configs.text_encoder_2, [...text, 'projection_dim']);
    // SDXL base's scheduler config is the one the fixture ships.
    expect(await schedulerConfigFor(defaultResourcesDir(), 'sdxl', 'epsilon')).toEqual(
      JSON.parse(readFileSync(fixture('sdxl-tiny/scheduler/scheduler_config.json'), 'utf8')),
    );
    // Where they differ: 64-wide heads by convention (one head at these widths), 4 heads in the fixture.
    expect(c.textEncoder.config['num_attention_heads']).toBe(1);
    expect(configs.text_encoder['num_attention_heads']).toBe(4);
    expect(c.unet.config['attention_head_dim']).toEqual([1, 1]);
    expect(configs.unet['attention_head_dim']).toEqual([2, 4]);
  });

  it('with its head counts in a sidecar, a mismatched shape is refused naming the field', async () => {
    const wrong = path.join(tmp.dir, 'wrong.safetensors');
    writeFileSync(wrong, readFileSync(checkpoint));
    writeFileSync(
      path.join(tmp.dir, 'wrong.config.json'),
      JSON.stringify({ unet: { ...configs.unet, cross_attention_dim: 2048 } }),
    );
    const result = await runCli([
      'generate',
      '--model',
      wrong,
      '--prompt',
      'x',
      '--steps',
      '1',
      '--data-dir',
      path.join(tmp.dir, 'home'),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/wrong\.safetensors.*unet config says cross_attention_dim = 2048.*weights have 64/);
  });

  const cases = readReferenceFile<ReferenceRun>(fixture('sdxl-tiny/reference/cases.json')).runs;

  it('without the sidecar (the family’s 64-wide heads) the same weights miss the reference', async () => {
    const plain = path.join(tmp.dir, 'plain.safetensors');
    writeFileSync(plain, readFileSync(checkpoint));
    const run = cases[0]!;
    const out = path.join(tmp.dir, 'plain.png');
    const result = await runCli(generateArgs(run, { model: plain, out, dataDir: path.join(tmp.dir, 'home') }));
    expect(result.code, result.stderr).toBe(0);
    const { data } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { mean, max } = compareRgb(data, readFileSync(fixture('sdxl-tiny/reference', run.image_rgb8)));
    expect(Math.max(...mean) > 0.5 || max > 8).toBe(true);
  });

  for (const run of cases) {
    const label = `${run.scheduler} ${run.steps} steps, seed ${run.seed}, ${run.width}×${run.height}${run.negative_prompt === null ? ', no negative prompt' : ''}`;
    it(`pinhole generate with the file reproduces ${label} within 0.5/255`, async () => {
      writeFileSync(path.join(tmp.dir, 'tiny-sdxl.config.json'), JSON.stringify(configs));
      const out = path.join(tmp.dir, `${run.scheduler}-${run.seed}.png`);
      const result = await runCli(generateArgs(run, { model: checkpoint, out, dataDir: path.join(tmp.dir, 'home') }));
      const parameters = await expectCliReferenceImage(
        result,
        out,
        run,
        fixture('sdxl-tiny/reference', run.image_rgb8),
        `sdxl single file ${label}`,
      );
      // A file given by path is named and hashed as A1111 does: its name without extension, its SHA-256's first 10.
      const sha = createHash('sha256').update(readFileSync(checkpoint)).digest('hex');
      expect(parameters).toMatch(new RegExp(`Model hash: ${sha.slice(0, 10)}, Model: tiny-sdxl(,|$)`, 'm'));
    }, 180_000);
  }
});
