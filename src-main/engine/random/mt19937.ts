/**
 * The 32-bit Mersenne Twister exactly as PyTorch's CPU generator runs it (`at::mt19937`,
 * aten/src/ATen/core/MT19937RNGEngine.h): the standard MT19937 recurrence and tempering, seeded with
 * the classic `init_genrand` recurrence from the low 32 bits of the seed, plus torch's own bookkeeping
 * (`left`, `next`) kept verbatim so that a saved state means the same thing as torch's.
 *
 * All arithmetic is 32-bit integer math on a `Uint32Array`: no BigInt anywhere near the hot loop.
 */

/** Number of 32-bit words in the state. */
export const MT_STATE_WORDS = 624;
const SHIFT = 397; // MT19937's "M"
const MATRIX_A = 0x9908b0df;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;

/** 2^-24: scales a 24-bit integer into [0, 1) exactly (float32 has a 24-bit significand). */
const INV_2_24 = 1 / 16777216;

/** A plain copy of the engine's state (what `at::mt19937_data_pod` holds, minus the seed). */
export interface Mt19937Snapshot {
  /** The 624 state words. */
  readonly words: Uint32Array;
  /** torch's `left_`: calls remaining (plus one) before the state is regenerated; 1..624. */
  readonly left: number;
  /** torch's `next_`: index of the next word to temper; 0..624. */
  readonly next: number;
}

export class Mt19937 {
  private readonly words = new Uint32Array(MT_STATE_WORDS);
  private left = 1;
  private next = 0;

  /**
   * Seeds like `at::mt19937(seed)`: only the low 32 bits of the 64-bit seed reach the state (torch keeps the
   * full value separately as `initial_seed()`), so seeds that differ only above bit 31 give the same stream.
   * @param seedLow32 the seed's low 32 bits, as an unsigned 32-bit integer.
   */
  constructor(seedLow32: number) {
    const w = this.words;
    w[0] = seedLow32 >>> 0;
    for (let j = 1; j < MT_STATE_WORDS; j++) {
      const prev = w[j - 1]!;
      // Math.imul keeps the product mod 2^32, as the C++ uint32_t multiplication does.
      w[j] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + j) >>> 0;
    }
    // torch starts with left = 1 so that the very first draw regenerates the whole state.
    this.left = 1;
    this.next = 0;
  }

  /** Restores an engine from a snapshot (validated the way torch's `is_valid()` does). */
  static fromSnapshot(snapshot: Mt19937Snapshot): Mt19937 {
    const { words, left, next } = snapshot;
    if (words.length !== MT_STATE_WORDS) throw new RangeError(`mt19937 state needs ${MT_STATE_WORDS} words`);
    if (!Number.isInteger(left) || left < 1 || left > MT_STATE_WORDS) throw new RangeError('mt19937 left out of range');
    if (!Number.isInteger(next) || next < 0 || next > MT_STATE_WORDS) throw new RangeError('mt19937 next out of range');
    const engine = new Mt19937(0);
    engine.words.set(words);
    engine.left = left;
    engine.next = next;
    return engine;
  }

  /** A copy of the current state. */
  snapshot(): Mt19937Snapshot {
    return { words: this.words.slice(), left: this.left, next: this.next };
  }

  /** The next raw 32-bit output (torch's `random()`), as an unsigned integer 0..2^32−1. */
  nextUint32(): number {
    if (--this.left === 0) this.regenerate();
    let y = this.words[this.next++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * Writes `count` draws of `at::uniform_real_distribution<float>(0, 1)` into `out[start…start+count)`:
   * the low 24 bits of one 32-bit output times 2^-24, exact in float32. This is the first pass of torch's
   * `normal_fill`; it is the hot loop of `randn`, so the tempering is inlined and the fields are cached.
   */
  fillUniformFloat(out: Float32Array, start: number, count: number): void {
    const w = this.words;
    let left = this.left;
    let next = this.next;
    const end = start + count;
    for (let i = start; i < end; i++) {
      if (--left === 0) {
        this.regenerate();
        left = MT_STATE_WORDS;
        next = 0;
      }
      let y = w[next++]!;
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      out[i] = (y & 0xffffff) * INV_2_24;
    }
    this.left = left;
    this.next = next;
  }

  /** torch's `next_state()`: regenerates all 624 words and rewinds `next`. */
  private regenerate(): void {
    const w = this.words;
    let k = 0;
    // (x & 1 ? MATRIX_A : 0) written branch-free: -(x & 1) is all ones or zero.
    for (; k < MT_STATE_WORDS - SHIFT; k++) {
      const y = (w[k]! & UPPER) | (w[k + 1]! & LOWER);
      w[k] = w[k + SHIFT]! ^ (y >>> 1) ^ (-(w[k + 1]! & 1) & MATRIX_A);
    }
    for (; k < MT_STATE_WORDS - 1; k++) {
      const y = (w[k]! & UPPER) | (w[k + 1]! & LOWER);
      w[k] = w[k + SHIFT - MT_STATE_WORDS]! ^ (y >>> 1) ^ (-(w[k + 1]! & 1) & MATRIX_A);
    }
    const y = (w[k]! & UPPER) | (w[0]! & LOWER);
    w[k] = w[SHIFT - 1]! ^ (y >>> 1) ^ (-(w[0]! & 1) & MATRIX_A);
    this.left = MT_STATE_WORDS;
    this.next = 0;
  }
}
