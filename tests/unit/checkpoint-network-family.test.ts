/**
 * The family of LoRAs, VAEs and textual-inversion embeddings, inferred from tiny synthetic files in each layout
 * (kohya with diffusers or LDM module paths, PEFT, A1111 / SDXL embeddings, LDM / diffusers VAEs): the real
 * families' widths decide (768 SD 1.x, 1024 SD 2.x, 2048 SDXL), then a LoRA's training metadata; VAEs, whose
 * architecture the families share, get the family-neutral label. A LoRA under checkpoint paths is refused.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectModelFile } from '../../src-main/engine/checkpoint';
import { ANY_SD_FAMILY } from '../../src-main/engine/checkpoint/network-family';
import { createTensor, numel } from '../../src-main/engine/graph';
import { writeSafetensors } from '../../src-main/engine/weights';
import { makeTempDir } from '../helpers/temp-dir';

describe('the family of LoRAs, VAEs and embeddings', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-network-family-')));
  afterAll(() => tmp.cleanup());

  let count = 0;
  /** A safetensors file of zero-filled F32 tensors with these shapes (and metadata), inspected. */
  const inspect = async (shapes: Record<string, number[]>, metadata: Record<string, string> = {}) => {
    const file = path.join(tmp.dir, `file-${count++}.safetensors`);
    const tensors = Object.entries(shapes).map(([name, dims]) =>
      createTensor(name, 'float32', dims, new Float32Array(numel(dims))),
    );
    await writeSafetensors(file, tensors, metadata);
    return inspectModelFile(file);
  };
  /** A kohya / PEFT LoRA module's three tensors: down [rank, input], up [output, rank], alpha. */
  const kohya = (module: string, input: number, output = 8) => ({
    [`${module}.lora_down.weight`]: [4, input],
    [`${module}.lora_up.weight`]: [output, 4],
    [`${module}.alpha`]: [],
  });

  it('LoRAs: the cross-attention key width, in kohya’s diffusers and LDM paths and in PEFT', async () => {
    const attn = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k';
    expect(await inspect(kohya(attn, 768))).toMatchObject({ kind: 'lora', family: 'sd1' });
    expect(await inspect(kohya(attn, 1024))).toMatchObject({ kind: 'lora', family: 'sd2' });
    const ldm = 'lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k';
    expect(await inspect(kohya(ldm, 2048))).toMatchObject({ kind: 'lora', family: 'sdxl' });
    const peft = 'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k';
    expect(await inspect({ [`${peft}.lora_A.weight`]: [4, 2048], [`${peft}.lora_B.weight`]: [8, 4] })).toMatchObject({
      kind: 'lora',
      family: 'sdxl',
    });
    // Self-attention widths say nothing about the text encoder: not taken for a family.
    const self = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k';
    expect((await inspect(kohya(self, 768))).family).toBeUndefined();
  });

  it('LoRAs: SDXL’s two text encoders, or the one encoder’s width', async () => {
    expect(await inspect(kohya('lora_te1_text_model_encoder_layers_0_self_attn_q_proj', 768))).toMatchObject({
      family: 'sdxl',
    });
    expect(await inspect(kohya('lora_te_text_model_encoder_layers_0_self_attn_q_proj', 1024))).toMatchObject({
      family: 'sd2',
    });
    expect(await inspect(kohya('lora_te_text_model_encoder_layers_0_self_attn_q_proj', 768))).toMatchObject({
      family: 'sd1',
    });
  });

  it('LoRAs: widths of no family fall back on the training metadata, else stay unknown', async () => {
    const tiny = kohya('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k', 32);
    expect((await inspect(tiny)).family).toBeUndefined();
    expect(await inspect(tiny, { ss_base_model_version: 'sd_v1' })).toMatchObject({ family: 'sd1' });
    expect(await inspect(tiny, { ss_v2: 'True', ss_base_model_version: 'sd_v2' })).toMatchObject({ family: 'sd2' });
    expect(await inspect(tiny, { 'modelspec.architecture': 'stable-diffusion-xl-v1-base/lora' })).toMatchObject({
      family: 'sdxl',
    });
    // The shapes win over metadata that contradicts them.
    const real = kohya('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k', 1024);
    expect(await inspect(real, { ss_base_model_version: 'sd_v1' })).toMatchObject({ family: 'sd2' });
  });

  it('embeddings: the vector width, or SDXL’s clip_l + clip_g pair', async () => {
    expect(await inspect({ emb_params: [2, 768] })).toMatchObject({ kind: 'embedding', family: 'sd1' });
    expect(await inspect({ emb_params: [1, 1024] })).toMatchObject({ kind: 'embedding', family: 'sd2' });
    expect(await inspect({ clip_l: [3, 768], clip_g: [3, 1280] })).toMatchObject({
      kind: 'embedding',
      family: 'sdxl',
    });
    const tiny = await inspect({ emb_params: [2, 32] });
    expect(tiny.kind).toBe('embedding');
    expect(tiny.family).toBeUndefined();
  });

  it('VAEs: one architecture for SD 1.x, 2.x and SDXL, so the family-neutral label; other latents: unknown', async () => {
    const ldm = (latents: number) => ({
      'encoder.down.0.block.0.conv1.weight': [8, 8, 3, 3],
      'decoder.conv_in.weight': [8, latents, 3, 3],
    });
    expect(ANY_SD_FAMILY).toBe('sd1/sd2/sdxl');
    expect(await inspect(ldm(4))).toMatchObject({ kind: 'vae', family: ANY_SD_FAMILY });
    expect(
      await inspect({
        'encoder.down_blocks.0.resnets.0.conv1.weight': [8, 8, 3, 3],
        'decoder.conv_in.weight': [8, 4, 3, 3],
      }),
    ).toMatchObject({ kind: 'vae', family: ANY_SD_FAMILY });
    // Extracted from a checkpoint with its prefix kept.
    const prefixed = Object.fromEntries(Object.entries(ldm(4)).map(([k, v]) => [`first_stage_model.${k}`, v]));
    expect(await inspect(prefixed)).toMatchObject({ kind: 'vae', family: ANY_SD_FAMILY });
    const flux = await inspect(ldm(16));
    expect(flux.kind).toBe('vae');
    expect(flux.family).toBeUndefined();
  });

  it('a LoRA saved under a checkpoint’s module paths is refused as a checkpoint, saying it is a LoRA', async () => {
    const module = 'model.diffusion_model.input_blocks.1.1.proj_in';
    await expect(
      inspect({
        [`${module}.lora_down.weight`]: [4, 320],
        [`${module}.lora_up.weight`]: [320, 4],
        'cond_stage_model.transformer.text_model.final_layer_norm.weight': [768],
      }),
    ).rejects.toMatchObject({
      code: 'IMPORT_REJECTED',
      message: expect.stringMatching(/it holds LoRA weights \(model\.diffusion_model\..*lora_down\.weight\)/),
    });
  });
});
