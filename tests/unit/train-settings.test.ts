import { describe, expect, it } from 'vitest';
import { resolveTrainSettings, TRAIN_PRESETS, TrainParams } from '../../src-shared/api';
import { parseTrainArgs } from '../../src-main/cli/commands/train';
import { PinholeError } from '../../src-shared/errors';

const base = { model: '/m', images: '/i' };

describe('training settings: explicit › preset › defaults', () => {
  it('without a preset follows CONTRACTS.md (constant lr, no warm-up, no extras, UNet only, shuffled)', () => {
    const s = resolveTrainSettings(base);
    expect(s).toMatchObject({
      rank: 4,
      alpha: undefined,
      steps: 1000,
      batch: 1,
      lr: 1e-4,
      optimizer: 'adamw',
      weightDecay: 0.01,
      lrSchedule: 'constant',
      warmupSteps: 0,
      maxGradNorm: 1,
      resolution: 512,
      shuffle: true,
      flip: false,
      captionDropout: 0,
      noiseOffset: 0,
      minSnrGamma: undefined,
      textEncoder: false,
      convRank: undefined,
      savePrecision: 'fp32',
      buckets: false,
      repeats: 1,
    });
    expect(resolveTrainSettings({ ...base, optimizer: 'sgd' }).weightDecay).toBe(0);
  });

  it('applies a preset, and every explicit field wins over it', () => {
    const sdxl = resolveTrainSettings({ ...base, preset: 'sdxl' });
    expect(sdxl).toMatchObject({ ...TRAIN_PRESETS.sdxl.values, optimizer: 'adamw', shuffle: true });
    expect(sdxl.flip).toBe(false);
    const over = resolveTrainSettings({
      ...base,
      preset: 'sdxl',
      steps: 4,
      resolution: 64,
      flip: true,
      buckets: false,
      lrSchedule: 'constant',
      warmupSteps: 0,
      minSnrGamma: 1,
      noiseOffset: 0,
    });
    expect(over).toMatchObject({
      steps: 4,
      resolution: 64,
      flip: true,
      buckets: false,
      lrSchedule: 'constant',
      warmupSteps: 0,
      minSnrGamma: 1,
      noiseOffset: 0,
      rank: 32,
      alpha: 16,
    });
  });

  it("keeps a preset's alpha with its rank, but not with an overridden rank", () => {
    expect(resolveTrainSettings({ ...base, preset: 'sd1' })).toMatchObject({ rank: 16, alpha: 8 });
    expect(resolveTrainSettings({ ...base, preset: 'sd1', rank: 4 })).toMatchObject({ rank: 4, alpha: undefined });
    expect(resolveTrainSettings({ ...base, preset: 'sd1', rank: 4, alpha: 2 })).toMatchObject({ rank: 4, alpha: 2 });
  });

  it('refuses both or neither data source, sampling without prompts; SGD takes weight decay (L2, as torch)', () => {
    expect(TrainParams.safeParse({ model: '/m', out: '/o' }).success).toBe(false);
    expect(TrainParams.safeParse({ ...base, dataset: 'Rex' }).success).toBe(false);
    expect(TrainParams.safeParse({ model: '/m', dataset: 'Rex' }).success).toBe(true);
    expect(TrainParams.safeParse({ ...base, sampleEvery: 2 }).success).toBe(false);
    expect(TrainParams.safeParse({ ...base, sampleEvery: 2, samplePrompts: ['a'] }).success).toBe(true);
    expect(TrainParams.safeParse({ ...base, optimizer: 'sgd', weightDecay: 0.1 }).success).toBe(true);
    expect(resolveTrainSettings({ ...base, optimizer: 'sgd', weightDecay: 0.1 }).weightDecay).toBe(0.1);
  });
});

describe('pinhole train arguments', () => {
  it('maps every flag onto TrainParams', () => {
    const p = parseTrainArgs(
      [
        '--model=/m',
        '--dataset=Rex',
        '--out=/o/rex.safetensors',
        '--preset=sd1',
        '--rank=8',
        '--alpha=4',
        '--steps=12',
        '--batch=2',
        '--lr=5e-5',
        '--optimizer=adamw',
        '--weight-decay=0.1',
        '--lr-schedule=cosine',
        '--warmup=3',
        '--max-grad-norm=0',
        '--seed=18446744073709551615',
        '--resolution=64',
        '--no-buckets',
        '--no-shuffle',
        '--repeats=3',
        '--flip',
        '--caption-dropout=0.1',
        '--trigger=rexdog',
        '--noise-offset=0.05',
        '--min-snr-gamma=5',
        '--text-encoder',
        '--text-encoder-lr=1e-5',
        '--conv-rank=4',
        '--conv-alpha=2',
        '--init-lora=/l.safetensors',
        '--sample-every=2',
        '--sample-prompt=a photo of rexdog',
        '--sample-prompt=rexdog on a beach',
        '--sample-steps=4',
        '--save-every=5',
        '--resume',
        '--save-precision=bf16',
        '--gradient-checkpointing',
      ].flatMap((a) => a.split(/=(.*)/s, 2)),
    );
    expect(p).toEqual({
      model: '/m',
      dataset: 'Rex',
      out: '/o/rex.safetensors',
      preset: 'sd1',
      rank: 8,
      alpha: 4,
      steps: 12,
      batch: 2,
      lr: 5e-5,
      optimizer: 'adamw',
      weightDecay: 0.1,
      lrSchedule: 'cosine',
      warmupSteps: 3,
      maxGradNorm: 0,
      seed: '18446744073709551615',
      resolution: 64,
      buckets: false,
      shuffle: false,
      repeats: 3,
      flip: true,
      captionDropout: 0.1,
      trigger: 'rexdog',
      noiseOffset: 0.05,
      minSnrGamma: 5,
      textEncoder: true,
      textEncoderLr: 1e-5,
      convRank: 4,
      convAlpha: 2,
      initLora: '/l.safetensors',
      sampleEvery: 2,
      samplePrompts: ['a photo of rexdog', 'rexdog on a beach'],
      sampleSteps: 4,
      saveEvery: 5,
      resume: true,
      savePrecision: 'bf16',
      gradientCheckpointing: true,
    });
  });

  it('leaves absent flags absent (the preset or the default decides) and names bad ones', () => {
    expect(parseTrainArgs(['--model', '/m', '--images', '/i', '--out', '/o.safetensors'])).toEqual({
      model: '/m',
      images: '/i',
      out: '/o.safetensors',
    });
    const bad = (args: string[]) => {
      try {
        parseTrainArgs(['--model', '/m', '--out', '/o', ...args]);
      } catch (error) {
        return error instanceof PinholeError ? `${error.code}: ${error.message}` : String(error);
      }
      return 'accepted';
    };
    expect(bad(['--images', '/i', '--dataset', 'Rex'])).toMatch(/^INVALID_PARAMS: .*one of --dataset or --images/);
    expect(bad([])).toMatch(/one of --dataset or --images/);
    expect(bad(['--images', '/i', '--warmup', '1.5'])).toMatch(/--warmup must be a whole number/);
    expect(bad(['--images', '/i', '--preset', 'sd3'])).toMatch(/^INVALID_PARAMS: .*preset/);
    expect(bad(['--images', '/i', '--sample-every', '5'])).toMatch(/sample prompt/);
    expect(bad(['--images', '/i', '--buckets', '--no-buckets'])).toMatch(/contradict/);
  });
});
