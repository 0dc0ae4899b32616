/**
 * Synthetic single-file checkpoints, written from the original model definitions (CompVis/Stability's
 * `openaimodel.py` UNet, `model.py` autoencoder, OpenAI CLIP in transformers' layout, open_clip's text tower),
 * each weight paired with the diffusers / transformers name diffusers' converters give it. This table is
 * independent of `src-main/engine/checkpoint` (which maps names by rules): tests compare the two, and the
 * import bench writes full-size random checkpoints from it.
 */
import { open } from 'node:fs/promises';

/** One weight: its single-file name and shape, and where it lands after conversion. */
export type LdmWeight = {
  ldm: string;
  shape: number[];
  /** Component and name after conversion; undefined for keys that are not converted (EMA, buffers). */
  target: { component: 'unet' | 'vae' | 'text_encoder' | 'text_encoder_2'; name: string } | undefined;
  /**
   * How the converted tensor relates to this one: 'same' bytes; 'linear' (1×1 conv → [C, C], same bytes);
   * 'rows:i/3' (row block i of a fused q‖k‖v); 'transpose'.
   */
  relation: 'same' | 'linear' | 'rows:0/3' | 'rows:1/3' | 'rows:2/3' | 'transpose';
};

export type LdmArch = {
  family: 'sd1' | 'sd2' | 'sdxl';
  unet: {
    inChannels: number;
    modelChannels: number;
    mult: number[];
    layers: number;
    /** Transformer depth per level (0: none). */
    depth: number[];
    midDepth: number;
    context: number;
    linearProjection: boolean;
    /** SDXL's label_emb input (pooled ‖ 6 time-id features). */
    admIn?: number;
  };
  vae: { ch: number; mult: number[]; layers: number; z: number };
  /** OpenAI CLIP (SD 1.x; SDXL's first). */
  clip?: { width: number; layers: number; intermediate: number; vocab: number; positions: number };
  /** open_clip (SD 2.x; SDXL's second). `intermediate`: the MLP width, 4 × width (open_clip's default) if absent. */
  openClip?: {
    width: number;
    layers: number;
    vocab: number;
    positions: number;
    projection: number;
    intermediate?: number;
  };
};

/** SD 1.5 at full size (≈1.07 billion parameters). */
export const SD15_ARCH: LdmArch = {
  family: 'sd1',
  unet: {
    inChannels: 4,
    modelChannels: 320,
    mult: [1, 2, 4, 4],
    layers: 2,
    depth: [1, 1, 1, 0],
    midDepth: 1,
    context: 768,
    linearProjection: false,
  },
  vae: { ch: 128, mult: [1, 2, 4, 4], layers: 2, z: 4 },
  clip: { width: 768, layers: 12, intermediate: 3072, vocab: 49408, positions: 77 },
};

function unetWeights(a: LdmArch['unet'], out: LdmWeight[]): void {
  const P = 'model.diffusion_model.';
  const add = (ldm: string, shape: number[], name: string, relation: LdmWeight['relation'] = 'same'): void => {
    out.push({ ldm: P + ldm, shape, target: { component: 'unet', name }, relation });
  };
  const pair = (ldm: string, name: string, w: number[], bias = true): void => {
    add(`${ldm}.weight`, w, `${name}.weight`);
    if (bias) add(`${ldm}.bias`, [w[0]!], `${name}.bias`);
  };
  const mc = a.modelChannels;
  const temb = 4 * mc;
  const resblock = (ldm: string, name: string, cin: number, cout: number): void => {
    pair(`${ldm}.in_layers.0`, `${name}.norm1`, [cin]);
    pair(`${ldm}.in_layers.2`, `${name}.conv1`, [cout, cin, 3, 3]);
    pair(`${ldm}.emb_layers.1`, `${name}.time_emb_proj`, [cout, temb]);
    pair(`${ldm}.out_layers.0`, `${name}.norm2`, [cout]);
    pair(`${ldm}.out_layers.3`, `${name}.conv2`, [cout, cout, 3, 3]);
    if (cin !== cout) pair(`${ldm}.skip_connection`, `${name}.conv_shortcut`, [cout, cin, 1, 1]);
  };
  const transformer = (ldm: string, name: string, ch: number, depth: number): void => {
    pair(`${ldm}.norm`, `${name}.norm`, [ch]);
    const proj = a.linearProjection ? [ch, ch] : [ch, ch, 1, 1];
    pair(`${ldm}.proj_in`, `${name}.proj_in`, proj);
    for (let d = 0; d < depth; d++) {
      const l = `${ldm}.transformer_blocks.${d}`;
      const n = `${name}.transformer_blocks.${d}`;
      for (const attn of ['attn1', 'attn2']) {
        const kv = attn === 'attn1' ? ch : a.context;
        pair(`${l}.${attn}.to_q`, `${n}.${attn}.to_q`, [ch, ch], false);
        pair(`${l}.${attn}.to_k`, `${n}.${attn}.to_k`, [ch, kv], false);
        pair(`${l}.${attn}.to_v`, `${n}.${attn}.to_v`, [ch, kv], false);
        pair(`${l}.${attn}.to_out.0`, `${n}.${attn}.to_out.0`, [ch, ch]);
      }
      pair(`${l}.ff.net.0.proj`, `${n}.ff.net.0.proj`, [8 * ch, ch]);
      pair(`${l}.ff.net.2`, `${n}.ff.net.2`, [ch, 4 * ch]);
      for (const norm of ['norm1', 'norm2', 'norm3']) pair(`${l}.${norm}`, `${n}.${norm}`, [ch]);
    }
    pair(`${ldm}.proj_out`, `${name}.proj_out`, proj);
  };

  pair('time_embed.0', 'time_embedding.linear_1', [temb, mc]);
  pair('time_embed.2', 'time_embedding.linear_2', [temb, temb]);
  if (a.admIn !== undefined) {
    pair('label_emb.0.0', 'add_embedding.linear_1', [temb, a.admIn]);
    pair('label_emb.0.2', 'add_embedding.linear_2', [temb, temb]);
  }
  pair('input_blocks.0.0', 'conv_in', [mc, a.inChannels, 3, 3]);
  const skips = [mc];
  let ch = mc;
  let k = 1;
  const levels = a.mult.length;
  for (let l = 0; l < levels; l++) {
    const cout = mc * a.mult[l]!;
    for (let j = 0; j < a.layers; j++, k++) {
      resblock(`input_blocks.${k}.0`, `down_blocks.${l}.resnets.${j}`, ch, cout);
      ch = cout;
      if (a.depth[l]! > 0) transformer(`input_blocks.${k}.1`, `down_blocks.${l}.attentions.${j}`, ch, a.depth[l]!);
      skips.push(ch);
    }
    if (l < levels - 1) {
      pair(`input_blocks.${k}.0.op`, `down_blocks.${l}.downsamplers.0.conv`, [ch, ch, 3, 3]);
      skips.push(ch);
      k++;
    }
  }
  resblock('middle_block.0', 'mid_block.resnets.0', ch, ch);
  transformer('middle_block.1', 'mid_block.attentions.0', ch, a.midDepth);
  resblock('middle_block.2', 'mid_block.resnets.1', ch, ch);
  k = 0;
  for (let l = levels - 1; l >= 0; l--) {
    const cout = mc * a.mult[l]!;
    const up = levels - 1 - l;
    for (let j = 0; j <= a.layers; j++, k++) {
      resblock(`output_blocks.${k}.0`, `up_blocks.${up}.resnets.${j}`, ch + skips.pop()!, cout);
      ch = cout;
      let at = 1;
      if (a.depth[l]! > 0)
        transformer(`output_blocks.${k}.${at++}`, `up_blocks.${up}.attentions.${j}`, ch, a.depth[l]!);
      if (l > 0 && j === a.layers)
        pair(`output_blocks.${k}.${at}.conv`, `up_blocks.${up}.upsamplers.0.conv`, [ch, ch, 3, 3]);
    }
  }
  pair('out.0', 'conv_norm_out', [mc]);
  pair('out.2', 'conv_out', [a.inChannels === 9 ? 4 : a.inChannels, mc, 3, 3]);
}

function vaeWeights(a: LdmArch['vae'], out: LdmWeight[]): void {
  const P = 'first_stage_model.';
  const pair = (ldm: string, name: string, w: number[], relation: LdmWeight['relation'] = 'same'): void => {
    out.push({ ldm: `${P}${ldm}.weight`, shape: w, target: { component: 'vae', name: `${name}.weight` }, relation });
    out.push({
      ldm: `${P}${ldm}.bias`,
      shape: [w[0]!],
      target: { component: 'vae', name: `${name}.bias` },
      relation: 'same',
    });
  };
  const resblock = (ldm: string, name: string, cin: number, cout: number): void => {
    pair(`${ldm}.norm1`, `${name}.norm1`, [cin]);
    pair(`${ldm}.conv1`, `${name}.conv1`, [cout, cin, 3, 3]);
    pair(`${ldm}.norm2`, `${name}.norm2`, [cout]);
    pair(`${ldm}.conv2`, `${name}.conv2`, [cout, cout, 3, 3]);
    if (cin !== cout) pair(`${ldm}.nin_shortcut`, `${name}.conv_shortcut`, [cout, cin, 1, 1]);
  };
  const mid = (part: string, c: number): void => {
    resblock(`${part}.mid.block_1`, `${part}.mid_block.resnets.0`, c, c);
    pair(`${part}.mid.attn_1.norm`, `${part}.mid_block.attentions.0.group_norm`, [c]);
    for (const [l, n] of [
      ['q', 'to_q'],
      ['k', 'to_k'],
      ['v', 'to_v'],
      ['proj_out', 'to_out.0'],
    ] as const) {
      pair(`${part}.mid.attn_1.${l}`, `${part}.mid_block.attentions.0.${n}`, [c, c, 1, 1], 'linear');
    }
    resblock(`${part}.mid.block_2`, `${part}.mid_block.resnets.1`, c, c);
  };
  const levels = a.mult.length;
  const last = a.ch * a.mult[levels - 1]!;
  pair('encoder.conv_in', 'encoder.conv_in', [a.ch, 3, 3, 3]);
  let c = a.ch;
  for (let i = 0; i < levels; i++) {
    const cout = a.ch * a.mult[i]!;
    for (let j = 0; j < a.layers; j++) {
      resblock(`encoder.down.${i}.block.${j}`, `encoder.down_blocks.${i}.resnets.${j}`, c, cout);
      c = cout;
    }
    if (i < levels - 1)
      pair(`encoder.down.${i}.downsample.conv`, `encoder.down_blocks.${i}.downsamplers.0.conv`, [c, c, 3, 3]);
  }
  mid('encoder', last);
  pair('encoder.norm_out', 'encoder.conv_norm_out', [last]);
  pair('encoder.conv_out', 'encoder.conv_out', [2 * a.z, last, 3, 3]);
  pair('quant_conv', 'quant_conv', [2 * a.z, 2 * a.z, 1, 1]);
  pair('post_quant_conv', 'post_quant_conv', [a.z, a.z, 1, 1]);
  pair('decoder.conv_in', 'decoder.conv_in', [last, a.z, 3, 3]);
  mid('decoder', last);
  c = last;
  for (let i = levels - 1; i >= 0; i--) {
    const cout = a.ch * a.mult[i]!;
    for (let j = 0; j <= a.layers; j++) {
      resblock(`decoder.up.${i}.block.${j}`, `decoder.up_blocks.${levels - 1 - i}.resnets.${j}`, c, cout);
      c = cout;
    }
    if (i > 0)
      pair(`decoder.up.${i}.upsample.conv`, `decoder.up_blocks.${levels - 1 - i}.upsamplers.0.conv`, [c, c, 3, 3]);
  }
  pair('decoder.norm_out', 'decoder.conv_norm_out', [a.ch * a.mult[0]!]);
  pair('decoder.conv_out', 'decoder.conv_out', [3, a.ch * a.mult[0]!, 3, 3]);
}

function clipWeights(a: NonNullable<LdmArch['clip']>, prefix: string, out: LdmWeight[]): void {
  const add = (ldm: string, shape: number[]): void => {
    out.push({ ldm: prefix + ldm, shape, target: { component: 'text_encoder', name: ldm }, relation: 'same' });
  };
  const D = a.width;
  add('text_model.embeddings.token_embedding.weight', [a.vocab, D]);
  add('text_model.embeddings.position_embedding.weight', [a.positions, D]);
  for (let i = 0; i < a.layers; i++) {
    const l = `text_model.encoder.layers.${i}.`;
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      add(`${l}self_attn.${p}.weight`, [D, D]);
      add(`${l}self_attn.${p}.bias`, [D]);
    }
    for (const n of ['layer_norm1', 'layer_norm2']) {
      add(`${l}${n}.weight`, [D]);
      add(`${l}${n}.bias`, [D]);
    }
    add(`${l}mlp.fc1.weight`, [a.intermediate, D]);
    add(`${l}mlp.fc1.bias`, [a.intermediate]);
    add(`${l}mlp.fc2.weight`, [D, a.intermediate]);
    add(`${l}mlp.fc2.bias`, [D]);
  }
  add('text_model.final_layer_norm.weight', [D]);
  add('text_model.final_layer_norm.bias', [D]);
  // A buffer real files carry; not a weight.
  out.push({
    ldm: `${prefix}text_model.embeddings.position_ids`,
    shape: [1, a.positions],
    target: undefined,
    relation: 'same',
  });
}

/**
 * open_clip's text tower. SD 2.x conditions on the penultimate layer, so diffusers' converter drops the last
 * block (and the projection); SDXL keeps every block and `text_projection` (as the Linear weight Pᵀ).
 */
function openClipWeights(
  a: NonNullable<LdmArch['openClip']>,
  prefix: string,
  component: 'text_encoder' | 'text_encoder_2',
  keepAll: boolean,
  out: LdmWeight[],
): void {
  const D = a.width;
  const M = a.intermediate ?? 4 * D;
  const add = (
    ldm: string,
    shape: number[],
    name: string | undefined,
    relation: LdmWeight['relation'] = 'same',
  ): void => {
    out.push({ ldm: prefix + ldm, shape, target: name === undefined ? undefined : { component, name }, relation });
  };
  add('token_embedding.weight', [a.vocab, D], 'text_model.embeddings.token_embedding.weight');
  add('positional_embedding', [a.positions, D], 'text_model.embeddings.position_embedding.weight');
  add('ln_final.weight', [D], 'text_model.final_layer_norm.weight');
  add('ln_final.bias', [D], 'text_model.final_layer_norm.bias');
  add('text_projection', [D, a.projection], keepAll ? 'text_projection.weight' : undefined, 'transpose');
  add('logit_scale', [], undefined);
  for (let i = 0; i < a.layers; i++) {
    const kept = keepAll || i < a.layers - 1;
    const r = `transformer.resblocks.${i}.`;
    const l = `text_model.encoder.layers.${i}.`;
    const t = (name: string): string | undefined => (kept ? l + name : undefined);
    (['q_proj', 'k_proj', 'v_proj'] as const).forEach((p, j) => {
      const rel = `rows:${j}/3` as LdmWeight['relation'];
      if (j === 0) {
        add(`${r}attn.in_proj_weight`, [3 * D, D], t(`self_attn.q_proj.weight`), rel);
        add(`${r}attn.in_proj_bias`, [3 * D], t(`self_attn.q_proj.bias`), rel);
      } else if (kept) {
        // The same fused tensor feeds k and v: listed as extra expectations, not extra file keys.
        out.push({
          ldm: `${prefix}${r}attn.in_proj_weight`,
          shape: [3 * D, D],
          target: { component, name: `${l}self_attn.${p}.weight` },
          relation: rel,
        });
        out.push({
          ldm: `${prefix}${r}attn.in_proj_bias`,
          shape: [3 * D],
          target: { component, name: `${l}self_attn.${p}.bias` },
          relation: rel,
        });
      }
    });
    add(`${r}attn.out_proj.weight`, [D, D], t('self_attn.out_proj.weight'));
    add(`${r}attn.out_proj.bias`, [D], t('self_attn.out_proj.bias'));
    add(`${r}ln_1.weight`, [D], t('layer_norm1.weight'));
    add(`${r}ln_1.bias`, [D], t('layer_norm1.bias'));
    add(`${r}ln_2.weight`, [D], t('layer_norm2.weight'));
    add(`${r}ln_2.bias`, [D], t('layer_norm2.bias'));
    add(`${r}mlp.c_fc.weight`, [M, D], t('mlp.fc1.weight'));
    add(`${r}mlp.c_fc.bias`, [M], t('mlp.fc1.bias'));
    add(`${r}mlp.c_proj.weight`, [D, M], t('mlp.fc2.weight'));
    add(`${r}mlp.c_proj.bias`, [D], t('mlp.fc2.bias'));
  }
}

/** Every weight of the architecture in single-file layout, with its expected conversion (file keys may repeat: see openClip). */
export function ldmWeights(arch: LdmArch): LdmWeight[] {
  const out: LdmWeight[] = [];
  unetWeights(arch.unet, out);
  vaeWeights(arch.vae, out);
  if (arch.family === 'sd1') clipWeights(arch.clip!, 'cond_stage_model.transformer.', out);
  if (arch.family === 'sd2') openClipWeights(arch.openClip!, 'cond_stage_model.model.', 'text_encoder', false, out);
  if (arch.family === 'sdxl') {
    clipWeights(arch.clip!, 'conditioner.embedders.0.transformer.', out);
    openClipWeights(arch.openClip!, 'conditioner.embedders.1.model.', 'text_encoder_2', true, out);
  }
  // Extra keys real files carry.
  out.push({ ldm: 'model_ema.decay', shape: [], target: undefined, relation: 'same' });
  out.push({ ldm: 'alphas_cumprod', shape: [1000], target: undefined, relation: 'same' });
  return out;
}

/** The distinct file keys with their shapes, in order. */
export function ldmFileKeys(arch: LdmArch): [string, number[]][] {
  const seen = new Map<string, number[]>();
  for (const w of ldmWeights(arch)) if (!seen.has(w.ldm)) seen.set(w.ldm, w.shape);
  return [...seen];
}

/**
 * Writes a safetensors checkpoint of the architecture, streaming: each tensor's bytes come from `fill` (given the
 * key and the element count, returning float16 / bfloat16 bits or float32 values, matching `dtype`) and are written
 * before the next is made.
 */
export async function writeLdmSafetensors(
  file: string,
  arch: LdmArch,
  dtype: 'float16' | 'bfloat16' | 'float32',
  fill: (key: string, count: number) => Uint16Array | Float32Array,
): Promise<number> {
  const keys = ldmFileKeys(arch);
  const size = dtype === 'float32' ? 4 : 2;
  const fileDtype = { float16: 'F16', bfloat16: 'BF16', float32: 'F32' }[dtype];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [key, shape] of keys) {
    const bytes = shape.reduce((a, d) => a * d, 1) * size;
    header[key] = { dtype: fileDtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fh = await open(file, 'w');
  try {
    await fh.write(prefix);
    await fh.write(json);
    for (const [key, shape] of keys) {
      const data = fill(
        key,
        shape.reduce((a, d) => a * d, 1),
      );
      await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    await fh.close();
  }
  return 8 + Buffer.byteLength(json) + offset;
}

/** Diffusers-layout weights by component and name, float32 (what `ldmFillFromDiffusers` reads). */
export type DiffusersWeights = Record<
  NonNullable<LdmWeight['target']>['component'],
  ReadonlyMap<string, { dims: readonly number[]; data: Float32Array }>
>;

/**
 * A `fill` for `writeLdmSafetensors` (float32) that writes diffusers-layout weights into the single-file layout by
 * inverting this table's relations, as a converter to the original layout would: 'same' / 'linear' copy the values
 * (a 1×1 conv and a Linear share their bytes); 'rows:i/3' put q, k and v as row blocks of the fused open_clip
 * `in_proj` (q ‖ k ‖ v); 'transpose' turns the Linear weight Pᵀ of `text_projection` back into P (applied as
 * `x @ P`). Keys that convert to nothing (EMA counters, buffers, `logit_scale`) are zeros.
 * @throws Error when a weight the table expects is missing or has another element count.
 */
export function ldmFillFromDiffusers(
  arch: LdmArch,
  weights: DiffusersWeights,
): (key: string, count: number) => Float32Array {
  const byKey = new Map<string, LdmWeight[]>();
  for (const w of ldmWeights(arch)) byKey.set(w.ldm, [...(byKey.get(w.ldm) ?? []), w]);
  return (key, count) => {
    const out = new Float32Array(count);
    for (const w of byKey.get(key) ?? []) {
      if (!w.target) continue;
      const source = weights[w.target.component].get(w.target.name);
      if (!source) throw new Error(`${w.target.component} has no ${w.target.name} (for ${key})`);
      const { data, dims } = source;
      if (w.relation === 'same' || w.relation === 'linear') {
        if (data.length !== count) throw new Error(`${key}: ${count} values, ${w.target.name} has ${data.length}`);
        out.set(data);
      } else if (w.relation === 'transpose') {
        const [rows = 0, cols = 0] = dims; // the Linear weight [projection, width]; the file holds [width, projection]
        if (rows * cols !== count) throw new Error(`${key}: ${count} values, ${w.target.name} is [${dims.join(', ')}]`);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
      } else {
        const block = Number(w.relation.slice(5, 6));
        if (3 * data.length !== count) throw new Error(`${key}: ${count} values, ${w.target.name} has ${data.length}`);
        out.set(data, block * data.length);
      }
    }
    return out;
  };
}

/** Every diffusers name the table's weights convert to, per component (to compare with a model's own names). */
export function ldmTargetNames(arch: LdmArch): Record<NonNullable<LdmWeight['target']>['component'], Set<string>> {
  const out = {
    unet: new Set<string>(),
    vae: new Set<string>(),
    text_encoder: new Set<string>(),
    text_encoder_2: new Set<string>(),
  };
  for (const w of ldmWeights(arch)) if (w.target) out[w.target.component].add(w.target.name);
  return out;
}
