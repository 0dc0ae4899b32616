import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import {
  expectCliReferenceImage,
  generateArgs,
  readReferenceFile,
  type ReferenceRun,
} from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

describe('pinhole generate on sd15-tiny (diffusers reference runs)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-gen-')));
  afterAll(() => tmp.cleanup());
  const cases = readReferenceFile<ReferenceRun>(fixture('sd15-tiny/reference/cases.json'));

  for (const run of cases.runs) {
    it(`reproduces ${run.scheduler} ${run.steps} steps, seed ${run.seed}, within 0.5/255`, async () => {
      const out = path.join(tmp.dir, `${run.scheduler}.png`);
      const result = await runCli(
        generateArgs(run, { model: fixture('sd15-tiny'), out, dataDir: path.join(tmp.dir, 'home') }),
      );
      // The PNG carries A1111's parameters, which other tools (and our gallery) read back.
      const text = await expectCliReferenceImage(result, out, run, fixture('sd15-tiny/reference', run.image_rgb8));
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
