/**
 * The UNet's conditioning vector: sinusoidal timestep features (diffusers' `Timesteps` /
 * `get_timestep_embedding`), the `time_embedding` MLP (`TimestepEmbedding`, with LCM's
 * `cond_proj`) and SDXL's "text_time" addition (`add_time_proj` + `add_embedding`).
 */
import { type GraphBuilder, type Value } from '../graph';
import { type Layers } from './layers';
import { type UNetSpec } from './unet-config';

/**
 * The frequencies of `get_timestep_embedding(…, embedding_dim = dim, downscale_freq_shift = shift)`
 * as float32, rounded step by step as torch computes them in float32:
 * `exp(fl(fl(−ln 10000) · k) / fl(half − shift))` for k < ⌊dim/2⌋.
 */
export function timestepFrequencies(dim: number, shift: number): number[] {
  const half = Math.floor(dim / 2);
  const negLog = Math.fround(-Math.log(10000));
  const denominator = Math.fround(half - shift);
  return Array.from({ length: half }, (_, k) =>
    Math.fround(Math.exp(Math.fround(Math.fround(negLog * k) / denominator))),
  );
}

/**
 * Sinusoidal features of `t` (float32 [..., 1]) → [..., dim]: `[cos ‖ sin]` when `flipSinToCos`
 * (every SD / SDXL config) else `[sin ‖ cos]`, zero-padded by one column when `dim` is odd.
 */
export function sinusoidalEmbedding(
  b: GraphBuilder,
  t: Value,
  dim: number,
  flipSinToCos: boolean,
  shift: number,
): Value {
  const freqs = timestepFrequencies(dim, shift);
  // torch multiplies the float32 timestep by the float32 frequencies, as this Mul does.
  const args = b.mul(t, b.constant(freqs, 'float32'));
  const [sin, cos] = [b.sin(args), b.cos(args)];
  const emb = b.concat(flipSinToCos ? [cos, sin] : [sin, cos], -1);
  if (dim % 2 === 0) return emb;
  const rank = emb.rank!;
  const pads = new Array<number>(2 * rank).fill(0);
  pads[2 * rank - 1] = 1;
  return b.pad(emb, pads);
}

/**
 * diffusers' `TimestepEmbedding`: `linear_2(act(linear_1(x + cond_proj(cond))))`, then an optional
 * post-activation. x [B, in] → [B, out]; `cond` [B, condDim] (LCM's guidance embedding).
 */
export function timestepEmbedding(
  L: Layers,
  name: string,
  x: Value,
  options: { cond?: Value | undefined; postAct?: boolean } = {},
): Value {
  const { b } = L;
  return b.scope(name, () => {
    let h = x;
    if (options.cond) h = b.add(h, L.linear('cond_proj', options.cond));
    h = b.silu(L.linear('linear_1', h));
    h = L.linear('linear_2', h);
    return options.postAct ? b.silu(h) : h;
  });
}

export type ConditioningInputs = {
  /** float32 [B] — one timestep per sample (already float, already broadcast to the batch). */
  timesteps: Value;
  /** LCM: float32 [B, time_cond_proj_dim]. */
  timestepCond?: Value | undefined;
  /** SDXL: float32 [B, projection_dim] (pooled text embeddings). */
  textEmbeds?: Value | undefined;
  /** SDXL: float32 [B, n] (n = 6: original size, crop offset, target size; the refiner's n = 5). */
  timeIds?: Value | undefined;
};

/**
 * The embedding every resnet receives, float32 [B, timeEmbedDim]:
 * `time_embedding(time_proj(t), timestep_cond)` plus SDXL's
 * `add_embedding(text_embeds ‖ add_time_proj(time_ids).reshape(B, −1))`, then the optional
 * `time_embedding_act_fn`.
 */
export function conditioningEmbedding(L: Layers, spec: UNetSpec, inputs: ConditioningInputs): Value {
  const { b } = L;
  const tFeatures = b.scope('time_proj', () =>
    sinusoidalEmbedding(
      b,
      b.unsqueeze(inputs.timesteps, [1]),
      spec.timestepInputDim,
      spec.flipSinToCos,
      spec.freqShift,
    ),
  );
  let emb = timestepEmbedding(L, 'time_embedding', tFeatures, {
    cond: inputs.timestepCond,
    postAct: spec.timestepPostAct,
  });
  if (spec.textTime) {
    const { textEmbeds, timeIds } = inputs;
    if (!textEmbeds || !timeIds) throw new Error('text_time conditioning needs text_embeds and time_ids');
    // time_ids [B, n] → [B, n, 1] → features [B, n, d] → [B, n·d]: the same order as diffusers'
    // flatten → embed → reshape(B, −1).
    const timeFeatures = b.scope('add_time_proj', () =>
      b.reshape(
        sinusoidalEmbedding(
          b,
          b.unsqueeze(timeIds, [2]),
          spec.textTime!.timeEmbedDim,
          spec.flipSinToCos,
          spec.freqShift,
        ),
        [0, -1],
      ),
    );
    const added = timestepEmbedding(L, 'add_embedding', b.concat([textEmbeds, timeFeatures], -1));
    emb = b.add(emb, added);
  }
  return spec.timeEmbeddingAct ? b.silu(emb) : emb;
}
