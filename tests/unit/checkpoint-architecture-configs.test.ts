/**
 * The `<checkpoint>.config.json` sidecar: read when present (and only then), refused with the file named when it is
 * not `{part: config}`; laid over the inferred configs (whole or in part) only where every shape-decided field it sets
 * agrees (a scalar standing for a per-level list, as diffusers reads it).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyArchitectureConfigs,
  architectureSidecar,
  readArchitectureConfigs,
} from '../../src-main/engine/checkpoint/architecture-configs';
import type { ModelComponents } from '../../src-main/engine/checkpoint/components';
import { makeTempDir } from '../helpers/temp-dir';

const inferredUnet = {
  in_channels: 4,
  out_channels: 4,
  block_out_channels: [32, 64],
  layers_per_block: 1,
  cross_attention_dim: 64,
  use_linear_projection: true,
  transformer_layers_per_block: [1, 1],
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  attention_head_dim: [1, 1],
  sample_size: 256,
};
const components = {
  family: 'sd1',
  prediction: 'epsilon',
  inpainting: false,
  nativeResolution: 512,
  unet: { config: inferredUnet, weights: new Map() },
  vae: { config: { block_out_channels: [32, 64], latent_channels: 4, layers_per_block: 1 }, weights: new Map() },
  textEncoder: { config: { hidden_size: 32, num_attention_heads: 1 }, weights: new Map() },
  textEncoder2: undefined,
} as unknown as ModelComponents;

describe('architecture configs beside a checkpoint', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-arch-configs-')));
  afterAll(() => tmp.cleanup());

  it('are read from <name>.config.json when there is one, and refused naming it when malformed', async () => {
    const checkpoint = path.join(tmp.dir, 'model.safetensors');
    expect(architectureSidecar(checkpoint)).toBe(path.join(tmp.dir, 'model.config.json'));
    expect(await readArchitectureConfigs(checkpoint)).toBeUndefined();
    writeFileSync(architectureSidecar(checkpoint), JSON.stringify({ text_encoder: { num_attention_heads: 4 } }));
    expect(await readArchitectureConfigs(checkpoint)).toEqual({ text_encoder: { num_attention_heads: 4 } });
    writeFileSync(architectureSidecar(checkpoint), JSON.stringify({ unet_2: {} }));
    await expect(readArchitectureConfigs(checkpoint)).rejects.toThrow(/model\.config\.json: "unet_2" is not one of/);
    writeFileSync(architectureSidecar(checkpoint), '{ not json');
    await expect(readArchitectureConfigs(checkpoint)).rejects.toThrow(/model\.config\.json is not valid JSON/);
  });

  it('replace the inferred configs where the shapes agree, with defaults and scalars read as diffusers reads them', () => {
    const given = { ...inferredUnet, attention_head_dim: [2, 4], transformer_layers_per_block: 1, sample_size: 32 };
    const out = applyArchitectureConfigs(
      components,
      { unet: given, text_encoder: { num_attention_heads: 4 } },
      'm.safetensors',
    );
    expect(out.unet.config).toEqual({ ...given, transformer_layers_per_block: 1 });
    // Only what differs: laid over the inferred config.
    expect(out.textEncoder.config).toEqual({ hidden_size: 32, num_attention_heads: 4 });
    expect(out.nativeResolution).toBe(64); // sample_size 32 × the VAE's factor 2
    expect(out.vae).toBe(components.vae);
    expect(() =>
      applyArchitectureConfigs(components, { unet: { ...given, layers_per_block: 2 } }, 'm.safetensors'),
    ).toThrow(/m\.safetensors: the given unet config says layers_per_block = 2, but the weights have 1/);
    expect(() => applyArchitectureConfigs(components, { text_encoder: { hidden_size: 64 } }, 'm.safetensors')).toThrow(
      /text_encoder config says hidden_size = 64/,
    );
  });
});
