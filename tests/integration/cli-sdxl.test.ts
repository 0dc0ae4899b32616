/**
 * `pinhole generate` on the sdxl-tiny fixture end to end (the built CLI, the engine in a child process):
 * diffusers' SDXL reference runs — one without a negative prompt (zero negative embeddings, as
 * `force_zeros_for_empty_prompt` asks), one not square — and determinism (same seed, same PNG bytes).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

type Run = {
  scheduler: string;
  steps: number;
  cfg: number;
  seed: number;
  prompt: string;
  negative_prompt: string | null;
  width: number;
  height: number;
  image_rgb8: string;
};

const MODEL = fixture('sdxl-tiny');
const REF = fixture('sdxl-tiny/reference');
const cases = (JSON.parse(readFileSync(path.join(REF, 'cases.json'), 'utf8')) as { runs: Run[] }).runs;

/** Mean absolute difference per channel (in levels) and the largest single difference. */
function compareRgb(actual: Uint8Array, expected: Uint8Array): { mean: number[]; max: number } {
  expect(actual.length).toBe(expected.length);
  const sums = [0, 0, 0];
  let max = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    sums[i % 3]! += d;
    max = Math.max(max, d);
  }
  return { mean: sums.map((s) => s / (expected.length / 3)), max };
}

describe('pinhole generate on sdxl-tiny (diffusers SDXL reference runs)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-cli-sdxl-')));
  afterAll(() => tmp.cleanup());

  const generate = (run: Run, out: string) =>
    runCli([
      'generate',
      '--model',
      MODEL,
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
      '--out',
      out,
      '--json',
      '--data-dir',
      path.join(tmp.dir, 'home'),
    ]);

  it('has the two runs the fixture documents: one without a negative prompt, one not square', () => {
    expect(cases.some((r) => r.negative_prompt === null)).toBe(true);
    expect(cases.some((r) => r.width !== r.height)).toBe(true);
  });

  for (const run of cases) {
    const label = `${run.scheduler} ${run.steps} steps, seed ${run.seed}, ${run.width}×${run.height}${run.negative_prompt === null ? ', no negative prompt' : ''}`;
    it(`reproduces ${label} within 0.5/255`, async () => {
      const out = path.join(tmp.dir, `${run.scheduler}-${run.seed}.png`);
      const result = await generate(run, out);
      expect(result.code, result.stderr).toBe(0);
      const [line] = jsonLines(result.stdout);
      expect(line).toMatchObject({ file: out, seed: String(run.seed), width: run.width, height: run.height });

      const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([run.width, run.height, 3]);
      const { mean, max } = compareRgb(data, readFileSync(path.join(REF, run.image_rgb8)));
      console.info(`cli sdxl ${label}: mean |Δ| per channel ${mean.map((m) => m.toFixed(4)).join(' / ')}, max ${max}`);
      for (const m of mean) expect(m).toBeLessThanOrEqual(0.5);
      expect(max).toBeLessThanOrEqual(8);

      const text = (await sharp(out).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text ?? '';
      expect(text).toContain(run.prompt);
      if (run.negative_prompt === null) expect(text).not.toContain('Negative prompt:');
      else expect(text).toContain(`Negative prompt: ${run.negative_prompt}`);
      expect(text).toMatch(new RegExp(`Steps: ${run.steps}, .*Seed: ${run.seed}, Size: ${run.width}x${run.height}`));
    });
  }

  it('is deterministic: the same seed twice gives byte-identical PNGs', async () => {
    const run = cases[0]!;
    const files = [path.join(tmp.dir, 'again-1.png'), path.join(tmp.dir, 'again-2.png')];
    for (const file of files) {
      const result = await generate(run, file);
      expect(result.code, result.stderr).toBe(0);
    }
    const [a, b] = files.map((f) => readFileSync(f));
    expect(a!.length).toBeGreaterThan(0);
    expect(Buffer.compare(a!, b!)).toBe(0);
  });
});
