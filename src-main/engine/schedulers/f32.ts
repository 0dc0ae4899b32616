/**
 * Float32 arithmetic as PyTorch's CPU kernels do it.
 *
 * diffusers keeps betas, alphas, sigmas and samples in float32 torch tensors, so every tensor operation rounds
 * its result to float32. `Math.fround(a op b)` of two float32 values is exactly the float32 result of `+ - * /`
 * and `sqrt` (a double holds more than twice float32's precision, so rounding twice never differs), which is
 * what these helpers rely on. Transcendentals (`log`, `exp`) go through the double function and one rounding:
 * correctly rounded in all but rare near-tie cases, where torch's own libm may differ by one ulp too.
 */

/** Rounds a double to the nearest float32 (ties to even). */
export const f32 = Math.fround;

const bits = new Float32Array(1);
const bitsInt = new Int32Array(bits.buffer);

/** The float32 adjacent to `x` (a float32 value) in the direction of `toward`. */
function nextF32(x: number, toward: number): number {
  if (x === toward) return x;
  if (x === 0) {
    bitsInt[0] = 1;
    return toward > 0 ? bits[0]! : -bits[0]!;
  }
  bits[0] = x;
  // For IEEE binary32, stepping the integer bits steps the magnitude.
  const stepped = bitsInt[0]! + (toward > x === x > 0 ? 1 : -1);
  bitsInt[0] = stepped;
  return bits[0];
}

/**
 * `fmaf(a, b, c)`: `a × b + c` rounded once to float32, for float32 inputs. GCC contracts `start + step * i`
 * into a fused multiply-add in PyTorch's AVX2/AVX512 kernel builds, which is where `torch.linspace` uses it.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b; // exact: two 24-bit significands fit in 53 bits
  const s = p + c;
  // TwoSum: p + c === s + err exactly.
  const bv = s - p;
  const err = p - (s - bv) + (c - bv);
  const r = f32(s);
  if (err === 0 || r === s) return r;
  // Rounding s (already rounded once) to float32 is wrong only when s sits exactly on a float32 midpoint.
  const other = nextF32(r, s);
  const mid = (r + other) / 2;
  if (s !== mid) return r;
  const hi = Math.max(r, other);
  const lo = Math.min(r, other);
  return err > 0 ? hi : lo;
}

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)` on the CPU: both ends rounded to float32, the step
 * computed in float32, the first half counted up from `start` and the second half down from `end` (so the last
 * value is exactly `end`), each value one fused multiply-add.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 0) return out;
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? fmaF32(step, i, s) : fmaF32(-step, steps - i - 1, e);
  }
  return out;
}

/** `torch.cumprod` of a float32 vector on the CPU: the running product is kept in double, each output rounded. */
export function torchCumprodF32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) {
    acc *= values[i]!;
    out[i] = acc;
  }
  return out;
}

/** float32 `sqrt`. */
export function sqrtF32(x: number): number {
  return f32(Math.sqrt(x));
}

/** float32 `log` (see the module note on transcendentals). */
export function logF32(x: number): number {
  return f32(Math.log(x));
}

/** float32 `exp` (see the module note on transcendentals). */
export function expF32(x: number): number {
  return f32(Math.exp(x));
}

/**
 * torch's scalar `lerp(a, b, w)` in float32: `a + w·(b − a)` for small weights, `b − (b − a)·(1 − w)` otherwise,
 * each a fused multiply-add as the kernel is compiled.
 */
export function lerpF32(a: number, b: number, w: number): number {
  const diff = f32(b - a);
  return Math.abs(w) < 0.5 ? fmaF32(w, diff, a) : fmaF32(-diff, f32(1 - w), b);
}
