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
  negative_prompt: string;
  width: number;
  height: number;
  image_rgb8: string;
};

/** Mean absolute difference per channel (in levels) and the largest single difference. */
function compareRgb(actual: Uint8Array, expected: Uint8Array): { mean: number[]; max: number } {
  const sums = [0, 0, 0];
  let max = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    sums[i % 3]! += d;
    max = Math.max(max, d);
  }
  return { mean: sums.map((s) => s / (expected.length / 3)), max };
}

describe('pinhole generate on sd15-tiny (diffusers reference runs)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-gen-')));
  afterAll(() => tmp.cleanup());
  const cases = JSON.parse(readFileSync(fixture('sd15-tiny/reference/cases.json'), 'utf8')) as { runs: Run[] };

  for (const run of cases.runs) {
    it(`reproduces ${run.scheduler} ${run.steps} steps, seed ${run.seed}, within 0.5/255`, async () => {
      const out = path.join(tmp.dir, `${run.scheduler}.png`);
      const result = await runCli([
        'generate',
        '--model',
        fixture('sd15-tiny'),
        '--prompt',
        run.prompt,
        '--negative',
        run.negative_prompt,
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
      expect(result.code, result.stderr).toBe(0);
      const [line] = jsonLines(result.stdout);
      expect(line).toMatchObject({ file: out, seed: String(run.seed), width: run.width, height: run.height });

      const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([run.width, run.height, 3]);
      const { mean, max } = compareRgb(data, readFileSync(fixture('sd15-tiny/reference', run.image_rgb8)));
      for (const m of mean) expect(m).toBeLessThanOrEqual(0.5);
      expect(max).toBeLessThanOrEqual(8);

      // The PNG carries A1111's parameters, which other tools (and our gallery) read back.
      const text = (await sharp(out).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text ?? '';
      expect(text).toContain(run.prompt);
      expect(text).toContain(`Negative prompt: ${run.negative_prompt}`);
      expect(text).toMatch(new RegExp(`Steps: ${run.steps}, .*Seed: ${run.seed}, Size: ${run.width}x${run.height}`));
    });
  }

  it('puts the images in the gallery and rejects a size that is not a multiple of 8', async () => {
    const home = path.join(tmp.dir, 'home');
    const bad = await runCli([
      'generate',
      '--model',
      fixture('sd15-tiny'),
      '--prompt',
      'x',
      '--width',
      '60',
      '--data-dir',
      home,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/multiples of 8/);
    const missing = await runCli(['generate', '--model', tmp.dir, '--prompt', 'x', '--steps', '2', '--data-dir', home]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/model_index\.json|Model folder|not found/i);
    const jobs = jsonLines((await runCli(['jobs', '--json', '--data-dir', home])).stdout);
    expect(jobs.filter((j) => j['kind'] === 'generate' && j['state'] === 'succeeded')).toHaveLength(2);
  });
});
