/**
 * Bit-exact float32 emulation of the math PyTorch's CPU `randn` uses for float32 tensors of 16 or more
 * elements on x86-64: `normal_fill_16_AVX2` (aten/src/ATen/native/cpu/DistributionTemplates.h) with the
 * Cephes-style `log256_ps` and `sincos256_ps` of aten/src/ATen/native/cpu/avx_mathfun.h. Those are
 * polynomial approximations, not the correctly rounded log/sin/cos, so `Math.log` & co. land an ulp off in
 * about a third of the outputs; to reproduce torch's noise to the bit we replay the same operations in the
 * same order, rounding each to float32 with `Math.fround`.
 *
 * Every float32 add, subtract, multiply and sqrt done in double and then rounded to float32 is correctly
 * rounded (double has more than 2·24+2 bits, so double rounding is harmless for these operations).
 * Fused multiply-adds are not: see `fmaf`.
 *
 * About the FMAs: avx_mathfun.h itself calls only separate `_mm256_mul_ps`/`_mm256_add_ps`, but PyTorch
 * compiles its AVX2 kernels with `-mfma` under GCC, whose default `-ffp-contract=fast` fuses a multiply
 * into the add or subtract that consumes it. Which multiply gets fused where two feed the same add is
 * GCC's choice; the choices below (the multiply that comes first is fused) were settled by matching
 * PyTorch's x86-64 output bit for bit on every reference we have (tests/unit/engine-random.test.ts): with
 * no fusion about 1 value in 100 is an ulp off, with other fusion choices a few in 10,000.
 *
 * x86 machines with AVX-512 still run this AVX2 kernel (torch registers `normal_stub` with no AVX-512
 * variant), so this is what every x86-64 PyTorch user gets. ARM builds (Apple Silicon) and x86 without
 * AVX2 run the portable `normal_fill_16` with the platform's libm instead: `normalFill16Generic`.
 */

const f = Math.fround;

/**
 * Correctly rounded float32 fused multiply-add `a·b + c` of float32 inputs (what `vfmadd` computes).
 * The product of two float32 is exact in double; the sum is rounded once to double and then to float32.
 * That second rounding is wrong only when the double sum lands exactly on a float32 halfway point while the
 * exact sum was not there, so we detect that case and break the tie with the addition's exact error.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f(s);
  if (r === s) return r;
  const d = s - r; // exact: s and r are within one float32 ulp of each other
  const other = r + 2 * d; // the float32 neighbour on s's side iff s is a halfway point
  if (f(other) !== other) return r;
  // Halfway: Knuth's TwoSum gives the exact residual of p + c, whose sign says which side was meant.
  const t = s - p;
  const err = p - (s - t) + (c - t);
  if (err === 0) return r; // a genuine tie: ties-to-even, as f() already did
  return err > 0 === d > 0 ? other : r;
}

// ---- log256_ps ---------------------------------------------------------------------------------------

const SQRT_HALF = f(0.7071067811865476); // cephes_SQRTHF, 0.707106781186547524 as a double
const LOG_P0 = f(7.0376836292e-2);
const LOG_P1 = f(-1.151461031e-1);
const LOG_P2 = f(1.167699874e-1);
const LOG_P3 = f(-1.2420140846e-1);
const LOG_P4 = f(1.4249322787e-1);
const LOG_P5 = f(-1.6668057665e-1);
const LOG_P6 = f(2.0000714765e-1);
const LOG_P7 = f(-2.4999993993e-1);
const LOG_P8 = f(3.3333331174e-1);
const LOG_Q1 = f(-2.1219444e-4);
const LOG_Q2 = f(0.693359375);
const MIN_NORMAL = 1.1754943508222875e-38; // 2^-126, the smallest normal float32

// One float32 and its bit pattern, sharing memory (same element, so byte order does not matter).
const floatBox = new Float32Array(1);
const bitsBox = new Uint32Array(floatBox.buffer);

/**
 * One lane of `log256_ps` (natural log, float32 in, float32 out), with GCC's FMA contraction, for x > 0.
 * Splits x into mantissa m ∈ [√½, √2) and exponent e, then ln x ≈ (m−1) + P(m−1) + e·ln 2, with ln 2 in
 * two parts (Q2 + Q1) so that e·Q2 is exact.
 */
export function log256Lane(input: number): number {
  if (!(input > 0)) return NaN; // the kernel ORs an all-ones mask into lanes with x <= 0 (randn never has any)
  let x = input < MIN_NORMAL ? MIN_NORMAL : input; // denormals are clamped, as the kernel does
  floatBox[0] = x;
  const raw = bitsBox[0]!;
  // Exponent field minus the bias, then replace the exponent with that of 0.5: x ∈ [0.5, 1).
  let e = (raw >>> 23) - 0x7f + 1;
  bitsBox[0] = (raw & ~0x7f800000) | 0x3f000000;
  x = floatBox[0]!;
  if (x < SQRT_HALF) {
    e -= 1;
    x = f(f(x - 1) + x); // x + x − 1, in the kernel's order
  } else {
    x = f(x - 1);
  }
  const z = f(x * x);
  let y = fmaf(LOG_P0, x, LOG_P1);
  y = fmaf(y, x, LOG_P2);
  y = fmaf(y, x, LOG_P3);
  y = fmaf(y, x, LOG_P4);
  y = fmaf(y, x, LOG_P5);
  y = fmaf(y, x, LOG_P6);
  y = fmaf(y, x, LOG_P7);
  y = fmaf(y, x, LOG_P8);
  y = f(y * x);
  // Both y·z and e·Q1 feed this add; GCC fuses the first one (y·z) and rounds e·Q1 on its own.
  y = fmaf(y, z, f(e * LOG_Q1));
  y = f(y - z * 0.5); // z·0.5 is exact, so fused or not makes no difference
  return fmaf(e, LOG_Q2, f(x + y));
}

// ---- sincos256_ps ------------------------------------------------------------------------------------

const FOUR_OVER_PI = f(1.27323954473516);
const DP1 = f(-0.78515625);
const DP2 = f(-2.4187564849853515625e-4);
const DP3 = f(-3.774894977445941e-8); // -3.77489497744594108e-8 as a double
const SIN_P0 = f(-1.9515295891e-4);
const SIN_P1 = f(8.3321608736e-3);
const SIN_P2 = f(-1.6666654611e-1);
const COS_P0 = f(2.443315711809948e-5);
const COS_P1 = f(-1.388731625493765e-3);
const COS_P2 = f(4.166664568298827e-2);

/** Output slots of `sincos256Lane`: [sin, cos]. Reused to keep the hot loop allocation-free. */
export const sincosOut = new Float64Array(2);

/**
 * One lane of `sincos256_ps` for a finite float32 argument of moderate size (|x| < 2^31; randn only
 * passes [0, 2π)), with GCC's FMA contraction. Writes sin to `sincosOut[0]` and cos to `sincosOut[1]`.
 * Reduces by the octant j (rounded up to even) with π/4 split in three parts, then evaluates the Cephes
 * sine and cosine polynomials and picks/negates them by octant.
 */
export function sincos256Lane(input: number): void {
  const negative = input < 0 || Object.is(input, -0);
  let x = Math.abs(input);
  // Truncation toward zero, like cvttps2dq; then j = (j + 1) & ~1.
  let j = Math.trunc(f(x * FOUR_OVER_PI)) | 0;
  j = (j + 1) & ~1;
  const y = j; // exact in float32 for |j| < 2^24
  const flipSin = ((j & 4) !== 0) !== negative;
  const flipCos = (~(j - 2) & 4) !== 0;
  const sinFromSinPoly = (j & 2) === 0;
  // x − j·π/4 in three steps ("extended precision modular arithmetic"), each a fused multiply-add.
  x = fmaf(y, DP1, x);
  x = fmaf(y, DP2, x);
  x = fmaf(y, DP3, x);
  const z = f(x * x);
  let c = fmaf(COS_P0, z, COS_P1);
  c = fmaf(c, z, COS_P2);
  c = f(c * z);
  // c·z and z·0.5 both feed this subtraction; GCC fuses c·z (z·0.5 is exact either way).
  c = fmaf(c, z, -(z * 0.5));
  c = f(c + 1);
  let s = fmaf(SIN_P0, z, SIN_P1);
  s = fmaf(s, z, SIN_P2);
  s = f(s * z);
  s = fmaf(s, x, x);
  // The kernel blends the two polynomials with masks and adds: a +0 lands on the chosen value, which turns
  // a −0 into +0 before the sign flip. `+ 0` reproduces that.
  const sinAbs = sinFromSinPoly ? s + 0 : c + 0;
  const cosAbs = sinFromSinPoly ? c + 0 : s + 0;
  sincosOut[0] = flipSin ? -sinAbs : sinAbs;
  sincosOut[1] = flipCos ? -cosAbs : cosAbs;
}

// ---- Box-Muller over 16 uniforms ---------------------------------------------------------------------

const TWO_PI_F32 = f(2 * Math.PI); // _mm256_set1_ps(2.0f * c10::pi<double>)
const TWO_PI = 2 * Math.PI; // the portable kernel multiplies in double: 2.0f * c10::pi<double> * u2

/**
 * `normal_fill_16_AVX2` with mean 0, std 1: turns 16 uniforms in [0, 1) at `data[offset…offset+16)` into
 * 16 standard normals in place. Lane j pairs u1 = 1 − data[j] (so log sees (0, 1]) with u2 = data[j+8]:
 * data[j] = √(−2 ln u1)·cos(2π u2), data[j+8] = √(−2 ln u1)·sin(2π u2).
 */
export function normalFill16Avx2(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - data[offset + j]!);
    const u2 = data[offset + j + 8]!;
    const radius = f(Math.sqrt(-2 * log256Lane(u1))); // −2·log is exact in float32
    sincos256Lane(f(TWO_PI_F32 * u2));
    // The kernel's final fmadd(n, std, mean) with std 1 and mean 0 is n + 0: exact, except −0 → +0.
    data[offset + j] = f(radius * sincosOut[1]!) + 0;
    data[offset + j + 8] = f(radius * sincosOut[0]!) + 0;
  }
}

/**
 * The portable `normal_fill_16` (no AVX2: ARM builds such as Apple Silicon, or x86 builds without AVX2),
 * mean 0, std 1. It calls the platform's float `log`, `cos`, `sin`; we use correctly rounded ones (double
 * `Math` functions rounded to float32), which agree with a good libm to the last bit or within one ulp.
 */
export function normalFill16Generic(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - data[offset + j]!);
    const u2 = data[offset + j + 8]!;
    const radius = f(Math.sqrt(-2 * f(Math.log(u1))));
    const theta = f(TWO_PI * u2);
    data[offset + j] = f(radius * f(Math.cos(theta))) + 0;
    data[offset + j + 8] = f(radius * f(Math.sin(theta))) + 0;
  }
}
