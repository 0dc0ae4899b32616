/**
 * The trainer's data and loop features against their definitions: kohya's bucket resolutions and
 * resize/crop (values worked out by hand from kohya-ss `make_bucket_resolutions` / `select_bucket` /
 * `trim_and_resize_if_required`), transformers' `get_scheduler` schedules, kohya's min-SNR-γ weights,
 * the documented draw order of a step, kohya bucket batches, trigger words, and request checks.
 */
import { describe, expect, it } from 'vitest';
import { TorchGenerator } from '../../src-main/engine/random';
import {
  BucketBatchOrder,
  coverCrop,
  createLrSchedule,
  drawStepBatch,
  makeBucketResolutions,
  minSnrWeight,
  selectBucket,
  settingsFingerprint,
  validateTrainRequest,
  withTrigger,
  type TrainingData,
  type TrainingExample,
  type TrainRequest,
} from '../../src-main/engine/training';

describe('aspect-ratio buckets (kohya)', () => {
  it('512 px: kohya’s 17 buckets from 256 to 1024', () => {
    expect(makeBucketResolutions(512)).toEqual([
      [256, 832],
      [256, 896],
      [256, 960],
      [256, 1024],
      [320, 704],
      [320, 768],
      [384, 640],
      [448, 576],
      [512, 512],
      [576, 448],
      [640, 384],
      [704, 320],
      [768, 320],
      [832, 256],
      [896, 256],
      [960, 256],
      [1024, 256],
    ]);
    for (const [w, h] of makeBucketResolutions(1024)) {
      expect(w % 64 === 0 && h % 64 === 0 && w * h <= 1024 * 1024).toBe(true);
    }
  });

  it('nearest aspect ratio, the image’s own size when it is a bucket', () => {
    const buckets = makeBucketResolutions(512);
    expect(selectBucket(3000, 2000, buckets)).toEqual([640, 384]); // 1.5: |1.6667 − 1.5| beats |1.2857 − 1.5|
    expect(selectBucket(2000, 3000, buckets)).toEqual([384, 640]);
    expect(selectBucket(640, 384, buckets)).toEqual([640, 384]);
    expect(selectBucket(1000, 1000, buckets)).toEqual([512, 512]);
  });

  it('resize to cover (half up), center crop (floor)', () => {
    // 200×70 into 192×64: wider than the bucket (2.857 < 3 → width fits): scale 0.96 → 192 × 67.2+0.5 → 67.
    expect(coverCrop(200, 70, [192, 64])).toEqual({ resized: [192, 67], left: 0, top: 1 });
    // 3000×2000 into 640×384: 1.5 < 1.6667 → width fits: scale 0.21333 → 640 × 426.67+0.5 → 427, crop 21 top.
    expect(coverCrop(3000, 2000, [640, 384])).toEqual({ resized: [640, 427], left: 0, top: 21 });
    // 2000×3000 into 448×576: 0.6667 < 0.7778 → width fits: scale 0.224 → 448 × 672, crop 48 top.
    expect(coverCrop(2000, 3000, [448, 576])).toEqual({ resized: [448, 672], left: 0, top: 48 });
    // Wider than the bucket: height fits. 3000×1000 into 640×384: scale 0.384 → 1152 × 384, crop 256 left.
    expect(coverCrop(3000, 1000, [640, 384])).toEqual({ resized: [1152, 384], left: 256, top: 0 });
  });

  it('bucket batches never mix buckets; the last batch of a bucket may be smaller', () => {
    const buckets = [
      [64, 64],
      [128, 64],
      [64, 64],
      [64, 64],
      [128, 64],
    ] as const;
    const order = new BucketBatchOrder(buckets, 1, 2, true, new TorchGenerator(3n));
    const pass = [0, 1, 2].map((s) => order.batch(s));
    expect(pass.map((b) => b.length).sort()).toEqual([1, 2, 2]);
    for (const b of pass) expect(new Set(b.map((i) => buckets[i]!.join('x'))).size).toBe(1);
    expect(pass.flat().sort()).toEqual([0, 1, 2, 3, 4]);
    // A bucket's batches stay together: the shape changes once per bucket in a pass.
    const shapes = pass.map((b) => buckets[b[0]!]!.join('x'));
    expect(shapes.filter((s, i) => i === 0 || s !== shapes[i - 1]).length).toBe(2);
    const g = new TorchGenerator(3n);
    const bucketOrder = [0, 1];
    for (let i = 1; i > 0; i--) {
      const j = g.randint(0, i + 1, 1)[0]!;
      [bucketOrder[i], bucketOrder[j]] = [bucketOrder[j]!, bucketOrder[i]!];
    }
    expect(buckets[pass[0]![0]!]!.join('x')).toBe(['64x64', '128x64'][bucketOrder[0]!]);
    // A restored order (a checkpoint's passes, the generator after them) continues exactly.
    const full = new BucketBatchOrder(buckets, 2, 2, true, new TorchGenerator(9n));
    const expected = Array.from({ length: 12 }, (_, k) => full.batch(k));
    const gen = new TorchGenerator(9n);
    const first = new BucketBatchOrder(buckets, 2, 2, true, gen);
    for (let k = 0; k < 7; k++) first.batch(k);
    const resumed = new BucketBatchOrder(buckets, 2, 2, true, gen.clone());
    resumed.restore(JSON.parse(JSON.stringify(first.state())) as ReturnType<BucketBatchOrder['state']>);
    expect(Array.from({ length: 5 }, (_, k) => resumed.batch(7 + k))).toEqual(expected.slice(7));
    const plain = new BucketBatchOrder(buckets, 2, 2, false, new TorchGenerator(3n));
    expect([0, 1, 2, 3, 4].map((s) => plain.batch(s))).toEqual([
      [0, 0],
      [2, 2],
      [3, 3],
      [1, 1],
      [4, 4],
    ]);
  });
});

describe('learning-rate schedules (transformers get_scheduler)', () => {
  it('constant, constant with warm-up', () => {
    expect([0, 5, 99].map(createLrSchedule({ kind: 'constant', lr: 2, warmupSteps: 0, totalSteps: 100 }))).toEqual([
      2, 2, 2,
    ]);
    const w = createLrSchedule({ kind: 'constant', lr: 2, warmupSteps: 4, totalSteps: 100 });
    expect([0, 1, 2, 3, 4, 50].map(w)).toEqual([0, 0.5, 1, 1.5, 2, 2]);
  });

  it('cosine (num_cycles ½) after warm-up, 0 at the total', () => {
    const c = createLrSchedule({ kind: 'cosine', lr: 1, warmupSteps: 2, totalSteps: 10 });
    expect(c(0)).toBe(0);
    expect(c(1)).toBe(0.5);
    expect(c(2)).toBe(1);
    expect(c(6)).toBeCloseTo(0.5, 15); // progress ½: ½(1 + cos(π/2))
    expect(c(8)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.75)), 15);
    expect(c(10)).toBeCloseTo(0, 15);
    const plain = createLrSchedule({ kind: 'cosine', lr: 3, warmupSteps: 0, totalSteps: 4 });
    expect([0, 1, 2, 3].map(plain)).toEqual([
      3,
      3 * 0.5 * (1 + Math.cos(Math.PI / 4)),
      3 * 0.5,
      3 * 0.5 * (1 + Math.cos((3 * Math.PI) / 4)),
    ]);
  });
});

describe('one step’s draws and targets', () => {
  const per = 2 * 2 * 2;
  const example = (k: number): TrainingExample => ({
    file: `${k}.png`,
    caption: `c${k}`,
    bucket: [4, 4],
    latentDims: [2, 2, 2],
    latents: Float32Array.from({ length: per }, (_, i) => 0.1 * (i + k)),
    flipped: Float32Array.from({ length: per }, (_, i) => -0.1 * (i + k)),
    cond: Float32Array.of(k, k),
    pooled: Float32Array.of(10 + k),
    timeIds: [8, 8, 0, 0, 8, 8],
  });
  const data: TrainingData = {
    examples: [example(1), example(2)],
    latentDims: [2, 2, 2],
    condDims: [1, 2],
    pooledDim: 1,
    empty: { cond: Float32Array.of(0, 0), pooled: Float32Array.of(0) },
  };
  const ac = Float32Array.from({ length: 1000 }, (_, t) => 0.999 - t * 0.00099);

  it('features off: randn noise then randint timesteps, ε target (the reference loop)', () => {
    const g = new TorchGenerator(11n);
    const ref = g.clone();
    const batch = drawStepBatch(data, data.examples, g, ac, 'epsilon');
    const noise = ref.randn([2, 2, 2, 2]);
    const t = ref.randint(0, 1000, 2);
    expect(batch.timesteps).toEqual(t);
    expect([...batch.target]).toEqual([...noise]);
    const a = ac[t[0]!]!;
    expect(batch.sample[3]).toBeCloseTo(Math.sqrt(a) * data.examples[0]!.latents[3]! + Math.sqrt(1 - a) * noise[3]!, 6);
    expect(batch.lossWeights).toBeUndefined();
  });

  it('flip, dropout, noise offset, min-SNR, SDXL fields in the documented order', () => {
    const g = new TorchGenerator(12n);
    const ref = g.clone();
    const batch = drawStepBatch(data, data.examples, g, ac, 'v_prediction', {
      flip: true,
      captionDropout: 0.5,
      noiseOffset: 0.1,
      minSnrGamma: 5,
      sdxl: true,
    });
    const flips = ref.randint(0, 2, 2);
    const drops = ref.randint(0, 2 ** 24, 2).map((u) => u / 2 ** 24 < 0.5);
    const noise = ref.randn([2, 2, 2, 2]);
    const off = ref.randn([2, 2]);
    const t = ref.randint(0, 1000, 2);
    expect(batch.timesteps).toEqual(t);
    for (let j = 0; j < 2; j++) {
      const ex = data.examples[j]!;
      const x0 = flips[j] === 1 ? ex.flipped! : ex.latents;
      const a = ac[t[j]!]!;
      for (let i = 0; i < per; i++) {
        const eps = noise[j * per + i]! + 0.1 * off[j * 2 + Math.floor(i / 4)]!;
        expect(batch.target[j * per + i]).toBeCloseTo(Math.sqrt(a) * eps - Math.sqrt(1 - a) * x0[i]!, 5);
        expect(batch.sample[j * per + i]).toBeCloseTo(Math.sqrt(a) * x0[i]! + Math.sqrt(1 - a) * eps, 5);
      }
      expect([...batch.cond.subarray(j * 2, j * 2 + 2)]).toEqual(drops[j] ? [0, 0] : [j + 1, j + 1]);
      expect(batch.textEmbeds![j]).toBe(drops[j] ? 0 : 11 + j);
      const snr = a / (1 - a);
      expect(batch.lossWeights![j]).toBeCloseTo(Math.min(snr, 5) / (snr + 1), 6);
    }
    expect([...batch.timeIds!]).toEqual([8, 8, 0, 0, 8, 8, 8, 8, 0, 0, 8, 8]);
  });

  it('min-SNR-γ weight (kohya apply_snr_weight)', () => {
    expect(minSnrWeight(0.5, 5, 'epsilon')).toBe(1); // SNR 1 < γ
    expect(minSnrWeight(0.9, 5, 'epsilon')).toBeCloseTo(5 / 9, 12);
    expect(minSnrWeight(0.9, 5, 'v_prediction')).toBeCloseTo(5 / 10, 12);
  });
});

it('trigger word prepended once', () => {
  expect(withTrigger('a dog on grass', 'rex')).toBe('rex, a dog on grass');
  expect(withTrigger('rex, a dog', 'rex')).toBe('rex, a dog');
  expect(withTrigger('', 'rex')).toBe('rex');
  expect(withTrigger('a dog', undefined)).toBe('a dog');
});

describe('request checks', () => {
  const ok: TrainRequest = {
    model: '/m',
    images: '/i',
    out: '/o.safetensors',
    rank: 4,
    steps: 10,
    batch: 1,
    lr: 1e-4,
    optimizer: 'adamw',
    weightDecay: 0.01,
    maxGradNorm: 1,
    seed: 1n,
    resolution: 512,
    shuffle: true,
    repeats: 1,
    flip: false,
    captionDropout: 0,
    noiseOffset: 0,
    lrSchedule: 'constant',
    warmupSteps: 0,
    buckets: true,
    textEncoder: false,
    savePrecision: 'fp32',
    gradientCheckpointing: false,
    baseWeights: 'auto',
  };

  it.each([
    [{ items: [{ file: '/a.png', caption: '' }] }, /either an images folder or a list/],
    [{ images: undefined }, /either an images folder or a list/],
    [{ steps: 0 }, /steps/],
    [{ resolution: 520 }, /multiple of 64/],
    [{ repeats: 1.5 }, /repeats/],
    [{ captionDropout: 2 }, /caption dropout/],
    [{ noiseOffset: -1 }, /noise offset/],
    [{ minSnrGamma: 0 }, /gamma/],
    [{ warmupSteps: -1 }, /warm-up/],
    [{ saveEvery: 5 }, /checkpoint folder/],
    [{ resume: true }, /checkpoint folder/],
    [{ sampleEvery: 5 }, /sample prompt/],
  ] as [Partial<TrainRequest>, RegExp][])('refuses %j', (bad, message) => {
    expect(() => validateTrainRequest({ ...ok, ...bad })).toThrow(message);
  });

  it('accepts a complete request', () => {
    expect(() => validateTrainRequest(ok)).not.toThrow();
  });

  it('the resume fingerprint ignores where files go and the step count, not the training stream', () => {
    const base = settingsFingerprint(ok);
    expect(settingsFingerprint({ ...ok, out: '/x', steps: 99, checkpointDir: '/c', saveEvery: 3 })).toBe(base);
    expect(settingsFingerprint({ ...ok, seed: 2n })).not.toBe(base);
    expect(settingsFingerprint({ ...ok, flip: true })).not.toBe(base);
  });
});
