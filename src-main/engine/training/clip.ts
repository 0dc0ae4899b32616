/**
 * Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_(params, max_norm)` on
 * float32 CPU tensors: each tensor's 2-norm (float32), the norm of those norms, then every gradient
 * multiplied by `min(1, max_norm / (total + 1e-6))` in float32. `maxNorm` ≤ 0 turns it off.
 */

const f = Math.fround;

/** The global 2-norm of `grads` (float32, as torch's). */
export function globalGradNorm(grads: readonly Float32Array[]): number {
  let sumSq = 0;
  for (const g of grads) {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
    const n = f(Math.sqrt(s));
    sumSq += n * n;
  }
  return f(Math.sqrt(sumSq));
}

/**
 * Scales `grads` in place so their global norm is at most `maxNorm`. Returns the global norm
 * before clipping (also when `maxNorm` ≤ 0, which clips nothing).
 */
export function clipGradNorm(grads: readonly Float32Array[], maxNorm: number): number {
  const total = globalGradNorm(grads);
  if (!(maxNorm > 0)) return total;
  const coef = f(f(maxNorm) / f(total + 1e-6));
  if (coef >= 1) return total;
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = f(g[i]! * coef);
  return total;
}
