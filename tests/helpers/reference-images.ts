/**
 * The fixtures' diffusers reference runs (`reference/*.json`) and how tests compare with them: the JSON run
 * records, the `pinhole generate` arguments and engine request that repeat a run, and the RGB comparison
 * against a run's raw `image_rgb8` with CONTRACTS' tolerance (mean |Δ| ≤ 0.5 per channel, max ≤ 8 levels).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import type { GenerateRequest } from '../../src-main/engine/pipelines';
import { jsonLines, type CliResult } from './cli';

/** A reference run as the fixtures' JSON files describe it (img2img/inpaint runs add the init fields). */
export type ReferenceRun<Sampler extends string = string> = {
  scheduler: Sampler;
  steps: number;
  cfg: number;
  seed: number;
  prompt: string;
  negative_prompt: string | null;
  width: number;
  height: number;
  image_rgb8: string;
  strength?: number;
  init_image?: string;
  mask_image?: string;
  timesteps?: number[];
  latents_f32le?: string;
};

/** The `runs` (and the rest) of a reference JSON file. */
export function readReferenceFile<Run>(file: string): Record<string, unknown> & { runs: Run[] } {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> & { runs: Run[] };
}

/** The first run of a reference JSON file. */
export const firstReferenceRun = <Run>(file: string): Run => readReferenceFile<Run>(file).runs[0]!;

/** Mean absolute difference per channel (in levels) and the largest single difference. */
export function compareRgb(actual: Uint8Array, expected: Uint8Array): { mean: number[]; max: number } {
  if (actual.length !== expected.length) {
    throw new Error(`different sizes: ${actual.length} vs ${expected.length} bytes`);
  }
  const sums = [0, 0, 0];
  let max = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    sums[i % 3]! += d;
    max = Math.max(max, d);
  }
  return { mean: sums.map((s) => s / (expected.length / 3)), max };
}

/**
 * Expects `actual` within the reference tolerance of `expected`: mean |Δ| ≤ 0.5 per channel and max ≤ 8
 * levels. With a label, the figures are logged first.
 */
export function expectRgbClose(actual: Uint8Array, expected: Uint8Array, label?: string): void {
  const { mean, max } = compareRgb(actual, expected);
  if (label !== undefined) {
    console.info(`${label}: mean |Δ| per channel ${mean.map((m) => m.toFixed(4)).join(' / ')}, max ${max}`);
  }
  for (const m of mean) expect(m).toBeLessThanOrEqual(0.5);
  expect(max).toBeLessThanOrEqual(8);
}

/**
 * `pinhole generate` arguments for a reference run: its prompts and settings, then `extra` (e.g. `--init`),
 * the output file, `--json` and the data folder. A null negative prompt passes no `--negative`.
 */
export function generateArgs(
  run: ReferenceRun,
  options: { model: string; out: string; dataDir: string; extra?: readonly string[] },
): string[] {
  return [
    'generate',
    '--model',
    options.model,
    '--prompt',
    run.prompt,
    ...(run.negative_prompt !== null ? ['--negative', run.negative_prompt] : []),
    '--sampler',
    run.scheduler,
    '--steps',
    String(run.steps),
    '--cfg',
    String(run.cfg),
    '--seed',
    String(run.seed),
    '--width',
    String(run.width),
    '--height',
    String(run.height),
    ...(options.extra ?? []),
    '--out',
    options.out,
    '--json',
    '--data-dir',
    options.dataDir,
  ];
}

/**
 * The engine request for a reference run. With `refDir` (where its init and mask images lie) an img2img or
 * inpaint run brings its strength, init image and mask.
 */
export function referenceRequest(
  model: string,
  run: ReferenceRun<NonNullable<GenerateRequest['sampler']>>,
  refDir?: string,
): GenerateRequest {
  return {
    model,
    prompt: run.prompt,
    negativePrompt: run.negative_prompt ?? undefined,
    seed: BigInt(run.seed),
    sampler: run.scheduler,
    steps: run.steps,
    cfgScale: run.cfg,
    width: run.width,
    height: run.height,
    ...(refDir !== undefined && run.init_image !== undefined
      ? { strength: run.strength, initImage: path.join(refDir, run.init_image) }
      : {}),
    ...(refDir !== undefined && run.mask_image ? { maskImage: path.join(refDir, run.mask_image) } : {}),
  };
}

/**
 * Checks a finished `pinhole generate … --json` of a reference run: exit 0, the JSON line naming `out`, the seed
 * and size, a PNG of that size within the reference tolerance of `expectedRgb` (a raw RGB file). Resolves with
 * the PNG's A1111 `parameters` text ('' when it has none).
 */
export async function expectCliReferenceImage(
  result: CliResult,
  out: string,
  run: ReferenceRun,
  expectedRgb: string,
  label?: string,
): Promise<string> {
  expect(result.code, result.stderr).toBe(0);
  // The image line; `{"event":"converting"}` lines come first when the CLI converted the model.
  const [line] = jsonLines(result.stdout).filter((l) => l['event'] === undefined);
  expect(line).toMatchObject({ file: out, seed: String(run.seed), width: run.width, height: run.height });

  const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([run.width, run.height, 3]);
  expectRgbClose(data, readFileSync(expectedRgb), label);

  return (await sharp(out).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text ?? '';
}
