/**
 * The building blocks every architecture shares, written once: Linear, Conv2d, norms and
 * attention with PyTorch's semantics, each reading its weights by diffusers name.
 *
 * Every Linear and Conv goes through `ModuleHooks` with its full module path
 * (`down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q`), so LoRA training and LoRA
 * merging (kohya's `networks/lora.py` targets) wrap exactly those modules without the
 * builders knowing about LoRA.
 */
import { type GraphBuilder, type Value } from '../graph';
import { type WeightSource } from './weight-source';

/** What a hook receives: the module's path, its kind and its input; `base` computes the frozen module. */
export type ModuleCall = {
  path: string;
  kind: 'linear' | 'conv';
  /** Conv kernel size (1 for 1×1), for LoRA target rules. */
  kernel?: number;
  /** Conv stride and symmetric padding (a 3×3 LoRA's `lora_down` convolves exactly as the module does). */
  stride?: number;
  padding?: number;
  input: Value;
  base: () => Value;
};

export interface ModuleHooks {
  /** Returns the module's output; the default is `call.base()`. */
  module?(call: ModuleCall, b: GraphBuilder): Value;
}

export type LayerOptions = {
  b: GraphBuilder;
  weights: WeightSource;
  hooks?: ModuleHooks;
};

/** Layers bound to one builder and weight source; module paths follow the builder's scope. */
export class Layers {
  readonly b: GraphBuilder;
  private readonly weights: WeightSource;
  private readonly hooks: ModuleHooks;

  constructor(options: LayerOptions) {
    this.b = options.b;
    this.weights = options.weights;
    this.hooks = options.hooks ?? {};
  }

  /** Full diffusers path of `name` under the current scope. */
  path(name: string): string {
    return this.b.scopeName ? `${this.b.scopeName}.${name}` : name;
  }

  has(name: string): boolean {
    return this.weights.has(this.path(name));
  }

  /**
   * The weight `name` (relative to the scope) as a float32 value. Weights stored in float16
   * (the weight source decides: half the memory on GPU providers) are Cast at use, so
   * activations stay float32.
   */
  param(name: string): Value {
    const value = this.b.initializer(name, this.weights.get(this.path(name)));
    return value.dtype === 'float32' ? value : this.b.cast(value, 'float32');
  }

  /** torch.nn.Linear: x[..., in] → x·Wᵀ + b, with W [out, in]. */
  linear(name: string, x: Value, options: { bias?: boolean } = {}): Value {
    return this.b.scope(name, () =>
      this.hook({ path: this.b.scopeName, kind: 'linear', input: x }, () => {
        const w = this.b.transpose(this.param('weight'), [1, 0]);
        const y = this.b.matmul(x, w);
        return options.bias === false || !this.has('bias') ? y : this.b.add(y, this.param('bias'));
      }),
    );
  }

  /** torch.nn.Conv2d with square kernels: x [N, C, H, W]. */
  conv2d(name: string, x: Value, options: { stride?: number; padding?: number } = {}): Value {
    return this.b.scope(name, () => {
      const weight = this.weights.get(this.path('weight'));
      const kernel = weight.dims[2] ?? 1;
      const stride = options.stride ?? 1;
      const padding = options.padding ?? Math.floor(kernel / 2);
      return this.hook({ path: this.b.scopeName, kind: 'conv', kernel, stride, padding, input: x }, () =>
        this.b.conv(x, this.param('weight'), this.has('bias') ? this.param('bias') : undefined, {
          strides: stride,
          pads: padding,
        }),
      );
    });
  }

  /** torch.nn.GroupNorm(groups, C, eps) with affine weights. */
  groupNorm(name: string, x: Value, groups: number, epsilon: number): Value {
    return this.b.scope(name, () => this.b.groupNorm(x, groups, this.param('weight'), this.param('bias'), { epsilon }));
  }

  /** torch.nn.LayerNorm over the last axis. */
  layerNorm(name: string, x: Value, epsilon: number): Value {
    return this.b.scope(name, () =>
      this.b.layerNorm(x, this.param('weight'), this.has('bias') ? this.param('bias') : undefined, {
        axis: -1,
        epsilon,
      }),
    );
  }

  /**
   * Scaled dot-product attention over [B, T, heads·d] projections, as diffusers'
   * AttnProcessor: split heads, softmax(q·kᵀ / √d) · v, merge heads. `mask` is added to the
   * scores (e.g. CLIP's causal mask, [T, T] with −inf above the diagonal).
   */
  attention(q: Value, k: Value, v: Value, heads: number, mask?: Value): Value {
    const { b } = this;
    const split = (x: Value) => b.transpose(b.reshape(x, [0, 0, heads, -1]), [0, 2, 1, 3]);
    const [qh, kh, vh] = [split(q), split(k), split(v)];
    const headDim = headDimOf(q, heads);
    let scores = b.mul(b.matmul(qh, b.transpose(kh, [0, 1, 3, 2])), 1 / Math.sqrt(headDim));
    if (mask) scores = b.add(scores, mask);
    const out = b.matmul(b.softmax(scores, -1), vh);
    // An explicit channel count (not −1) keeps it known to shape inference for what follows.
    return b.reshape(b.transpose(out, [0, 2, 1, 3]), [0, 0, heads * headDim]);
  }

  private hook(call: Omit<ModuleCall, 'base'>, base: () => Value): Value {
    const full: ModuleCall = { ...call, base };
    return this.hooks.module ? this.hooks.module(full, this.b) : base();
  }
}

function headDimOf(q: Value, heads: number): number {
  const channels = q.shape?.[q.shape.length - 1];
  if (typeof channels !== 'number') throw new Error('attention needs a known channel count');
  return channels / heads;
}
