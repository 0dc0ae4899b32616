/**
 * torch.optim's SGD and AdamW (single-tensor CPU path) over float32 parameter arrays, updated in
 * place. Per-element arithmetic is float32 as torch's; Python-scalar factors are float64 first.
 */

export type OptimizerKind = 'sgd' | 'adamw';

export interface Optimizer {
  readonly kind: OptimizerKind;
  /**
   * The float32 factors of the next step, as the update graph takes them (`update-graph.ts`), counting the
   * step; `lengths` are the parameters' sizes (AdamW allocates its moments on the first step).
   */
  nextFactors(lengths: readonly number[]): Record<string, number>;
  /** Applies one update to `params[i]` from `grads[i]` (same lengths, same order every step). */
  step(params: readonly Float32Array[], grads: readonly Float32Array[]): void;
  /** Steps taken so far (AdamW's bias correction uses it; a resumed run restores it). */
  steps: number;
  /** Learning rate used by the next step (schedules set it). */
  lr: number;
}

const f = Math.fround;

/** The factors of an SGD step, in the order the update graph declares them. */
export const SGD_FACTORS = ['lr', 'wd'] as const;

/**
 * `torch.optim.SGD(lr, momentum=0, weight_decay)`: d = g + wd·p (L2 decay, added to the gradient after
 * clipping, as torch's step sees the clipped `.grad`), then p −= lr·d. wd = 0 is plain p −= lr·g.
 */
export class Sgd implements Optimizer {
  readonly kind = 'sgd';
  steps = 0;
  constructor(
    public lr: number,
    readonly weightDecay = 0,
  ) {}

  nextFactors(): Record<(typeof SGD_FACTORS)[number], number> {
    this.steps++;
    return { lr: f(this.lr), wd: f(this.weightDecay) };
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[]): void {
    const { lr, wd } = this.nextFactors();
    params.forEach((p, k) => {
      const g = grads[k]!;
      for (let i = 0; i < p.length; i++) {
        // With wd = 0 torch skips the term; adding 0·p changes no finite value, and the graph always adds it.
        p[i] = f(p[i]! - f(lr * f(g[i]! + f(wd * p[i]!))));
      }
    });
  }
}

export type AdamWOptions = {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
};

/**
 * `torch.optim.AdamW`: decoupled decay `p ·= 1 − lr·wd`, then
 * m = lerp(m, g, 1 − β1), v = β2·v + (1 − β2)·g², p −= (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps).
 */
/** The factors of an AdamW step, in the order the update graph declares them. */
export const ADAMW_FACTORS = ['decay', 'w1', 'b2', 'w2', 'stepSize', 'bc2Sqrt', 'eps'] as const;

export class AdamW implements Optimizer {
  readonly kind = 'adamw';
  steps = 0;
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** First and second moments per parameter (the optimizer state a checkpoint keeps). */
  m: Float32Array[] = [];
  v: Float32Array[] = [];

  constructor(options: AdamWOptions) {
    this.lr = options.lr;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
  }

  /** Python-scalar math in float64, rounded to float32 as torch's kernel takes it. */
  nextFactors(lengths: readonly number[]): Record<(typeof ADAMW_FACTORS)[number], number> {
    if (this.m.length === 0) {
      this.m = lengths.map((n) => new Float32Array(n));
      this.v = lengths.map((n) => new Float32Array(n));
    }
    const t = ++this.steps;
    return {
      decay: f(1 - this.lr * this.weightDecay),
      w1: f(1 - this.beta1),
      b2: f(this.beta2),
      w2: f(1 - this.beta2),
      stepSize: f(this.lr / (1 - this.beta1 ** t)),
      bc2Sqrt: f(Math.sqrt(1 - this.beta2 ** t)),
      eps: f(this.eps),
    };
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[]): void {
    const { decay, w1, b2, w2, stepSize, bc2Sqrt, eps } = this.nextFactors(params.map((p) => p.length));
    params.forEach((p, k) => {
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        p[i] = f(p[i]! * decay);
        m[i] = f(m[i]! + f(w1 * f(gi - m[i]!)));
        v[i] = f(f(v[i]! * b2) + f(w2 * f(gi * gi)));
        const denom = f(f(f(Math.sqrt(v[i]!)) / bc2Sqrt) + eps);
        p[i] = f(p[i]! - f(stepSize * f(m[i]! / denom)));
      }
    });
  }
}
