/**
 * IEEE 754 half precision (float16) and bfloat16 ↔ float32, exact: float32 → 16-bit rounds to
 * nearest with ties to even (as PyTorch, NumPy and CUDA do); 16-bit → float32 is exact. NaN
 * stays NaN (quiet), infinities and signed zeros are kept, overflow goes to ±Infinity and
 * float16 subnormals are produced and read.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value (any JS number, first rounded to float32) → float16 bit pattern. */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e > 0) {
    // Normal half: drop 13 mantissa bits; a carry out of the mantissa bumps the exponent,
    // which is also the right answer at the top (0x7bff + 1 = 0x7c00 = Infinity).
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  // Subnormal half: value = m · 2^-24, so shift the 24-bit significand by 126 − exp.
  const shift = 14 - e;
  if (shift > 24) return sign; // below half the smallest subnormal: rounds to zero
  const full = mant | 0x800000;
  let h = full >>> shift;
  const rem = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++;
  return sign | h;
}

/** float16 bit pattern → its exact value. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >>> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m !== 0 ? NaN : sign * Infinity;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** float32 value → bfloat16 bit pattern (round to nearest even). */
export function f32ToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bit pattern → its exact value. */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

let f16Table: Float32Array | undefined;

/** All 65536 float16 values, built once (256 KiB) so bulk conversion is a table lookup. */
function table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

/** float16 bits → float32 values. `out` (same length) may be given to avoid an allocation. */
export function float16ToFloat32Array(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const t = table();
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]!]!;
  return out;
}

/** float32 values → float16 bits (round to nearest even). */
export function float32ToFloat16Array(values: ArrayLike<number>, out = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  return out;
}

/** bfloat16 bits → float32 values (a shift: bfloat16 is the top half of a float32). */
export function bfloat16ToFloat32Array(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) o[i] = bits[i]! << 16;
  return out;
}

/** float32 values → bfloat16 bits (round to nearest even). */
export function float32ToBfloat16Array(values: ArrayLike<number>, out = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]!);
  return out;
}
