/**
 * `pinhole generate --model <single-file checkpoint>`: the sd15-single fixture (written by diffusers' own
 * converter) as `.safetensors` and as a torch `.ckpt` reproduces its reference run through the CLI; the
 * conversion is cached in the data home; a hostile pickle is refused and runs nothing; `pinhole train`
 * takes the same file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

describe('pinhole generate with a single-file checkpoint (sd15-single)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-ckpt-')));
  afterAll(() => tmp.cleanup());
  const cases = readReferenceFile<ReferenceRun>(fixture('sd15-single/cases.json'));
  const run = cases.runs[0]!;
  const home = (): string => path.join(tmp.dir, 'home');
  const converted = (): string[] =>
    readdirSync(path.join(home(), 'cache', 'engine', 'checkpoints')).filter((n) => /^[0-9a-f]{32}$/.test(n));

  for (const file of [cases['checkpoint'] as string, cases['checkpoint_pickle'] as string]) {
    it(`${file} reproduces ${run.scheduler} ${run.steps} steps, seed ${run.seed}, within 0.5/255`, async () => {
      const out = path.join(tmp.dir, `${file}.png`);
      const args = generateArgs(run, { model: fixture('sd15-single', file), out, dataDir: home() });
      const result = await runCli(args);
      await expectCliReferenceImage(result, out, run, fixture('sd15-single', run.image_rgb8));
    });
  }

  it('converts each file once: a second run is a cache hit', async () => {
    const before = converted();
    expect(before).toHaveLength(2); // the .safetensors and the .ckpt (same weights, different files)
    const out = path.join(tmp.dir, 'again.png');
    const result = await runCli(
      generateArgs(run, { model: fixture('sd15-single', cases['checkpoint'] as string), out, dataDir: home() }),
    );
    await expectCliReferenceImage(result, out, run, fixture('sd15-single', run.image_rgb8));
    expect(converted()).toEqual(before);
  });

  it('refuses the hostile pickle, naming the global, and never runs it', async () => {
    const marker = cases['hostile_marker'] as string;
    const result = await runCli([
      'generate',
      '--model',
      fixture('sd15-single', cases['hostile_pickle'] as string),
      '--prompt',
      'x',
      '--data-dir',
      home(),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/hostile-public\.ckpt.*refused.*'(posix|os)\.system'/);
    expect(existsSync(marker)).toBe(false);
  });

  it('trains a LoRA on the single-file checkpoint (its converted folder, from the cache)', async () => {
    const before = converted();
    const out = path.join(tmp.dir, 'from-checkpoint.safetensors');
    const result = await runCli([
      'train',
      '--model',
      fixture('sd15-single', cases['checkpoint'] as string),
      '--images',
      fixture('sd15-tiny/training/images'),
      '--out',
      out,
      '--steps',
      '2',
      '--resolution',
      '64',
      '--rank',
      '4',
      '--json',
      '--data-dir',
      home(),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const steps = jsonLines(result.stdout).filter((l) => l['event'] === 'step');
    expect(steps.map((l) => l['step'])).toEqual([1, 2]);
    expect(steps.every((l) => Number.isFinite(l['loss']))).toBe(true);
    // A kohya LoRA on the UNet's attention blocks: down/up pairs with their alphas, nothing else.
    const keys = Object.keys(readSafetensorsHeader(out)).filter((k) => k !== '__metadata__');
    const modules = new Set(keys.map((k) => k.replace(/\.(lora_down\.weight|lora_up\.weight|alpha)$/, '')));
    expect(modules.size).toBeGreaterThan(0);
    expect(keys).toHaveLength(modules.size * 3);
    for (const m of modules) expect(m).toMatch(/^lora_unet_(down|mid|up)_blocks?_.*attentions_\d+_/);
    // kohya's base-model metadata names and hashes the checkpoint file trained on, not its converted folder.
    const checkpoint = readFileSync(fixture('sd15-single', cases['checkpoint'] as string));
    expect(readSafetensorsHeader(out)['__metadata__']).toMatchObject({
      ss_sd_model_name: path.basename(cases['checkpoint'] as string),
      ss_sd_model_hash: createHash('sha256').update(checkpoint.subarray(0x100000, 0x110000)).digest('hex').slice(0, 8),
      ss_new_sd_model_hash: createHash('sha256').update(checkpoint).digest('hex'),
    });
    expect(converted()).toEqual(before);
  }, 120_000);
});

function readSafetensorsHeader(file: string): Record<string, unknown> {
  const bytes = readFileSync(file);
  return JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<
    string,
    unknown
  >;
}
