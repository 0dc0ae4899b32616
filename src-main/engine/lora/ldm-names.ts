/**
 * kohya names the UNet modules of SDXL LoRAs (and of LoRAs trained on single-file checkpoints) by the original
 * LDM module paths — `lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q` — where LoRAs of diffusers
 * models say `lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q`. This renames the LDM form to
 * the diffusers form, block for block as diffusers' `convert_ldm_unet_checkpoint` does, so both merge alike.
 */

/** Resnet parts: LDM → diffusers (underscored, as in kohya names). */
const RESNET_PARTS: readonly [string, string][] = [
  ['in_layers_2', 'conv1'],
  ['out_layers_3', 'conv2'],
  ['emb_layers_1', 'time_emb_proj'],
  ['skip_connection', 'conv_shortcut'],
];

const TOP_LEVEL: readonly [string, string][] = [
  ['input_blocks_0_0', 'conv_in'],
  ['out_2', 'conv_out'],
  ['time_embed_0', 'time_embedding_linear_1'],
  ['time_embed_2', 'time_embedding_linear_2'],
  ['label_emb_0_0', 'add_embedding_linear_1'],
  ['label_emb_0_2', 'add_embedding_linear_2'],
];

function resnet(tail: string): string {
  for (const [from, to] of RESNET_PARTS) if (tail === from) return to;
  return tail;
}

/**
 * The diffusers form of an LDM-style kohya UNet module name (without `lora_unet_`), or undefined when it is not
 * in LDM form.
 * @param layersPerBlock the UNet's `layers_per_block` (input and output blocks come in groups of it + 1).
 */
export function ldmToDiffusersRest(rest: string, layersPerBlock: number): string | undefined {
  for (const [from, to] of TOP_LEVEL) if (rest === from) return to;
  const per = layersPerBlock + 1;
  let m = /^input_blocks_(\d+)_(\d+)_(.+)$/.exec(rest);
  if (m) {
    const i = Number(m[1]) - 1;
    const [block, layer] = [Math.floor(i / per), i % per];
    if (m[3] === 'op') return `down_blocks_${block}_downsamplers_0_conv`;
    return m[2] === '0'
      ? `down_blocks_${block}_resnets_${layer}_${resnet(m[3]!)}`
      : `down_blocks_${block}_attentions_${layer}_${m[3]!}`;
  }
  m = /^middle_block_(\d)_(.+)$/.exec(rest);
  if (m) {
    if (m[1] === '1') return `mid_block_attentions_0_${m[2]!}`;
    return `mid_block_resnets_${m[1] === '0' ? 0 : 1}_${resnet(m[2]!)}`;
  }
  m = /^output_blocks_(\d+)_(\d+)_(.+)$/.exec(rest);
  if (m) {
    const i = Number(m[1]);
    const [block, layer] = [Math.floor(i / per), i % per];
    if (m[2] === '0') return `up_blocks_${block}_resnets_${layer}_${resnet(m[3]!)}`;
    // The upsampler follows the resnet (index 1) or the attention (index 2).
    if (m[3] === 'conv') return `up_blocks_${block}_upsamplers_0_conv`;
    return `up_blocks_${block}_attentions_${layer}_${m[3]!}`;
  }
  return undefined;
}

/** A diffusers UNet's `layers_per_block`, from its weight names (resnets of the first down block). */
export function layersPerBlockOf(weightNames: Iterable<string>): number {
  let most = -1;
  for (const name of weightNames) {
    const m = /^down_blocks\.0\.resnets\.(\d+)\./.exec(name);
    if (m) most = Math.max(most, Number(m[1]));
  }
  return most + 1;
}
