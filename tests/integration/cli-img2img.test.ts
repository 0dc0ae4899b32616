/**
 * `pinhole generate --init … --strength … [--mask …]` end to end: the built CLI runs the engine in a child
 * process on the sd15-tiny fixture folder as it is (read, never written) and reproduces diffusers' img2img and
 * inpainting references. The folder's ONNX encoder gives only the mode, so the engine builds the encoder from
 * `vae/diffusion_pytorch_model.safetensors` into its cache folder (`PINHOLE_ENGINE_CACHE`, a temp folder here).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import {
  expectCliReferenceImage,
  firstReferenceRun,
  generateArgs,
  type ReferenceRun,
} from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

const REF = fixture('sd15-tiny/reference');
const refRun = (file: string): ReferenceRun => firstReferenceRun<ReferenceRun>(path.join(REF, file));

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
        generateArgs(run, {
          model: fixture('sd15-tiny'),
          out,
          dataDir: path.join(tmp.dir, 'home'),
          extra: [
            '--init',
            path.join(REF, run.init_image!),
            '--strength',
            String(run.strength),
            ...(run.mask_image ? ['--mask', path.join(REF, run.mask_image)] : []),
          ],
        }),
        { PINHOLE_ENGINE_CACHE: cacheDir },
      );
      const text = await expectCliReferenceImage(result, out, run, path.join(REF, run.image_rgb8), `cli ${name}`);
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
