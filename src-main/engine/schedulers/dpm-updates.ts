/**
 * DPM-Solver's update rules (Lu et al. 2022, DPM-Solver and DPM-Solver++, with the SDE variants), as diffusers'
 * `DPMSolverMultistepScheduler` writes them: scalar coefficients from the float32 sigmas, then elementwise
 * float32 arithmetic in diffusers' operation order. Tensors are flat float32 arrays of one shape.
 */
import { expF32, f32, logF32, sqrtF32 } from './f32';

/** diffusers' `algorithm_type` values. */
export type DpmAlgorithm = 'dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver++' | 'sde-dpmsolver';

/** α_t = 1/√(σ²+1) and σ_t = σ·α_t of a VP schedule, with λ = log α_t − log σ_t, float32. */
export function alphaSigma(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = f32(1 / sqrtF32(f32(f32(sigma * sigma) + 1)));
  const sigmaT = f32(sigma * alpha);
  return { alpha, sigmaT, lambda: f32(logF32(alpha) - logF32(sigmaT)) };
}

/**
 * The first-order update (DDIM-equivalent) from `sigmas[i]` to `sigmas[i + 1]`.
 * @param m the converted model output (x₀ for ++, ε otherwise); `z` the noise for SDE variants.
 */
export function dpmFirstOrder(
  algorithm: DpmAlgorithm,
  sigmas: Float32Array,
  stepIndex: number,
  m: Float32Array,
  x: Float32Array,
  z: Float32Array | null,
): Float32Array {
  const t = alphaSigma(sigmas[stepIndex + 1]!);
  const s = alphaSigma(sigmas[stepIndex]!);
  const h = f32(t.lambda - s.lambda);
  const n = x.length;
  const out = new Float32Array(n);
  switch (algorithm) {
    case 'dpmsolver++': {
      const a = f32(t.sigmaT / s.sigmaT);
      const b = f32(t.alpha * f32(expF32(-h) - 1));
      for (let i = 0; i < n; i++) out[i] = f32(a * x[i]!) - f32(b * m[i]!);
      break;
    }
    case 'dpmsolver': {
      const a = f32(t.alpha / s.alpha);
      const b = f32(t.sigmaT * f32(expF32(h) - 1));
      for (let i = 0; i < n; i++) out[i] = f32(a * x[i]!) - f32(b * m[i]!);
      break;
    }
    case 'sde-dpmsolver++': {
      const e2 = expF32(f32(-2 * h));
      const a = f32(f32(t.sigmaT / s.sigmaT) * expF32(-h));
      const b = f32(t.alpha * f32(1 - e2));
      const c = f32(t.sigmaT * sqrtF32(f32(1 - e2)));
      for (let i = 0; i < n; i++) out[i] = f32(f32(a * x[i]!) + f32(b * m[i]!)) + f32(c * z![i]!);
      break;
    }
    case 'sde-dpmsolver': {
      const a = f32(t.alpha / s.alpha);
      const b = f32(2 * f32(t.sigmaT * f32(expF32(h) - 1)));
      const c = f32(t.sigmaT * sqrtF32(f32(expF32(f32(2 * h)) - 1)));
      for (let i = 0; i < n; i++) out[i] = f32(f32(a * x[i]!) - f32(b * m[i]!)) + f32(c * z![i]!);
      break;
    }
  }
  return out;
}

/**
 * The second-order multistep update, from the converted outputs at steps i (`m0`) and i − 1 (`m1`).
 * @param midpoint the midpoint rule (diffusers' default) rather than Heun's.
 */
export function dpmSecondOrder(
  algorithm: DpmAlgorithm,
  midpoint: boolean,
  sigmas: Float32Array,
  stepIndex: number,
  m0: Float32Array,
  m1: Float32Array,
  x: Float32Array,
  z: Float32Array | null,
): Float32Array {
  const t = alphaSigma(sigmas[stepIndex + 1]!);
  const s0 = alphaSigma(sigmas[stepIndex]!);
  const s1 = alphaSigma(sigmas[stepIndex - 1]!);
  const h = f32(t.lambda - s0.lambda);
  const h0 = f32(s0.lambda - s1.lambda);
  const r0 = f32(h0 / h);
  const invR0 = f32(1 / r0);
  const n = x.length;
  const out = new Float32Array(n);
  // x_t = a·x − b·D0 − c·D1 (+ d·z), with D0 = m0 and D1 = (m0 − m1)/r0; coefficients per algorithm and rule.
  let a: number;
  let b: number;
  let c: number;
  let d = 0;
  switch (algorithm) {
    case 'dpmsolver++': {
      a = f32(t.sigmaT / s0.sigmaT);
      const em1 = f32(expF32(-h) - 1);
      b = f32(t.alpha * em1);
      c = midpoint ? f32(0.5 * b) : f32(-f32(t.alpha * f32(f32(em1 / h) + 1)));
      break;
    }
    case 'dpmsolver': {
      a = f32(t.alpha / s0.alpha);
      const em1 = f32(expF32(h) - 1);
      b = f32(t.sigmaT * em1);
      c = midpoint ? f32(0.5 * b) : f32(t.sigmaT * f32(f32(em1 / h) - 1));
      break;
    }
    case 'sde-dpmsolver++': {
      const e2 = expF32(f32(-2 * h));
      a = f32(f32(t.sigmaT / s0.sigmaT) * expF32(-h));
      const coef = f32(t.alpha * f32(1 - e2));
      b = -coef;
      c = midpoint ? -f32(0.5 * coef) : -f32(t.alpha * f32(f32(f32(1 - e2) / f32(-2 * h)) + 1));
      d = f32(t.sigmaT * sqrtF32(f32(1 - e2)));
      break;
    }
    case 'sde-dpmsolver': {
      a = f32(t.alpha / s0.alpha);
      const em1 = f32(expF32(h) - 1);
      b = f32(2 * f32(t.sigmaT * em1));
      c = midpoint ? f32(t.sigmaT * em1) : f32(2 * f32(t.sigmaT * f32(f32(em1 / h) - 1)));
      d = f32(t.sigmaT * sqrtF32(f32(expF32(f32(2 * h)) - 1)));
      break;
    }
  }
  for (let i = 0; i < n; i++) {
    const d1 = f32(invR0 * f32(m0[i]! - m1[i]!));
    // Signs folded into b and c: (a·x − b·D0) − c·D1 reproduces "+" terms with negated coefficients exactly.
    let v = f32(f32(f32(a * x[i]!) - f32(b * m0[i]!)) - f32(c * d1));
    if (z) v = f32(v + f32(d * z[i]!));
    out[i] = v;
  }
  return out;
}

/**
 * The third-order multistep update from the converted outputs at steps i, i − 1, i − 2 (ODE variants only;
 * the caller refuses SDE third order).
 */
export function dpmThirdOrder(
  algorithm: 'dpmsolver++' | 'dpmsolver',
  sigmas: Float32Array,
  stepIndex: number,
  m0: Float32Array,
  m1: Float32Array,
  m2: Float32Array,
  x: Float32Array,
): Float32Array {
  const t = alphaSigma(sigmas[stepIndex + 1]!);
  const s0 = alphaSigma(sigmas[stepIndex]!);
  const s1 = alphaSigma(sigmas[stepIndex - 1]!);
  const s2 = alphaSigma(sigmas[stepIndex - 2]!);
  const h = f32(t.lambda - s0.lambda);
  const h0 = f32(s0.lambda - s1.lambda);
  const h1 = f32(s1.lambda - s2.lambda);
  const r0 = f32(h0 / h);
  const r1 = f32(h1 / h);
  const invR0 = f32(1 / r0);
  const invR1 = f32(1 / r1);
  const r01 = f32(r0 + r1);
  const w = f32(r0 / r01);
  const invR01 = f32(1 / r01);
  const hh = f32(h * h);
  let a: number;
  let c0: number;
  let c1: number;
  let c2: number;
  if (algorithm === 'dpmsolver++') {
    const em1 = f32(expF32(-h) - 1);
    a = f32(t.sigmaT / s0.sigmaT);
    c0 = f32(t.alpha * em1); // subtracted
    c1 = f32(t.alpha * f32(f32(em1 / h) + 1)); // added
    c2 = f32(t.alpha * f32(f32(f32(em1 + h) / hh) - 0.5)); // subtracted
  } else {
    const em1 = f32(expF32(h) - 1);
    a = f32(t.alpha / s0.alpha);
    c0 = f32(t.sigmaT * em1);
    c1 = -f32(t.sigmaT * f32(f32(em1 / h) - 1));
    c2 = f32(t.sigmaT * f32(f32(f32(em1 - h) / hh) - 0.5));
  }
  const n = x.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const d10 = f32(invR0 * f32(m0[i]! - m1[i]!));
    const d11 = f32(invR1 * f32(m1[i]! - m2[i]!));
    const diff = f32(d10 - d11);
    const d1 = f32(d10 + f32(w * diff));
    const d2 = f32(invR01 * diff);
    out[i] = f32(f32(f32(a * x[i]!) - f32(c0 * m0[i]!)) + f32(c1 * d1)) - f32(c2 * d2);
  }
  return out;
}
