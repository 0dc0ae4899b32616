/**
 * `pinhole generate --batch`, `--count` and `--clip-skip` on sd15-tiny, through the built CLI.
 * - A batch draws one noise tensor for all its images, as diffusers' pipelines do (`randn_tensor` of
 *   `[batch × images per prompt, 4, h, w]` from one generator): image 0 of a batch of 2 is the batch-of-1 image
 *   for the same seed (to float rounding: the UNet runs a different batch size), image 1 is another image.
 * - A count runs batches one after the other with seeds s, s + 1, …: image k is exactly the run at seed s + k.
 * - Clip skip works on this standard export (its encoder has no hidden_states outputs: the engine builds one
 *   from the folder's weights) and is recorded in the PNG.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { compareRgb, expectRgbClose } from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

type ImageLine = { file: string; seed: string; width: number; height: number };

describe('pinhole generate --batch, --count, --clip-skip', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-gen-batch-')));
  afterAll(() => tmp.cleanup());

  /** Runs `generate` with the shared settings plus `extra`; resolves with its image lines. */
  async function generate(name: string, extra: string[]): Promise<ImageLine[]> {
    const result = await runCli([
      'generate',
      '--model',
      fixture('sd15-tiny'),
      '--prompt',
      'a lighthouse on a cliff',
      '--negative',
      'blurry',
      '--sampler',
      'euler',
      '--steps',
      '3',
      '--width',
      '64',
      '--height',
      '64',
      ...extra,
      '--out',
      path.join(tmp.dir, `${name}.png`),
      '--json',
      '--data-dir',
      path.join(tmp.dir, 'home'),
    ]);
    expect(result.code, result.stderr).toBe(0);
    // Progress events (model conversion) may come first; image lines have no `event`.
    return jsonLines(result.stdout).filter((l) => l['event'] === undefined) as ImageLine[];
  }

  const rgb = async (file: string) => (await sharp(file).removeAlpha().raw().toBuffer()) as Uint8Array;
  const parameters = async (file: string) =>
    (await sharp(file).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text ?? '';

  it('a batch of 2: image 0 is the batch-of-1 image of the same seed, image 1 another', async () => {
    const [single] = await generate('single-42', ['--seed', '42']);
    const batch = await generate('batch-42', ['--seed', '42', '--batch', '2']);
    expect(batch.map((l) => [path.basename(l.file), l.seed])).toEqual([
      ['batch-42-1.png', '42'],
      ['batch-42-2.png', '42'],
    ]);
    expectRgbClose(await rgb(batch[0]!.file), await rgb(single!.file));
    expect(compareRgb(await rgb(batch[1]!.file), await rgb(single!.file)).max).toBeGreaterThan(8);
    expect(await parameters(batch[1]!.file)).toMatch(/Seed: 42, .*Batch size: 2, Batch pos: 1/);
  });

  it('a count of 2 uses seeds s and s + 1: image 1 is exactly the run at seed s + 1', async () => {
    const counted = await generate('count-42', ['--seed', '42', '--count', '2']);
    expect(counted.map((l) => [path.basename(l.file), l.seed])).toEqual([
      ['count-42-1.png', '42'],
      ['count-42-2.png', '43'],
    ]);
    const [single] = await generate('single-43', ['--seed', '43']);
    expect(readFileSync(counted[1]!.file).equals(readFileSync(single!.file))).toBe(true);
    expect(await parameters(counted[1]!.file)).toMatch(/Seed: 43,/);
    expect(Buffer.from(await rgb(counted[0]!.file)).equals(Buffer.from(await rgb(counted[1]!.file)))).toBe(false);
  });

  it('--clip-skip 2 conditions on the penultimate layer and records it', async () => {
    const [skipped] = await generate('clip-skip-2', ['--seed', '42', '--clip-skip', '2']);
    expect(await parameters(skipped!.file)).toMatch(/Clip skip: 2/);
    const [plain] = await generate('clip-skip-1', ['--seed', '42']);
    expect(await parameters(plain!.file)).not.toMatch(/Clip skip/);
    expect(Buffer.from(await rgb(skipped!.file)).equals(Buffer.from(await rgb(plain!.file)))).toBe(false);
  });
});
