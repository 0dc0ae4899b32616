/**
 * `GraphBuilder`: builds ONNX graphs from typed op helpers with shape inference at every call.
 *
 * ```ts
 * const b = new GraphBuilder({ name: 'unet' });
 * const x = b.input('sample', 'float32', ['batch', 4, 'height', 'width']);
 * const y = b.scope('conv_in', () => b.conv(x, b.initializer('weight', w), b.initializer('bias', bias), { pads: 1 }));
 * b.output(y, 'out_sample');
 * const model = b.build();
 * ```
 * This file has the convolution, normalization, shape-manipulation and resampling helpers; the
 * elementwise and matrix ones are in `builder-math.ts`, naming rules in `builder-core.ts`.
 */
import { type DType } from './dtype';
import { GraphError } from './errors';
import { type Attribute } from './ir';
import { MathOps } from './builder-math';
import { createTensor } from './tensor';
import { attr, Value } from './value';

export type ConvOptions = {
  /** Per spatial axis, or one number for all. Default 1. */
  strides?: number | number[];
  /** [begin…, end…] per spatial axis (ONNX order), or one number for all sides. Default 0. */
  pads?: number | number[];
  dilations?: number | number[];
  /** Channel groups (depthwise: group = C). Default 1. */
  group?: number;
};

export type NormOptions = { epsilon?: number };
export type LayerNormOptions = { axis?: number; epsilon?: number };
export type GroupNormOptions = {
  epsilon?: number;
  /**
   * 'instance' (default): Reshape → InstanceNormalization → Reshape, as torch exports it.
   * 'reduce': mean and variance with ReduceMean, for runtimes or gradients without InstanceNormalization.
   */
  method?: 'instance' | 'reduce';
};

export type ResizeOptions = {
  /** Per axis (all axes of x). */
  scales?: number[];
  /** Output sizes per axis (all axes of x). */
  sizes?: number[] | Value;
  mode?: 'nearest' | 'linear' | 'cubic';
  /**
   * Defaults follow PyTorch's `F.interpolate`, not ONNX: nearest → 'asymmetric' with
   * nearestMode 'floor'; linear/cubic → 'half_pixel' (align_corners=False).
   */
  coordinateTransformationMode?: 'half_pixel' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric';
  nearestMode?: 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';
};

export type PadOptions = { mode?: 'constant' | 'reflect' | 'edge'; value?: number };

export class GraphBuilder extends MathOps {
  /**
   * N-d convolution. x [N, C, …spatial], w [M, C/group, …kernel], bias [M] → [N, M, …out],
   * out = floor((in + pad0 + pad1 − dilation·(k − 1) − 1) / stride) + 1.
   */
  conv(x: Value, w: Value, bias?: Value, options: ConvOptions = {}): Value {
    const sp = Math.max((w.rank ?? x.rank ?? 3) - 2, 1);
    const perAxis = (v: number | number[] | undefined, n: number) =>
      v === undefined ? undefined : typeof v === 'number' ? new Array<number>(n).fill(v) : v;
    const attrs: Record<string, Attribute> = {};
    const kernel = w.shape?.slice(2);
    if (kernel?.every((d): d is number => typeof d === 'number')) attrs.kernel_shape = attr.ints(kernel);
    const strides = perAxis(options.strides, sp);
    const pads = perAxis(options.pads, 2 * sp);
    const dilations = perAxis(options.dilations, sp);
    if (strides) attrs.strides = attr.ints(strides);
    if (pads) attrs.pads = attr.ints(pads);
    if (dilations) attrs.dilations = attr.ints(dilations);
    if (options.group !== undefined) attrs.group = attr.int(options.group);
    return this.op('Conv', [x, w, bias], attrs);
  }

  /** Pads x by `pads` ([begin…, end…] per axis). */
  pad(x: Value, pads: readonly number[], options: PadOptions = {}): Value {
    const value = options.value !== undefined ? this.constant(options.value, x.dtype) : undefined;
    return this.op('Pad', [x, this.ints(pads), value], options.mode ? { mode: attr.string(options.mode) } : {});
  }

  /** LayerNormalization over axes [axis, rank): x, scale and bias broadcast to the normalized shape. */
  layerNorm(x: Value, scale: Value, bias?: Value, options: LayerNormOptions = {}): Value {
    if (this.opset < 17) throw new GraphError('LayerNormalization needs opset ≥ 17');
    return this.op('LayerNormalization', [x, scale, bias], {
      axis: attr.int(options.axis ?? -1),
      epsilon: attr.float(options.epsilon ?? 1e-5),
    });
  }

  /** InstanceNormalization: x [N, C, …] normalized over the trailing axes per (n, c); scale, bias [C]. */
  instanceNorm(x: Value, scale: Value, bias: Value, options: NormOptions = {}): Value {
    return this.op('InstanceNormalization', [x, scale, bias], { epsilon: attr.float(options.epsilon ?? 1e-5) });
  }

  /**
   * GroupNorm as in PyTorch: x [N, C, …] split into `groups` channel groups, each normalized over
   * its channels and spatial positions, then per-channel affine with scale and bias [C].
   */
  groupNorm(x: Value, groups: number, scale: Value, bias: Value, options: GroupNormOptions = {}): Value {
    const rank = x.rank;
    const channels = x.dim(1);
    if (rank === undefined || rank < 3) throw new GraphError(`groupNorm: input '${x.name}' must be [N, C, …]`);
    if (typeof channels === 'number' && channels % groups !== 0) {
      throw new GraphError(`groupNorm: ${channels} channels of '${x.name}' do not split into ${groups} groups`);
    }
    const epsilon = options.epsilon ?? 1e-5;
    return this.scope('GroupNorm', () => {
      const original = this.shape(x);
      const grouped = this.reshape(x, [0, groups, -1]);
      let normed: Value;
      if (options.method === 'reduce') {
        const centered = this.sub(grouped, this.reduceMean(grouped, [2]));
        const variance = this.reduceMean(this.mul(centered, centered), [2]);
        normed = this.div(centered, this.sqrt(this.add(variance, epsilon)));
      } else {
        const ones = this.constant(new Array<number>(groups).fill(1), x.dtype);
        const zeros = this.constant(new Array<number>(groups).fill(0), x.dtype);
        normed = this.instanceNorm(grouped, ones, zeros, { epsilon });
      }
      const back = this.reshape(normed, original);
      // [C] → [C, 1, …] so the affine broadcasts over spatial axes.
      const affine = new Array<number>(rank - 2).fill(1);
      return this.add(this.mul(back, this.reshape(scale, [-1, ...affine])), this.reshape(bias, [-1, ...affine]));
    });
  }

  /** Reshape; 0 copies the input dim (unless allowzero), one −1 is inferred. */
  reshape(x: Value, shape: readonly number[] | Value, options: { allowzero?: boolean } = {}): Value {
    return this.op('Reshape', [x, this.intsOperand(shape)], options.allowzero ? { allowzero: attr.int(1) } : {});
  }

  /** Permutes axes (default: reverses them). */
  transpose(x: Value, perm?: readonly number[]): Value {
    return this.op('Transpose', [x], perm ? { perm: attr.ints(perm) } : {});
  }

  /** Joins along `axis`; other dims must match. */
  concat(xs: readonly Value[], axis: number): Value {
    if (xs.length === 0) throw new GraphError('concat needs at least one input');
    return this.op('Concat', xs, { axis: attr.int(axis) });
  }

  /** Splits along `axis` into the given sizes, or into `count` equal parts. */
  split(x: Value, sizes: readonly number[] | number, axis = 0): Value[] {
    const axisAttr = { axis: attr.int(axis) };
    if (typeof sizes !== 'number')
      return this.node('Split', [x, this.ints(sizes)], axisAttr, { outputs: sizes.length });
    if (this.opset >= 18)
      return this.node('Split', [x], { ...axisAttr, num_outputs: attr.int(sizes) }, { outputs: sizes });
    return this.node('Split', [x], axisAttr, { outputs: sizes });
  }

  /** x[starts:ends:steps] on `axes` (default the first starts.length axes); ends clamp as in numpy. */
  slice(
    x: Value,
    starts: readonly number[] | Value,
    ends: readonly number[] | Value,
    axes?: readonly number[] | Value,
    steps?: readonly number[] | Value,
  ): Value {
    const opt = (v: readonly number[] | Value | undefined) => (v === undefined ? undefined : this.intsOperand(v));
    return this.op('Slice', [x, this.intsOperand(starts), this.intsOperand(ends), opt(axes), opt(steps)]);
  }

  /** Takes `indices` along `axis`: a number drops the axis, a list keeps it, a Value of indices inserts its shape. */
  gather(x: Value, indices: Value | number | readonly number[], axis = 0): Value {
    const idx =
      indices instanceof Value
        ? indices
        : typeof indices === 'number'
          ? this.constant(indices, 'int64')
          : this.ints(indices);
    return this.op('Gather', [x, idx], { axis: attr.int(axis) });
  }

  /** Removes size-1 axes (all of them when `axes` is omitted). */
  squeeze(x: Value, axes?: readonly number[]): Value {
    return this.op('Squeeze', [x, axes ? this.ints(axes) : undefined]);
  }

  /** Inserts size-1 axes at `axes` (positions in the output). */
  unsqueeze(x: Value, axes: readonly number[]): Value {
    return this.op('Unsqueeze', [x, this.ints(axes)]);
  }

  /** Broadcasts x to `shape` (numpy rules, both ways). */
  expand(x: Value, shape: readonly number[] | Value): Value {
    return this.op('Expand', [x, this.intsOperand(shape)]);
  }

  /** [d0…d(axis−1), d(axis)…] → [∏ first, ∏ rest]. */
  flatten(x: Value, axis = 1): Value {
    return this.op('Flatten', [x], { axis: attr.int(axis) });
  }

  /** Resamples by `scales` or to `sizes` (one entry per axis of x); see `ResizeOptions` for defaults. */
  resize(x: Value, options: ResizeOptions): Value {
    const mode = options.mode ?? 'nearest';
    const attrs: Record<string, Attribute> = {
      mode: attr.string(mode),
      coordinate_transformation_mode: attr.string(
        options.coordinateTransformationMode ?? (mode === 'nearest' ? 'asymmetric' : 'half_pixel'),
      ),
    };
    if (mode === 'nearest') attrs.nearest_mode = attr.string(options.nearestMode ?? 'floor');
    if (!options.scales === !options.sizes) throw new GraphError('resize: give exactly one of scales or sizes');
    const scales = options.scales ? this.constant(options.scales, 'float32') : undefined;
    const sizes = options.sizes ? this.intsOperand(options.sizes) : undefined;
    return this.op('Resize', [x, undefined, scales, sizes], attrs);
  }

  /** The shape of x as an int64 [rank] tensor (its values stay known, symbols included). */
  shape(x: Value, options: { start?: number; end?: number } = {}): Value {
    const attrs: Record<string, Attribute> = {};
    if (options.start !== undefined) attrs.start = attr.int(options.start);
    if (options.end !== undefined) attrs.end = attr.int(options.end);
    return this.op('Shape', [x], attrs);
  }

  /** A tensor of `shape` filled with `value`. */
  constantOfShape(shape: readonly number[] | Value, value = 0, dtype: DType = 'float32'): Value {
    const fill = createTensor('', dtype, [1], [value]);
    return this.op('ConstantOfShape', [this.intsOperand(shape)], { value: attr.tensor(fill) });
  }

  /** [start, start + delta, …) up to `limit` (scalars; int64 unless a Value says otherwise). */
  range(start: Value | number, limit: Value | number, delta: Value | number = 1, dtype: DType = 'int64'): Value {
    const s = (v: Value | number) => (v instanceof Value ? v : this.constant(v, dtype));
    return this.op('Range', [s(start), s(limit), s(delta)]);
  }
}
