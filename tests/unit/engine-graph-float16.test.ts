import { describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  bfloat16ToFloat32Array,
  convertArray,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  float16ToFloat32Array,
  float32ToFloat16Array,
} from '../../src-main/engine/graph';

/** All finite non-negative float16 values in increasing order (bit patterns 0…0x7bff are monotonic). */
const POSITIVE = Array.from({ length: 0x7c00 }, (_, h) => f16ToF32(h));

/**
 * Reference rounding, written independently of the converter: the nearest float16 by exhaustive
 * search over the sorted values, ties to the even bit pattern; past the largest finite value by
 * more than half an ulp (65520 and up) → Infinity.
 */
function referenceF16(v: number): number {
  const x = Math.fround(v);
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = POSITIVE.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - POSITIVE[lo]!;
  const dHi = POSITIVE[hi]! - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

describe('float16', () => {
  it('float16 → float32 → float16 is the identity on every bit pattern (NaNs stay NaN)', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) {
        expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0).toBe(true);
        expect(Number.isNaN(f16ToF32(f32ToF16(v)))).toBe(true);
      } else {
        expect(f32ToF16(v)).toBe(h);
      }
    }
  });

  it('decodes known values exactly', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('rounds to nearest, ties to even, at the edges', () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even (1.0)
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (upper)
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // tie at the top rounds to "even" = Infinity
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-1e10)).toBe(0xfc00);
    expect(f32ToF16(2 ** -25)).toBe(0); // half the smallest subnormal: tie → even (0)
    expect(f32ToF16(2 ** -25 * 1.0001)).toBe(1);
    expect(f32ToF16(3 * 2 ** -25)).toBe(2); // tie between 1 and 2 subnormal units → 2
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // tie at the subnormal/normal border → even (normal)
    expect(f32ToF16(1e-30)).toBe(0);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(NaN) & 0x7e00).toBe(0x7e00);
  });

  it('agrees with an exhaustive-search reference on 200k random and boundary float32 values', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    const values: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      // Random bit patterns biased to float16's range (exponents 100…150), both signs.
      const exp = 100 + Math.floor(rand() * 50);
      u[0] = ((rand() < 0.5 ? 1 : 0) << 31) | (exp << 23) | Math.floor(rand() * 2 ** 23);
      values.push(f[0]!);
    }
    // Exact midpoints between neighbouring float16 values, and their float32 neighbours.
    for (let h = 0; h < 0x7bff; h += 7) {
      const mid = (f16ToF32(h) + f16ToF32(h + 1)) / 2;
      values.push(mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -23)));
    }
    for (const v of values) expect(f32ToF16(v)).toBe(referenceF16(v));
  });

  it('converts arrays both ways', () => {
    const src = new Float32Array([0, 1, -2.5, 65504, 1e-7, 3.14159]);
    const bits = float32ToFloat16Array(src);
    expect(Array.from(bits)).toEqual(Array.from(src, (v) => f32ToF16(v)));
    expect(Array.from(float16ToFloat32Array(bits))).toEqual(Array.from(bits, (h) => f16ToF32(h)));
    expect(Array.from(convertArray(bits, 'float16', 'float32'))).toEqual(Array.from(float16ToFloat32Array(bits)));
  });

  it('bfloat16: round to nearest even, exact widening', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie → even (upper)
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(Number.isNaN(bf16ToF32(f32ToBf16(NaN)))).toBe(true);
    expect(f32ToBf16(3.4e38)).toBe(0x7f80); // rounds past the largest finite → Infinity
    const bits = new Uint16Array([0x3f80, 0xc000, 0x0001, 0x7f7f]);
    expect(Array.from(bfloat16ToFloat32Array(bits))).toEqual(Array.from(bits, (b) => bf16ToF32(b)));
    for (let b = 0; b < 0x10000; b += 3) {
      const v = bf16ToF32(b);
      if (!Number.isNaN(v)) expect(f32ToBf16(v)).toBe(b);
    }
  });
});
