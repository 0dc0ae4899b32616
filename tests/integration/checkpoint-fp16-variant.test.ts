/**
 * A diffusers folder that ships only its `.fp16.` variant weights (`diffusion_pytorch_model.fp16.safetensors`,
 * `model.fp16.safetensors`, as Hugging Face repos publish them): sd15-tiny's diffusers weights rounded to float16 and
 * written with the project's safetensors writer convert and reproduce sd15-tiny's Euler reference run.
 */
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectModelFile } from '../../src-main/engine/checkpoint';
import { createTensor, float32ToFloat16Array, tensorToFloat32 } from '../../src-main/engine/graph';
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

const PARTS = [
  ['unet', 'diffusion_pytorch_model'],
  ['vae', 'diffusion_pytorch_model'],
  ['text_encoder', 'model'],
] as const;

/** `<sub>/<name>.safetensors` of the fixture as float16, written to `<dir>/<sub>/<name>.fp16.safetensors`. */
async function writeHalfCopy(dir: string, sub: string, name: string): Promise<void> {
  const source = await SafetensorsFile.open(fixture('sd15-tiny', sub, `${name}.safetensors`));
  try {
    const tensors = [];
    for (const tensorName of source.names) {
      const t = await source.read(tensorName, { dtype: 'float32' });
      tensors.push(createTensor(tensorName, 'float16', t.dims, float32ToFloat16Array(tensorToFloat32(t))));
    }
    await writeSafetensors(path.join(dir, sub, `${name}.fp16.safetensors`), tensors);
  } finally {
    await source.close();
  }
}

describe('a diffusers folder with .fp16. variant weights', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let dir: string;
  beforeAll(async () => {
    tmp = makeTempDir('pinhole-fp16-variant-');
    dir = path.join(tmp.dir, 'sd15-fp16');
    for (const part of ['model_index.json', 'scheduler', 'tokenizer'])
      cpSync(fixture('sd15-tiny', part), path.join(dir, part), { recursive: true });
    for (const [sub, name] of PARTS) {
      mkdirSync(path.join(dir, sub), { recursive: true });
      cpSync(fixture('sd15-tiny', sub, 'config.json'), path.join(dir, sub, 'config.json'));
      await writeHalfCopy(dir, sub, name);
    }
  });
  afterAll(() => tmp.cleanup());

  it('is read as a diffusers folder in float16', async () => {
    expect(await inspectModelFile(dir)).toMatchObject({
      kind: 'diffusers-folder',
      family: 'sd1',
      precision: 'float16',
    });
  });

  it('converts and reproduces sd15-tiny’s Euler reference within 0.5/255', async () => {
    const cases = readReferenceFile<ReferenceRun>(fixture('sd15-tiny/reference/cases.json'));
    const run = cases.runs.find((r) => r.scheduler === 'euler');
    expect(run).toBeDefined();
    const out = path.join(tmp.dir, 'euler.png');
    const result = await runCli(generateArgs(run!, { model: dir, out, dataDir: path.join(tmp.dir, 'home') }));
    await expectCliReferenceImage(
      result,
      out,
      run!,
      fixture('sd15-tiny/reference', run!.image_rgb8),
      'fp16 variant folder, euler',
    );
  });
});
