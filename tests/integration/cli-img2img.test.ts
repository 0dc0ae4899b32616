/**
 * `pinhole generate --init … --strength … [--mask …]` end to end: the built CLI runs the engine in a child
 * process on the sd15-tiny fixture folder as it is (read, never written) and reproduces diffusers' img2img and
 * inpainting references. The folder's ONNX encoder gives only the mode, so the engine builds the encoder from
 * `vae/diffusion_pytorch_model.safetensors` into its cache folder (`PINHOLE_ENGINE_CACHE`, a temp folder here).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

type Run = {
  scheduler: string;
  steps: number;
  strength: number;
  cfg: number;
  seed: number;
  prompt: string;
  negative_prompt: string;
  init_image: string;
  mask_image?: string;
  width: number;
  height: number;
  image_rgb8: string;
};

const REF = fixture('sd15-tiny/reference');
const refRun = (file: string): Run =>
  (JSON.parse(readFileSync(path.join(REF, file), 'utf8')) as { runs: Run[] }).runs[0]!;

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

/** Every file under a folder, relative (to check that the fixture is left as it was). */
function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('pinhole generate --init / --mask on sd15-tiny (diffusers reference runs)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let cacheDir: string;
  const before = listing(fixture('sd15-tiny'));
  beforeAll(() => {
    tmp = makeTempDir('pinhole-cli-img2img-');
    cacheDir = path.join(tmp.dir, 'engine-cache');
  });
  afterAll(() => tmp.cleanup());

  const cases = [
    { name: 'img2img', run: refRun('img2img.json') },
    { name: 'inpaint', run: refRun('inpaint.json') },
  ];
  for (const { name, run } of cases) {
    it(`reproduces ${name} (${run.scheduler}, ${run.steps} steps, strength ${run.strength}, seed ${run.seed})`, async () => {
      const out = path.join(tmp.dir, `${name}.png`);
      const result = await runCli(
        [
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
          '--init',
          path.join(REF, run.init_image),
          '--strength',
          String(run.strength),
          ...(run.mask_image ? ['--mask', path.join(REF, run.mask_image)] : []),
          '--out',
          out,
          '--json',
          '--data-dir',
          path.join(tmp.dir, 'home'),
        ],
        { PINHOLE_ENGINE_CACHE: cacheDir },
      );
      expect(result.code, result.stderr).toBe(0);
      const [line] = jsonLines(result.stdout);
      expect(line).toMatchObject({ file: out, seed: String(run.seed), width: run.width, height: run.height });

      const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([run.width, run.height, 3]);
      const { mean, max } = compareRgb(data, readFileSync(path.join(REF, run.image_rgb8)));
      console.info(`cli ${name}: mean |Δ| per channel ${mean.map((m) => m.toFixed(4)).join(' / ')}, max ${max}`);
      for (const m of mean) expect(m).toBeLessThanOrEqual(0.5);
      expect(max).toBeLessThanOrEqual(8);

      const text = (await sharp(out).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text ?? '';
      expect(text).toContain(run.prompt);
      expect(text).toContain(`Denoising strength: ${run.strength}`);
    });
  }

  it('built the encoder once into the engine cache and wrote nothing into the model folder', () => {
    const entries = readdirSync(path.join(cacheDir, 'vae-encoder')).filter((n) => /^[0-9a-f]{32}$/.test(n));
    expect(entries).toHaveLength(1);
    expect(existsSync(path.join(cacheDir, 'vae-encoder', entries[0]!, 'model.onnx'))).toBe(true);
    expect(listing(fixture('sd15-tiny'))).toEqual(before);
  });
});
