import { normalFill16Avx2, normalFill16Generic } from './float32-math';
import { MT_STATE_WORDS, Mt19937 } from './mt19937';

/**
 * Which of PyTorch's two float32 Box-Muller kernels `randn` reproduces for tensors of 16+ elements.
 * - `'avx2'` (default): `normal_fill_AVX2`, what every x86-64 PyTorch build runs (AVX-512 machines too).
 *   Bit-exact.
 * - `'generic'`: the portable `normal_fill`, what ARM builds (Apple Silicon, aarch64 Linux) and x86 CPUs
 *   without AVX2 run. It uses the platform libm, so it matches those machines to within an ulp or so.
 * The two differ by at most a few float32 ulps (≈1e-6). Tensors under 16 elements take the same path on
 * every machine.
 */
export type NormalKernel = 'avx2' | 'generic';

/** Options for `TorchGenerator`. */
export interface TorchGeneratorOptions {
  /** See `NormalKernel`; defaults to `'avx2'`. Not part of the saved state (it is a choice, not state). */
  readonly normalKernel?: NormalKernel;
}

/**
 * A serialisable snapshot of a `TorchGenerator` (plain JSON: numbers, strings, null). The same information
 * torch's `Generator.get_state()` holds, in readable form rather than torch's byte layout.
 */
export interface TorchGeneratorState {
  /** Tag so a stored state can be recognised. */
  readonly kind: 'torch-cpu-generator';
  /** Format version of this object. */
  readonly version: 1;
  /** The full 64-bit seed given to `manual_seed`, in decimal (torch's `initial_seed()`). */
  readonly seed: string;
  /** The 624 mt19937 state words, each an unsigned 32-bit integer. */
  readonly mt: readonly number[];
  /** mt19937 `left` (1…624). */
  readonly left: number;
  /** mt19937 `next` (0…624). */
  readonly next: number;
  /**
   * The second Box-Muller sample cached by the small-tensor path (`normal_distribution<double>`), or null.
   * It carries over to the next small draw, so it is part of the state.
   */
  readonly nextDoubleNormal: number | null;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_64 = 1n << 64n;
const INV_2_53 = 1 / 9007199254740992;
const TWO_PI = 2 * Math.PI;

/**
 * PyTorch's CPU random generator (`torch.Generator()` on the CPU): the same seed gives the same numbers as
 * diffusers or ComfyUI with a CPU generator, and successive calls continue the same stream, so a sampler
 * that draws noise at every step stays in lockstep with its Python counterpart.
 *
 * Algorithms follow aten/src/ATen/CPUGeneratorImpl.cpp, core/MT19937RNGEngine.h, core/DistributionsHelper.h,
 * core/TransformationHelper.h and native/cpu/DistributionTemplates.h.
 */
export class TorchGenerator {
  private engine: Mt19937;
  private seedValue: bigint;
  private cachedNormal: number | null = null;
  private readonly fill16: (data: Float32Array, offset: number) => void;
  private readonly kernel: NormalKernel;

  /**
   * `torch.Generator().manual_seed(seed)`.
   * @param seed any integer torch accepts: 0…2^64−1, or a negative value ≥ −2^63, which torch reinterprets as
   *   its two's-complement uint64 (as `manual_seed(-1)` does). Pass a BigInt parsed from the user's text, never
   *   a float: seeds above 2^53 would lose bits. Only the low 32 bits drive the stream (torch seeds mt19937
   *   from them), but the whole value is kept as `initialSeed`.
   * @throws RangeError outside that range; TypeError if `seed` is not a bigint.
   */
  constructor(seed: bigint, options: TorchGeneratorOptions = {}) {
    if (typeof seed !== 'bigint') throw new TypeError('TorchGenerator seed must be a bigint');
    if (seed >= TWO_POW_64 || seed < -(1n << 63n)) {
      throw new RangeError(`seed ${seed} is outside torch's range [-2^63, 2^64)`);
    }
    this.seedValue = BigInt.asUintN(64, seed);
    this.engine = new Mt19937(Number(this.seedValue & 0xffffffffn));
    this.kernel = options.normalKernel ?? 'avx2';
    this.fill16 = this.kernel === 'generic' ? normalFill16Generic : normalFill16Avx2;
  }

  /** A generator restored from `getState()` output (see `setState`). */
  static fromState(state: TorchGeneratorState, options: TorchGeneratorOptions = {}): TorchGenerator {
    const generator = new TorchGenerator(0n, options);
    generator.setState(state);
    return generator;
  }

  /** The 64-bit seed this generator was seeded with (torch's `initial_seed()`), 0…2^64−1. */
  get initialSeed(): bigint {
    return this.seedValue;
  }

  /**
   * `torch.randn(shape, generator=g, dtype=torch.float32)` on the CPU: standard normal float32 values in
   * row-major (C-contiguous) order, `shape.reduce(×)` of them. Advances the generator as torch does.
   *
   * Two different algorithms, as in torch, chosen by the element count n:
   * - n ≥ 16: n uniforms first, then Box-Muller in blocks of 16 (lanes j and j+8 share one pair). If n is not a
   *   multiple of 16, 16 fresh uniforms are drawn and the last 16 elements are recomputed from them, which
   *   overwrites (n mod 16) values of the last full block. Consumes n (+16) 32-bit draws.
   * - n < 16: one `normal_distribution<double>` sample per element, each pair of samples from two 53-bit
   *   uniforms (two 32-bit draws each); the unused second sample of a pair is cached in the generator and
   *   returned by the next small draw, even one in a later call.
   * So randn([2, 3]) twice equals randn([12]) (both under 16), but randn([8]) twice does not equal randn([16]).
   *
   * @param shape tensor dimensions, each a non-negative integer; [] is a scalar (one element).
   * @returns a new Float32Array of the tensor's elements.
   */
  randn(shape: readonly number[]): Float32Array {
    const n = numel(shape);
    const out = new Float32Array(n);
    if (n >= 16) {
      this.engine.fillUniformFloat(out, 0, n);
      for (let i = 0; i + 16 <= n; i += 16) this.fill16(out, i);
      if (n % 16 !== 0) {
        this.engine.fillUniformFloat(out, n - 16, 16);
        this.fill16(out, n - 16);
      }
    } else {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
    }
    return out;
  }

  /**
   * `torch.randint(low, high, (count,), generator=g)` (int64): `count` integers uniform in [low, high).
   * As torch does, each element is one draw taken modulo the range (so it is very slightly biased toward small
   * offsets): one 32-bit draw when high − low < 2^32, one 64-bit draw (two 32-bit draws, first one high)
   * otherwise.
   * @param low inclusive lower bound, a safe integer.
   * @param high exclusive upper bound, a safe integer greater than `low`.
   * @param count number of elements, a non-negative integer.
   */
  randint(low: number, high: number, count: number): number[] {
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high)) {
      throw new RangeError('randint bounds must be safe integers');
    }
    if (!(high > low)) throw new RangeError(`randint expects low < high, got [${low}, ${high})`);
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError('randint count must be a non-negative integer');
    // Exact whenever the true range is below 2^32 (an integer result that fits is computed exactly), and
    // otherwise still ≥ 2^32, so the branch is right; the wide branch redoes the subtraction in BigInt.
    const range = high - low;
    const out = new Array<number>(count);
    if (range < TWO_POW_32) {
      for (let i = 0; i < count; i++) out[i] = (this.engine.nextUint32() % range) + low;
    } else {
      // Rare (ranges of 2^32 and more): exact 64-bit modulo with BigInt.
      const bigRange = BigInt(high) - BigInt(low);
      const bigLow = BigInt(low);
      for (let i = 0; i < count; i++) {
        const hi = BigInt(this.engine.nextUint32());
        const lo = BigInt(this.engine.nextUint32());
        out[i] = Number((((hi << 32n) | lo) % bigRange) + bigLow);
      }
    }
    return out;
  }

  /** A snapshot to store with a job; `setState` (or `TorchGenerator.fromState`) resumes from it exactly. */
  getState(): TorchGeneratorState {
    const { words, left, next } = this.engine.snapshot();
    return {
      kind: 'torch-cpu-generator',
      version: 1,
      seed: this.seedValue.toString(),
      mt: Array.from(words),
      left,
      next,
      nextDoubleNormal: this.cachedNormal,
    };
  }

  /**
   * Restores a state from `getState()` (possibly after a JSON round trip).
   * @throws TypeError / RangeError if the object is not a valid state; the generator is unchanged then.
   */
  setState(state: TorchGeneratorState): void {
    if (state.kind !== 'torch-cpu-generator' || state.version !== 1) {
      throw new TypeError('not a TorchGenerator state (kind/version)');
    }
    if (typeof state.seed !== 'string' || !/^\d+$/.test(state.seed)) throw new TypeError('state.seed must be digits');
    const seed = BigInt(state.seed);
    if (seed >= TWO_POW_64) throw new RangeError('state.seed is not a uint64');
    if (!Array.isArray(state.mt) || state.mt.length !== MT_STATE_WORDS) {
      throw new RangeError(`state.mt must hold ${MT_STATE_WORDS} words`);
    }
    const words = new Uint32Array(MT_STATE_WORDS);
    for (let i = 0; i < MT_STATE_WORDS; i++) {
      const word: unknown = state.mt[i];
      if (typeof word !== 'number' || !Number.isInteger(word) || word < 0 || word >= TWO_POW_32) {
        throw new RangeError(`state.mt[${i}] is not a uint32`);
      }
      words[i] = word;
    }
    const cached = state.nextDoubleNormal;
    if (cached !== null && !(typeof cached === 'number' && Number.isFinite(cached))) {
      throw new TypeError('state.nextDoubleNormal must be a finite number or null');
    }
    this.engine = Mt19937.fromSnapshot({ words, left: state.left, next: state.next });
    this.seedValue = seed;
    this.cachedNormal = cached;
  }

  /** An independent copy with the same state and kernel (torch's `Generator.clone_state()`). */
  clone(): TorchGenerator {
    return TorchGenerator.fromState(this.getState(), { normalKernel: this.kernel });
  }

  /**
   * One `at::normal_distribution<double>(0, 1)` sample: the cached one if present, else a fresh Box-Muller
   * pair from two 53-bit uniforms u1, u2: r = √(−2·log1p(−u2)), θ = 2π·u1; returns r·cos θ, caches r·sin θ.
   * (The `+ 0` mirrors torch's `val * std + mean` with std 1, mean 0, which turns −0 into +0.)
   */
  private normalDouble(): number {
    const cached = this.cachedNormal;
    if (cached !== null) {
      this.cachedNormal = null;
      return cached + 0;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = TWO_PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta) + 0;
  }

  /**
   * `uniform_real_distribution<double>(0, 1)`: the low 53 bits of `random64()` times 2^-53. torch builds
   * random64 as (first draw << 32) | second draw, so the 53 bits are the first draw's low 21 bits over the
   * second draw's 32, which fits a double exactly without BigInt.
   */
  private uniformDouble(): number {
    const hi = this.engine.nextUint32();
    const lo = this.engine.nextUint32();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) * INV_2_53;
  }
}

/** Element count of a shape, validating that every dimension is a non-negative integer. */
function numel(shape: readonly number[]): number {
  let n = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0)
      throw new RangeError(`invalid dimension ${dim} in shape [${shape.join(', ')}]`);
    n *= dim;
  }
  if (!Number.isSafeInteger(n)) throw new RangeError(`shape [${shape.join(', ')}] has too many elements`);
  return n;
}
