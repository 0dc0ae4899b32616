/**
 * The weight precision of converted models follows the engine's execution provider: `pinhole generate` with a
 * single-file checkpoint converts with float16 weights when the engine runs on a GPU provider (WebGPU forced
 * here, over Mesa's software Vulkan as in engine-webgpu.test.ts) and float32 on the CPU; both reproduce the
 * fixture's reference run (its weights are float16, so float16 graphs compute the same image).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import {
  expectCliReferenceImage,
  generateArgs,
  readReferenceFile,
  type ReferenceRun,
} from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

const CHECKPOINT = fixture('sd15-single', 'tiny-sd15-public.safetensors');
const run = readReferenceFile<ReferenceRun>(fixture('sd15-single/cases.json')).runs[0]!;

describe('weight precision of converted models per execution provider', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-precision-')));
  afterAll(() => tmp.cleanup());

  /** The precision each converted folder of a data home was written in. */
  const precisions = (home: string): unknown[] => {
    const cache = path.join(home, 'cache', 'engine', 'checkpoints');
    return readdirSync(cache)
      .filter((n) => /^[0-9a-f]{32}$/.test(n))
      .map(
        (n) =>
          (JSON.parse(readFileSync(path.join(cache, n, 'pinhole-source.json'), 'utf8')) as Record<string, unknown>)[
            'precision'
          ],
      );
  };

  for (const [provider, precision] of [
    ['cpu', 'float32'],
    ['webgpu', 'float16'],
  ] as const) {
    it(`PINHOLE_EP=${provider}: ${precision} weights, the reference image`, async () => {
      const home = path.join(tmp.dir, provider);
      const out = path.join(tmp.dir, `${provider}.png`);
      const result = await runCli(generateArgs(run, { model: CHECKPOINT, out, dataDir: home }), {
        PINHOLE_EP: provider,
        // Dawn wants a private runtime folder (see .ci/run).
        XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? tmp.dir,
      });
      await expectCliReferenceImage(result, out, run, fixture('sd15-single', run.image_rgb8), provider);
      expect(precisions(home)).toEqual([precision]);
    });
  }
});
