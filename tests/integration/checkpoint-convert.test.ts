/**
 * Conversion beyond single files: a diffusers folder (sd15-tiny's diffusers weights without its ONNX files)
 * reproduces sd15-tiny's reference runs; a separate VAE is swapped in; float16 graphs; cached folders are reused.
 * (SD 2.x and SDXL single files: checkpoint-families-run.test.ts.)
 */
import { cpSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertModel } from '../../src-main/engine/checkpoint';
import { openStateDict } from '../../src-main/engine/checkpoint/state-dict';
import { createTensor, tensorToFloat32 } from '../../src-main/engine/graph';
import { SafetensorsFile, writeSafetensors } from '../../src-main/engine/weights';
import { runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import {
  expectCliReferenceImage,
  generateArgs,
  readReferenceFile,
  type ReferenceRun,
} from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

describe('model conversion: diffusers folders, separate VAEs, precision', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-convert-')));
  afterAll(() => tmp.cleanup());
  const home = (): string => path.join(tmp.dir, 'home');

  it('a diffusers folder converts and reproduces sd15-tiny’s reference runs', async () => {
    const dir = path.join(tmp.dir, 'sd15-diffusers');
    for (const part of ['model_index.json', 'scheduler', 'tokenizer'])
      cpSync(fixture('sd15-tiny', part), path.join(dir, part), { recursive: true });
    for (const [sub, files] of [
      ['unet', ['config.json', 'diffusion_pytorch_model.safetensors']],
      ['vae', ['config.json', 'diffusion_pytorch_model.safetensors']],
      ['text_encoder', ['config.json', 'model.safetensors']],
    ] as const) {
      mkdirSync(path.join(dir, sub), { recursive: true });
      for (const f of files) cpSync(fixture('sd15-tiny', sub, f), path.join(dir, sub, f));
    }
    const cases = readReferenceFile<ReferenceRun>(fixture('sd15-tiny/reference/cases.json'));
    for (const run of cases.runs) {
      const out = path.join(tmp.dir, `diffusers-${run.scheduler}.png`);
      const result = await runCli(generateArgs(run, { model: dir, out, dataDir: home() }));
      await expectCliReferenceImage(result, out, run, fixture('sd15-tiny/reference', run.image_rgb8));
    }
  });

  it('reports a single file’s progress from hashing it to the last graph, never going back', async () => {
    const reports: { stage: string; fraction: number }[] = [];
    const cache = path.join(tmp.dir, 'progress-cache');
    await convertModel(fixture('sd15-single/tiny-sd15-public.safetensors'), cache, {
      onProgress: (p) => reports.push(p),
    });
    expect(reports[0]!.stage).toBe('hashing');
    const hashing = reports.filter((r) => r.stage === 'hashing');
    // Hashing is the first tenth: the file's bytes counted up to it, then the folder's stages fill the rest.
    expect(hashing.at(-1)!.fraction).toBeCloseTo(0.1, 10);
    expect(reports.slice(hashing.length).every((r) => r.stage !== 'hashing' && r.fraction >= 0.1)).toBe(true);
    const fractions = reports.map((r) => r.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    // The hash is remembered per file version: converting again with other options does not hash again.
    const again: string[] = [];
    await convertModel(fixture('sd15-single/tiny-sd15-public.safetensors'), cache, {
      precision: 'float16',
      onProgress: (p) => again.push(p.stage),
    });
    expect(again).not.toContain('hashing');
    expect(again.length).toBeGreaterThan(0);
  });

  it('swaps in a separate VAE, caches per option, and float16 graphs reproduce the reference', async () => {
    const checkpoint = fixture('sd15-single/tiny-sd15-public.safetensors');
    const dict = await openStateDict(checkpoint);
    const vaeFile = path.join(tmp.dir, 'vae.safetensors');
    // A standalone VAE file in LDM names (how separate VAEs ship): the checkpoint's own with a zeroed output bias.
    await writeSafetensors(
      vaeFile,
      [...dict.tensors]
        .filter(([n]) => n.startsWith('first_stage_model.'))
        .map(([n, t]) => {
          const name = n.slice('first_stage_model.'.length);
          return name === 'decoder.conv_out.bias'
            ? createTensor(name, 'float16', t.dims, new Uint16Array(3))
            : { ...t, name };
        }),
    );
    const cache = path.join(tmp.dir, 'cache-vae');
    const plain = await convertModel(checkpoint, cache);
    const swapped = await convertModel(checkpoint, cache, { vae: vaeFile });
    const half = await convertModel(checkpoint, cache, { precision: 'float16' });
    expect(new Set([plain, swapped, half]).size).toBe(3);
    expect(await convertModel(checkpoint, cache)).toBe(plain);
    const outputBias = async (dir: string) => {
      const file = await SafetensorsFile.open(path.join(dir, 'vae/diffusion_pytorch_model.safetensors'));
      try {
        return [...tensorToFloat32(await file.read('decoder.conv_out.bias'))];
      } finally {
        await file.close();
      }
    };
    expect(await outputBias(swapped)).toEqual([0, 0, 0]);
    expect(await outputBias(plain)).not.toEqual([0, 0, 0]);
    const unetBytes = (dir: string) => readFileSync(path.join(dir, 'unet/model.onnx.data')).length;
    expect(unetBytes(half)).toBeLessThan(0.6 * unetBytes(plain));
    expect(readdirSync(cache).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    const run = readReferenceFile<ReferenceRun>(fixture('sd15-single/cases.json')).runs[0]!;
    // The fixture's weights are float16, so float16 graphs (cast to float32 at use) compute the same image.
    const out = path.join(tmp.dir, 'float16.png');
    const result = await runCli(generateArgs(run, { model: half, out, dataDir: home() }));
    await expectCliReferenceImage(result, out, run, fixture('sd15-single', run.image_rgb8));
  });
});
