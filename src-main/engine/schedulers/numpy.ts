/**
 * The few NumPy routines diffusers' `set_timesteps` runs, reproduced to the bit: NumPy computes them in float64,
 * and their exact rounding (ties to even, `arange`'s delta, `linspace`'s pinned end point) decides integer
 * timesteps.
 */

/** `np.round` / `np.rint`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds halves up; step back when that lands on an odd integer from an exact half.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `np.linspace(start, stop, num, endpoint)` in float64: `i × step + start`, with the last value pinned to `stop`
 * when `endpoint` is true. `num = 1` gives `[start]`.
 */
export function npLinspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const delta = stop - start;
  if (div > 0) {
    const step = delta / div;
    for (let i = 0; i < num; i++) out[i] = step === 0 ? (i / div) * delta + start : i * step + start;
  } else {
    for (let i = 0; i < num; i++) out[i] = i * delta + start;
  }
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `np.arange(start, stop, step)` in float64: `ceil((stop − start) / step)` values, the second one `start + step`
 * and the rest `start + i × delta` where `delta` is the difference of the first two (NumPy's fill rule, which can
 * differ from `start + i × step` in the last bits).
 */
export function npArange(start: number, stop: number, step: number): Float64Array {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(length);
  if (length === 0) return out;
  out[0] = start;
  if (length === 1) return out;
  out[1] = start + step;
  const delta = out[1] - out[0];
  for (let i = 2; i < length; i++) out[i] = start + i * delta;
  return out;
}

/**
 * `np.interp(x, arange(fp.length), fp)`: piecewise-linear interpolation over integer abscissae, in float64.
 * Out-of-range points take the end values; a point on a knot takes that knot's value exactly.
 */
export function npInterpIndex(x: ArrayLike<number>, fp: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  const n = fp.length;
  for (let i = 0; i < x.length; i++) {
    const xv = x[i]!;
    if (Number.isNaN(xv)) {
      out[i] = xv;
      continue;
    }
    if (xv < 0) {
      out[i] = fp[0]!;
      continue;
    }
    if (xv >= n - 1) {
      out[i] = fp[n - 1]!;
      continue;
    }
    const j = Math.floor(xv);
    if (j === xv) {
      out[i] = fp[j]!;
      continue;
    }
    // xp[j + 1] − xp[j] is 1, so the slope is the plain difference.
    const slope = fp[j + 1]! - fp[j]!;
    out[i] = slope * (xv - j) + fp[j]!;
  }
  return out;
}
