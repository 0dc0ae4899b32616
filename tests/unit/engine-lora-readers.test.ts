/**
 * LoRA file readers, end to end through merging: small synthetic files (kohya Linear, 1×1 Conv, LoCon 3×3 down
 * with 1×1 up, SDXL's te1/te2 prefixes; diffusers / PEFT in each key layout, alphas from tensors, metadata and
 * adapter configs), each merged weight compared with `W + multiplier · scale · up · down` computed here by plain
 * loops in float64. Unsupported kinds and stray keys are errors naming them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src-main/engine/graph';
import {
  layersPerBlockOf,
  ldmToDiffusersRest,
  loraComponentOf,
  mergeLoras,
  readLora,
  type LoraComponent,
} from '../../src-main/engine/lora';
import { writeSafetensors } from '../../src-main/engine/weights';
import { makeTempDir } from '../helpers/temp-dir';

const tmp = makeTempDir('pinhole-lora-readers-');
afterAll(() => tmp.cleanup());

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}
const prod = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);
const t = (name: string, dims: number[], seed: number): Tensor => ({
  name,
  dtype: 'float32',
  dims,
  data: rand(prod(dims), seed),
});
const scalar = (name: string, v: number): Tensor => ({ name, dtype: 'float32', dims: [], data: Float32Array.of(v) });

/**
 * The expected merge, element by element: W[o, j] + m · s · Σ_r up[o, r] · down[r, j] (j runs over in × k × k),
 * in float64.
 */
function expectedMerge(base: Tensor, down: Tensor, up: Tensor, m: number, s: number): Float64Array {
  const out = base.dims[0]!;
  const inner = prod(base.dims.slice(1));
  const rank = down.dims[0]!;
  const w = base.data as Float32Array;
  const d = down.data as Float32Array;
  const u = up.data as Float32Array;
  const res = new Float64Array(out * inner);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < inner; j++) {
      let sum = 0;
      for (let r = 0; r < rank; r++) sum += u[o * rank + r]! * d[r * inner + j]!;
      res[o * inner + j] = w[o * inner + j]! + m * s * sum;
    }
  }
  return res;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function write(name: string, tensors: Tensor[], metadata: Record<string, string> = {}): Promise<string> {
  const file = path.join(tmp.dir, name);
  await writeSafetensors(file, tensors, metadata);
  return file;
}

/** Merges `file` into `bases` (weight name → tensor) for one component. */
async function merge(file: string, component: LoraComponent, bases: Tensor[], multiplier: number) {
  const lora = await readLora(file);
  const byName = new Map(bases.map((b) => [b.name, b]));
  return mergeLoras([{ lora, multiplier, label: file }], component, [...byName.keys()], (n) =>
    Promise.resolve(byName.get(n)!),
  );
}

describe('kohya / A1111 LoRAs', () => {
  it('Linear, 1×1 Conv and LoCon 3×3 Conv merge as W + m · alpha / rank · up · down', async () => {
    const linear = t('down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight', [6, 5], 1);
    const conv1 = t('down_blocks.0.attentions.0.proj_in.weight', [4, 3, 1, 1], 2);
    const conv3 = t('down_blocks.0.resnets.0.conv1.weight', [4, 3, 3, 3], 3);
    const k = (p: string) => `lora_unet_${p.replace(/\.weight$/, '').replace(/\./g, '_')}`;
    const parts = [
      {
        base: linear,
        down: t(`${k(linear.name)}.lora_down.weight`, [2, 5], 10),
        up: t(`${k(linear.name)}.lora_up.weight`, [6, 2], 11),
        alpha: 1,
      },
      {
        base: conv1,
        down: t(`${k(conv1.name)}.lora_down.weight`, [2, 3, 1, 1], 12),
        up: t(`${k(conv1.name)}.lora_up.weight`, [4, 2, 1, 1], 13),
        alpha: 4,
      },
      {
        base: conv3,
        down: t(`${k(conv3.name)}.lora_down.weight`, [3, 3, 3, 3], 14),
        up: t(`${k(conv3.name)}.lora_up.weight`, [4, 3, 1, 1], 15),
        alpha: 1.5,
      },
    ];
    const file = await write(
      'kohya.safetensors',
      parts.flatMap((p) => [p.down, p.up, scalar(`${p.down.name.split('.')[0]}.alpha`, p.alpha)]),
    );
    const merged = await merge(file, 'unet', [linear, conv1, conv3], 0.7);
    for (const p of parts) {
      const want = expectedMerge(p.base, p.down, p.up, 0.7, p.alpha / p.down.dims[0]!);
      expect(maxDiff(merged.get(p.base.name)!.data as Float32Array, want)).toBeLessThan(1e-6);
    }
  });

  it("SDXL's lora_te1_ / lora_te2_ go to the two text encoders; a module without alpha has scale 1", async () => {
    const q = t('text_model.encoder.layers.0.self_attn.q_proj.weight', [4, 4], 20);
    const file = await write('sdxl.safetensors', [
      t('lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight', [2, 4], 21),
      t('lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight', [4, 2], 22),
      t('lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight', [2, 4], 23),
      t('lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight', [4, 2], 24),
    ]);
    const lora = await readLora(file);
    expect([...lora.modules.keys()].map((n) => loraComponentOf(n)?.component)).toEqual([
      'text_encoder',
      'text_encoder_2',
    ]);
    const te2 = await merge(file, 'text_encoder_2', [q], 1);
    const m = lora.modules.get('lora_te2_text_model_encoder_layers_0_self_attn_q_proj')!;
    const want = expectedMerge(q, { ...q, dims: m.downDims, data: m.down }, { ...q, dims: m.upDims, data: m.up }, 1, 1);
    expect(maxDiff(te2.get(q.name)!.data as Float32Array, want)).toBeLessThan(1e-6);
  });
});

describe('LDM module names (kohya SDXL LoRAs)', () => {
  it('map to diffusers paths as convert_ldm_unet_checkpoint maps them (layers_per_block 2)', () => {
    const cases: [string, string][] = [
      ['input_blocks_1_0_in_layers_2', 'down_blocks_0_resnets_0_conv1'],
      ['input_blocks_3_0_op', 'down_blocks_0_downsamplers_0_conv'],
      [
        'input_blocks_4_1_transformer_blocks_0_attn1_to_q',
        'down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q',
      ],
      ['input_blocks_5_1_proj_in', 'down_blocks_1_attentions_1_proj_in'],
      ['middle_block_1_proj_out', 'mid_block_attentions_0_proj_out'],
      ['middle_block_2_out_layers_3', 'mid_block_resnets_1_conv2'],
      ['output_blocks_2_1_conv', 'up_blocks_0_upsamplers_0_conv'],
      ['output_blocks_3_0_skip_connection', 'up_blocks_1_resnets_0_conv_shortcut'],
      ['output_blocks_5_1_transformer_blocks_0_ff_net_2', 'up_blocks_1_attentions_2_transformer_blocks_0_ff_net_2'],
      ['output_blocks_5_2_conv', 'up_blocks_1_upsamplers_0_conv'],
      ['down_blocks_0_resnets_0_conv1', ''],
    ];
    for (const [ldm, diffusers] of cases) expect(ldmToDiffusersRest(ldm, 2) ?? '').toBe(diffusers);
    expect(layersPerBlockOf(['down_blocks.0.resnets.0.conv1.weight', 'down_blocks.0.resnets.1.conv1.weight'])).toBe(2);
  });
});

describe('diffusers / PEFT LoRAs', () => {
  const toQ = t('down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.weight', [6, 5], 30);
  const toOut = t('down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0.weight', [6, 6], 31);
  const teQ = t('text_model.encoder.layers.1.self_attn.q_proj.weight', [4, 4], 32);

  const layouts: [string, (module: string, which: 'down' | 'up') => string][] = [
    ['lora_A / lora_B', (m, w) => `${m}.${w === 'down' ? 'lora_A' : 'lora_B'}.weight`],
    ['lora_A.<adapter>', (m, w) => `${m}.${w === 'down' ? 'lora_A' : 'lora_B'}.default.weight`],
    ['lora.down / lora.up', (m, w) => `${m}.lora.${w}.weight`],
    ['lora_linear_layer', (m, w) => `${m}.lora_linear_layer.${w}.weight`],
  ];
  for (const [label, key] of layouts) {
    it(`reads ${label} keys (no alpha: scale 1)`, async () => {
      const down = t(key('unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q', 'down'), [3, 5], 40);
      const up = t(key('unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q', 'up'), [6, 3], 41);
      const file = await write(`peft-${label.replace(/\W+/g, '-')}.safetensors`, [down, up]);
      const merged = await merge(file, 'unet', [toQ], 0.5);
      expect(maxDiff(merged.get(toQ.name)!.data as Float32Array, expectedMerge(toQ, down, up, 0.5, 1))).toBeLessThan(
        1e-6,
      );
    });
  }

  it('reads attention processors (to_out_lora is to_out.0) and text encoders, with alphas from tensors', async () => {
    const proc = 'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.processor';
    const down = t(`${proc}.to_out_lora.down.weight`, [2, 6], 50);
    const up = t(`${proc}.to_out_lora.up.weight`, [6, 2], 51);
    const teDown = t('text_encoder.text_model.encoder.layers.1.self_attn.q_proj.lora_A.weight', [2, 4], 52);
    const teUp = t('text_encoder.text_model.encoder.layers.1.self_attn.q_proj.lora_B.weight', [4, 2], 53);
    const teAlpha = scalar('text_encoder.text_model.encoder.layers.1.self_attn.q_proj.alpha', 1);
    const file = await write('peft-proc.safetensors', [down, up, teDown, teUp, teAlpha]);
    const unet = await merge(file, 'unet', [toOut], 1);
    expect(maxDiff(unet.get(toOut.name)!.data as Float32Array, expectedMerge(toOut, down, up, 1, 1))).toBeLessThan(
      1e-6,
    );
    const te = await merge(file, 'text_encoder', [teQ], 2);
    expect(maxDiff(te.get(teQ.name)!.data as Float32Array, expectedMerge(teQ, teDown, teUp, 2, 1 / 2))).toBeLessThan(
      1e-6,
    );
  });

  it('takes lora_alpha from lora_adapter_metadata (flat or nested) and from adapter_config.json (rsLoRA: / √r)', async () => {
    const down = t('unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.lora_A.weight', [4, 5], 60);
    const up = t('unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.lora_B.weight', [6, 4], 61);
    const flat = await write('meta-flat.safetensors', [down, up], {
      lora_adapter_metadata: JSON.stringify({ 'unet.r': 4, 'unet.lora_alpha': 8 }),
    });
    const nested = await write('meta-nested.safetensors', [down, up], {
      lora_adapter_metadata: JSON.stringify({ unet: { r: 4, lora_alpha: 2 } }),
    });
    for (const [file, scale] of [
      [flat, 8 / 4],
      [nested, 2 / 4],
    ] as const) {
      const merged = await merge(file, 'unet', [toQ], 1);
      expect(maxDiff(merged.get(toQ.name)!.data as Float32Array, expectedMerge(toQ, down, up, 1, scale))).toBeLessThan(
        1e-6,
      );
    }
    const dir = path.join(tmp.dir, 'peft-dir');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ r: 4, lora_alpha: 6, use_rslora: true }));
    await writeSafetensors(path.join(dir, 'adapter_model.safetensors'), [down, up]);
    const merged = await merge(path.join(dir, 'adapter_model.safetensors'), 'unet', [toQ], 1);
    expect(maxDiff(merged.get(toQ.name)!.data as Float32Array, expectedMerge(toQ, down, up, 1, 6 / 2))).toBeLessThan(
      1e-6,
    );
  });
});

describe('what cannot be merged is an error naming it', () => {
  const cases: [string, Tensor[], RegExp][] = [
    [
      'LoHa',
      [t('lora_unet_x.hada_w1_a', [2, 2], 1), t('lora_unet_x.hada_w1_b', [2, 2], 2)],
      /unsupported LoRA kind \(LoHa\).*lora_unet_x\.hada_w1_a/,
    ],
    ['LoKr', [t('lora_unet_x.lokr_w1', [2, 2], 1)], /unsupported LoRA kind \(LoKr\).*lora_unet_x\.lokr_w1/],
    [
      'DoRA',
      [
        t('lora_unet_x.lora_down.weight', [2, 2], 1),
        t('lora_unet_x.lora_up.weight', [2, 2], 2),
        t('lora_unet_x.dora_scale', [1, 2], 3),
      ],
      /unsupported LoRA kind \(DoRA\).*lora_unet_x\.dora_scale/,
    ],
    [
      'PEFT DoRA',
      [
        t('unet.a.lora_A.weight', [2, 2], 1),
        t('unet.a.lora_B.weight', [2, 2], 2),
        t('unet.a.lora_magnitude_vector', [2], 3),
      ],
      /DoRA.*unet\.a\.lora_magnitude_vector/,
    ],
    ['IA3', [t('unet.a.ia3_l.weight', [2], 1)], /unsupported LoRA kind \(IA3\)/],
    [
      'LoCon with a Tucker core',
      [t('lora_unet_x.lora_down.weight', [2, 2, 1, 1], 1), t('lora_unet_x.lora_mid.weight', [2, 2, 3, 3], 2)],
      /Tucker core \(lora_mid\).*lora_unet_x\.lora_mid\.weight/,
    ],
    [
      'stray keys',
      [
        t('lora_unet_x.lora_down.weight', [2, 2], 1),
        t('lora_unet_x.lora_up.weight', [2, 2], 2),
        t('something_else', [2], 3),
      ],
      /not LoRA tensors: something_else/,
    ],
    [
      'mixed formats',
      [
        t('lora_unet_x.lora_down.weight', [2, 2], 1),
        t('lora_unet_x.lora_up.weight', [2, 2], 2),
        t('unet.a.lora_A.weight', [2, 2], 3),
        t('unet.a.lora_B.weight', [2, 2], 4),
      ],
      /mixes kohya keys .* and diffusers\/PEFT keys/,
    ],
    [
      'PEFT without lora_B',
      [t('unet.a.b.lora_A.weight', [2, 2], 1)],
      /LoRA module a\.b lacks its up \(lora_B\) weight/,
    ],
  ];
  for (const [label, tensors, message] of cases) {
    it(label, async () => {
      const file = await write(`bad-${label.replace(/\W+/g, '-')}.safetensors`, tensors);
      await expect(readLora(file)).rejects.toThrow(message);
    });
  }
});
