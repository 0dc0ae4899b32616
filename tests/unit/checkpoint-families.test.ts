/**
 * Single-file checkpoint mapping per family: SD 1.x (the third-party fixture, checked against what its README
 * states), OpenCLIP text encoders (SD 2.x's penultimate-layer cut, SDXL's fused q‖k‖v and `x @ P` projection) from
 * tiny synthetic state dicts, and family detection from key names only.
 */
import { describe, expect, it } from 'vitest';
import { singleFileComponents } from '../../src-main/engine/checkpoint';
import { mapOpenClip } from '../../src-main/engine/checkpoint/clip-keys';
import { checkpointFamily, stateDictKind } from '../../src-main/engine/checkpoint/family';
import { openStateDict } from '../../src-main/engine/checkpoint/state-dict';
import { createTensor, tensorToFloat32, type Tensor } from '../../src-main/engine/graph';
import { fixture } from '../helpers/fixtures';

function tensor(name: string, dims: number[], seed: number): Tensor {
  const n = dims.reduce((a, d) => a * d, 1);
  return createTensor(
    name,
    'float32',
    dims,
    Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i)),
  );
}

/** A tiny OpenCLIP text tower in open_clip's own names (width W, `layers` resblocks). */
function openClip(width: number, layers: number, projection: number): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  let seed = 1;
  const add = (name: string, dims: number[]) => m.set(name, tensor(name, dims, seed++));
  add('token_embedding.weight', [49408, width]);
  add('positional_embedding', [77, width]);
  add('ln_final.weight', [width]);
  add('ln_final.bias', [width]);
  add('text_projection', [width, projection]);
  for (let i = 0; i < layers; i++) {
    const p = `transformer.resblocks.${i}.`;
    add(`${p}ln_1.weight`, [width]);
    add(`${p}ln_1.bias`, [width]);
    add(`${p}attn.in_proj_weight`, [3 * width, width]);
    add(`${p}attn.in_proj_bias`, [3 * width]);
    add(`${p}attn.out_proj.weight`, [width, width]);
    add(`${p}attn.out_proj.bias`, [width]);
    add(`${p}ln_2.weight`, [width]);
    add(`${p}ln_2.bias`, [width]);
    add(`${p}mlp.c_fc.weight`, [4 * width, width]);
    add(`${p}mlp.c_fc.bias`, [4 * width]);
    add(`${p}mlp.c_proj.weight`, [width, 4 * width]);
    add(`${p}mlp.c_proj.bias`, [width]);
  }
  return m;
}

const values = (t: Tensor | undefined): number[] => [...tensorToFloat32(t!)];

describe('single-file checkpoints: families and key mapping', () => {
  it('SD 1.x (sd15-single): the architecture its README states, from shapes and key indices', async () => {
    const dict = await openStateDict(fixture('sd15-single/tiny-sd15-public.safetensors'));
    const c = singleFileComponents(dict);
    expect([c.family, c.prediction, c.inpainting, c.nativeResolution]).toEqual(['sd1', 'epsilon', false, 512]);
    const u = c.unet.config;
    expect((u['block_out_channels'] as number[]).length).toBe(4); // 4 levels
    expect(u['layers_per_block']).toBe(2);
    expect(u['down_block_types']).toEqual([
      'CrossAttnDownBlock2D',
      'CrossAttnDownBlock2D',
      'CrossAttnDownBlock2D',
      'DownBlock2D',
    ]);
    expect(u['attention_head_dim']).toBe(8);
    expect(u['use_linear_projection']).toBe(false);
    expect(c.textEncoder.config['hidden_act']).toBe('quick_gelu');
    expect(c.textEncoder.config['num_attention_heads']).toBe((c.textEncoder.config['hidden_size'] as number) / 64);
    expect((c.vae.config['block_out_channels'] as number[]).length).toBe(4); // images 8× the latents
    expect(c.vae.config['scaling_factor']).toBe(0.18215);
    // EMA counters, betas and position_ids are not weights of any component.
    const all = [...c.unet.weights.keys(), ...c.vae.weights.keys(), ...c.textEncoder.weights.keys()];
    expect(all.filter((n) => /ema|betas|alphas|position_ids/.test(n))).toEqual([]);
    expect(c.unet.weights.get('down_blocks.1.resnets.0.conv1.weight')).toBeDefined();
    expect(c.unet.weights.get('up_blocks.0.upsamplers.0.conv.weight')).toBeDefined();
    expect(c.vae.weights.get('decoder.up_blocks.0.resnets.0.conv1.weight')!.dims[0]).toBe(
      (c.vae.config['block_out_channels'] as number[]).at(-1),
    );
  });

  it('SD 2.x OpenCLIP: q‖k‖v split, GELU, 64-wide heads, the last layer left out (penultimate)', () => {
    const src = openClip(128, 3, 64);
    const { config, weights } = mapOpenClip(src, 'sd2.safetensors', true);
    expect(config).toMatchObject({
      hidden_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      hidden_act: 'gelu',
    });
    expect(weights.has('text_model.encoder.layers.2.self_attn.q_proj.weight')).toBe(false);
    expect(weights.has('text_projection.weight')).toBe(false);
    const fused = values(src.get('transformer.resblocks.1.attn.in_proj_weight'));
    const k = values(weights.get('text_model.encoder.layers.1.self_attn.k_proj.weight'));
    expect(k).toEqual(fused.slice(128 * 128, 2 * 128 * 128));
    const vb = values(weights.get('text_model.encoder.layers.1.self_attn.v_proj.bias'));
    expect(vb).toEqual(values(src.get('transformer.resblocks.1.attn.in_proj_bias')).slice(256, 384));
    expect(values(weights.get('text_model.encoder.layers.0.mlp.fc2.weight'))).toEqual(
      values(src.get('transformer.resblocks.0.mlp.c_proj.weight')),
    );
    expect(values(weights.get('text_model.final_layer_norm.bias'))).toEqual(values(src.get('ln_final.bias')));
  });

  it("SDXL's second encoder: every layer kept, text_projection P applied as x @ P (Linear weight Pᵀ)", () => {
    const src = openClip(64, 2, 32);
    const { config, weights } = mapOpenClip(src, 'xl.safetensors', false);
    expect(config).toMatchObject({
      num_hidden_layers: 2,
      projection_dim: 32,
      _class_name: 'CLIPTextModelWithProjection',
    });
    const p = values(src.get('text_projection')); // [64, 32]
    const w = weights.get('text_projection.weight')!; // [32, 64]
    expect(w.dims).toEqual([32, 64]);
    const wv = values(w);
    for (const [i, j] of [
      [0, 0],
      [5, 17],
      [63, 31],
    ] as const)
      expect(wv[j * 64 + i]).toBe(p[i * 32 + j]);
  });

  it('detects the family and kind from key names only', () => {
    expect(checkpointFamily(['cond_stage_model.transformer.text_model.embeddings.token_embedding.weight'])).toBe('sd1');
    expect(checkpointFamily(['cond_stage_model.model.token_embedding.weight'])).toBe('sd2');
    expect(
      checkpointFamily([
        'conditioner.embedders.0.transformer.text_model.x',
        'conditioner.embedders.1.model.ln_final.weight',
      ]),
    ).toBe('sdxl');
    expect(checkpointFamily(['conditioner.embedders.0.model.ln_final.weight'])).toBeUndefined(); // SDXL refiner
    expect(stateDictKind(['model.diffusion_model.input_blocks.0.0.weight'])).toBe('checkpoint');
    expect(stateDictKind(['lora_unet_mid_block_attentions_0_proj_in.lora_down.weight'])).toBe('lora');
    expect(stateDictKind(['encoder.down.0.block.0.conv1.weight', 'decoder.conv_in.weight'])).toBe('vae');
    expect(stateDictKind(['string_to_param.*'])).toBe('embedding');
    expect(stateDictKind(['some.other.weight'])).toBe('unknown');
  });
});
