/**
 * Which examples each optimizer step trains on. Permutations are drawn from the run's generator when a
 * pass over the data first needs one (right before that step's other draws), Fisher–Yates from the end
 * with one `randint(0, i + 1)` per position; the drawn passes are the state a checkpoint keeps.
 *
 * - `SampleOrder` (buckets off): the reference loop's order. A pass is every example `repeats` times in a
 *   row, in file-name order or shuffled; step k takes samples kB … kB + B − 1 of the endless sequence of
 *   passes (a batch may span two passes, as the reference loop's `(step·B + j) mod N`).
 * - `BucketBatchOrder` (buckets on), after kohya's `BucketManager`/`BucketBatchIndex`: per pass, each
 *   bucket's samples (examples × repeats; shuffled per bucket with shuffling on) are cut into batches of
 *   B, the last one smaller when the bucket does not divide, so a batch never mixes buckets. kohya then
 *   shuffles the list of all batches across buckets; we shuffle the order of the buckets instead and
 *   keep each bucket's batches together, because our training graphs have static shapes (one compiled
 *   session per batch shape): a pass switches shape at most twice per bucket rather than at almost
 *   every step, and only one session needs to be alive. Draws per pass: the bucket order, then each
 *   bucket's sample permutation in that order.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type TorchGenerator } from '../random';
import { type Bucket } from './buckets';

export type BatchOrderState = { passes: number[][][] };

export interface BatchOrder {
  /** Draws what step `step` needs (permutations of new passes). */
  prepare(step: number): void;
  /** The example indices of step `step` (after `prepare`). */
  batch(step: number): number[];
  /** Passes drawn so far (for checkpoints). */
  state(): BatchOrderState;
  restore(state: BatchOrderState): void;
}

function permute<T>(items: T[], g: TorchGenerator): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = g.randint(0, i + 1, 1)[0]!;
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function checkState(state: BatchOrderState): void {
  if (!Array.isArray(state.passes))
    throw new PinholeError('INVALID_PARAMS', 'checkpoint: batch order state is damaged');
}

export class SampleOrder implements BatchOrder {
  private passes: number[][] = [];
  private readonly base: number[];

  constructor(
    examples: number,
    repeats: number,
    private readonly batchSize: number,
    private readonly shuffle: boolean,
    private readonly g: TorchGenerator,
  ) {
    this.base = Array.from({ length: examples * repeats }, (_, i) => Math.floor(i / repeats));
  }

  prepare(step: number): void {
    if (!this.shuffle) return;
    const last = (step + 1) * this.batchSize - 1;
    while (this.passes.length <= Math.floor(last / this.base.length)) this.passes.push(permute([...this.base], this.g));
  }

  batch(step: number): number[] {
    this.prepare(step);
    const n = this.base.length;
    return Array.from({ length: this.batchSize }, (_, j) => {
      const i = step * this.batchSize + j;
      return this.shuffle ? this.passes[Math.floor(i / n)]![i % n]! : this.base[i % n]!;
    });
  }

  state(): BatchOrderState {
    return { passes: this.passes.map((p) => [p]) };
  }

  restore(state: BatchOrderState): void {
    checkState(state);
    this.passes = state.passes.map((p) => [...p[0]!]);
  }
}

export class BucketBatchOrder implements BatchOrder {
  private passes: number[][][] = [];
  private readonly perBucket: number[][];
  private readonly batchesPerPass: number;

  constructor(
    buckets: readonly Bucket[],
    repeats: number,
    private readonly batchSize: number,
    private readonly shuffle: boolean,
    private readonly g: TorchGenerator,
  ) {
    const keys = [...new Set(buckets.map(([w, h]) => w * 100_000 + h))].sort((a, b) => a - b);
    this.perBucket = keys.map((key) =>
      buckets.flatMap(([w, h], i) => (w * 100_000 + h === key ? new Array<number>(repeats).fill(i) : [])),
    );
    this.batchesPerPass = this.perBucket.reduce((s, b) => s + Math.ceil(b.length / batchSize), 0);
  }

  prepare(step: number): void {
    while (this.passes.length <= Math.floor(step / this.batchesPerPass)) {
      const buckets = this.perBucket.map((_, i) => i);
      if (this.shuffle) permute(buckets, this.g);
      const batches: number[][] = [];
      for (const b of buckets) {
        const samples = this.shuffle ? permute([...this.perBucket[b]!], this.g) : this.perBucket[b]!;
        for (let i = 0; i < samples.length; i += this.batchSize) batches.push(samples.slice(i, i + this.batchSize));
      }
      this.passes.push(batches);
    }
  }

  batch(step: number): number[] {
    this.prepare(step);
    return [...this.passes[Math.floor(step / this.batchesPerPass)]![step % this.batchesPerPass]!];
  }

  state(): BatchOrderState {
    return { passes: this.passes };
  }

  restore(state: BatchOrderState): void {
    checkState(state);
    this.passes = state.passes.map((p) => p.map((b) => [...b]));
  }
}
