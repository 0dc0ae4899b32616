import { PinholeError } from '../../../src-shared/errors';
import {
  float32Tensor,
  timestepFeed,
  type DeviceTensor,
  type Feed,
  type HostTensor,
  type ModelSession,
} from '../runtime';
import { concat } from './text-encoder';

/**
 * A UNet session adapted to its declared inputs: `sample`, `timestep` (int64 truncated or float; scalar, [1]
 * or [batch]), `encoder_hidden_states`, SDXL's `text_embeds` and `time_ids`, LCM's `timestep_cond`. Models
 * with a fixed batch size are run in slices.
 */

/** Everything besides the sample and the timestep, for a UNet batch of N. */
export interface UNetConditioning {
  /** float32 [N, tokens, channels]. */
  readonly encoderHiddenStates: Float32Array;
  readonly tokens: number;
  readonly channels: number;
  /** SDXL: float32 [N, pooledDim]. */
  readonly textEmbeds?: Float32Array;
  readonly pooledDim?: number;
  /** SDXL: float32 [N, 6] — `[H, W, 0, 0, H, W]` per row. */
  readonly timeIds?: Float32Array;
  /** LCM: float32 [N, condDim], the guidance-scale embedding. */
  readonly timestepCond?: Float32Array;
  /**
   * The same conditioning already on the device, by UNet input name (see `UNetRunner.upload`): fed in place of
   * the host arrays when a run takes the whole batch at once.
   */
  readonly device?: Readonly<Record<string, DeviceTensor>>;
}

function fixedDim(shape: readonly (number | string)[], axis: number): number | undefined {
  const d = shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

export class UNetRunner {
  /** Channels of `sample`: 4 for ordinary UNets, 9 for inpainting ones (undefined if dynamic). */
  readonly inChannels: number | undefined;
  /** A batch size the export fixes, if any. */
  readonly fixedBatch: number | undefined;
  /** A token count the export fixes, if any (some exports hard-code 77). */
  readonly fixedTokens: number | undefined;
  readonly takesTextTime: boolean;
  /** The width of `timestep_cond` when declared (LCM with a guidance embedding). */
  readonly timestepCondDim: number | undefined;
  private readonly outputName: string;

  constructor(
    readonly session: ModelSession,
    configTimeCondDim?: number,
  ) {
    const sample = session.requireInput('sample');
    this.inChannels = fixedDim(sample.shape, 1);
    this.fixedBatch = fixedDim(sample.shape, 0);
    this.fixedTokens = fixedDim(session.requireInput('encoder_hidden_states').shape, 1);
    this.takesTextTime = session.input('text_embeds') !== undefined || session.input('time_ids') !== undefined;
    const cond = session.input('timestep_cond');
    this.timestepCondDim = cond ? (fixedDim(cond.shape, 1) ?? configTimeCondDim) : undefined;
    if (cond && this.timestepCondDim === undefined) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${session.modelPath}: timestep_cond has no fixed width and unet/config.json gives no time_cond_proj_dim`,
      );
    }
    this.outputName = session.output('out_sample')?.name ?? session.outputs[0]!.name;
  }

  /**
   * One UNet evaluation.
   * @param sample float32 [N, C, h, w] (already scaled by the scheduler, mask channels appended for inpainting).
   * @param t the scheduler's timestep (fed truncated to an integer model, as is to a float one).
   * @returns float32 [N, outChannels, h, w].
   */
  async predict(
    sample: Float32Array,
    dims: readonly [number, number, number, number],
    t: number,
    cond: UNetConditioning,
  ): Promise<Float32Array> {
    const [n, c, h, w] = dims;
    if (this.fixedTokens !== undefined && cond.tokens !== this.fixedTokens) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${this.session.modelPath} accepts exactly ${this.fixedTokens} prompt tokens (a static export) but the prompt needs ${cond.tokens}; shorten the prompt or the negative prompt`,
      );
    }
    const slice = this.fixedBatch ?? n;
    if (n % slice !== 0)
      throw new PinholeError('INVALID_PARAMS', `${this.session.modelPath} runs batches of ${slice}, not ${n}`);
    // Device conditioning serves runs that take the whole batch it was uploaded for.
    const device = slice === n && cond.device && Object.values(cond.device).every((d) => d.dims[0] === n);
    const parts: Float32Array[] = [];
    for (let start = 0; start < n; start += slice) {
      const feeds: Record<string, Feed> = {
        sample: float32Tensor(sample.subarray(start * c * h * w, (start + slice) * c * h * w), [slice, c, h, w]),
        timestep: timestepFeed(this.session.requireInput('timestep'), t, slice),
        ...(device ? cond.device : this.conditioningFeeds(cond, start, slice)),
      };
      const out = await this.session.runFloat(feeds, [this.outputName]);
      parts.push(out[this.outputName]!.data);
    }
    return parts.length === 1 ? parts[0]! : concat(parts);
  }

  /**
   * Puts the conditioning of a UNet batch of `n` on the device, once, in the element types the UNet declares,
   * so every step feeds it without a copy. Undefined when the UNet runs in slices (a fixed batch smaller than
   * `n`): those feed host rows. The caller disposes the tensors when the batch ends.
   */
  async upload(
    cond: UNetConditioning,
    n: number,
    upload: (tensor: HostTensor) => Promise<DeviceTensor>,
  ): Promise<Record<string, DeviceTensor> | undefined> {
    if ((this.fixedBatch ?? n) !== n) return undefined;
    const device: Record<string, DeviceTensor> = {};
    try {
      for (const [name, tensor] of Object.entries(this.conditioningFeeds(cond, 0, n))) {
        device[name] = await upload(this.session.adaptInput(name, tensor));
      }
    } catch (error) {
      for (const tensor of Object.values(device)) tensor.dispose();
      throw error;
    }
    return device;
  }

  /** The host feeds of everything but the sample and the timestep, rows `start … start + slice`. */
  private conditioningFeeds(cond: UNetConditioning, start: number, slice: number): Record<string, HostTensor> {
    const rows = (data: Float32Array, width: number): Float32Array =>
      data.subarray(start * width, (start + slice) * width);
    const feeds: Record<string, HostTensor> = {
      encoder_hidden_states: float32Tensor(rows(cond.encoderHiddenStates, cond.tokens * cond.channels), [
        slice,
        cond.tokens,
        cond.channels,
      ]),
    };
    if (this.session.input('text_embeds')) {
      if (!cond.textEmbeds || !cond.pooledDim) throw new PinholeError('INTERNAL', 'this UNet needs text_embeds');
      feeds['text_embeds'] = float32Tensor(rows(cond.textEmbeds, cond.pooledDim), [slice, cond.pooledDim]);
    }
    if (this.session.input('time_ids')) {
      if (!cond.timeIds) throw new PinholeError('INTERNAL', 'this UNet needs time_ids');
      feeds['time_ids'] = float32Tensor(rows(cond.timeIds, 6), [slice, 6]);
    }
    if (this.timestepCondDim !== undefined) {
      if (!cond.timestepCond) throw new PinholeError('INTERNAL', 'this UNet needs timestep_cond');
      feeds['timestep_cond'] = float32Tensor(rows(cond.timestepCond, this.timestepCondDim), [
        slice,
        this.timestepCondDim,
      ]);
    }
    return feeds;
  }
}

/**
 * diffusers' `get_guidance_scale_embedding(w, dim)` for LCM UNets, in float32: with `w' = 1000·w`,
 * `[sin(w'·f_k), cos(w'·f_k)]` for `f_k = exp(−k · ln(10000) / (dim/2 − 1))`, zero-padded to an odd `dim`.
 * @param w the guidance scale minus 1 (the LCM pipelines' convention).
 * @returns float32 [dim].
 */
export function guidanceScaleEmbedding(w: number, dim: number): Float32Array {
  const half = Math.floor(dim / 2);
  const step = Math.fround(Math.fround(Math.log(10000)) / (half - 1));
  const scaled = Math.fround(w * 1000);
  const out = new Float32Array(dim);
  for (let k = 0; k < half; k++) {
    const freq = Math.fround(Math.exp(Math.fround(k * -step)));
    const x = Math.fround(scaled * freq);
    out[k] = Math.sin(x);
    out[half + k] = Math.cos(x);
  }
  return out;
}
