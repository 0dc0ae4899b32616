/**
 * A library checkpoint through its life, by the built CLI: generated with by name and — the same bytes as a loose
 * file, not in the library — by path, which records A1111's `Model hash` (the first 10 hex digits of the file's
 * SHA-256, computed here independently) and `Model: <file name without extension>` too; `pinhole train --model
 * <library name>` trains a LoRA on it; removing it then says what used it: the gallery images made with it (by
 * either route: the hash decides) and the training run based on it.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src-main/engine/image/png-text';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const CHECKPOINT = fixture('sd15-single', 'tiny-sd15-public.safetensors');
const SHORT_HASH = createHash('sha256').update(readFileSync(CHECKPOINT)).digest('hex').slice(0, 10);

describe('a library checkpoint: generate, train, and removal saying what used it', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let home: string;
  const cli = (...args: string[]) => runCli([...args, '--data-dir', home]);

  beforeAll(async () => {
    tmp = makeTempDir('pinhole-models-usage-');
    home = path.join(tmp.dir, 'home');
    const file = path.join(tmp.dir, 'Tiny SD.safetensors');
    copyFileSync(CHECKPOINT, file);
    const imported = await cli('models', 'import', file, '--json');
    expect(jsonLines(imported.stdout)).toMatchObject([{ status: 'imported', name: 'Tiny SD', kind: 'checkpoint' }]);
  });
  afterAll(() => tmp.cleanup());

  it('a file given by path records its short hash and its name, as a library model does', async () => {
    const loose = path.join(tmp.dir, 'loose-model.safetensors');
    copyFileSync(CHECKPOINT, loose);
    for (const [model, name] of [
      ['tiny sd', 'Tiny SD'],
      [loose, 'loose-model'],
    ] as const) {
      const out = path.join(tmp.dir, `${name}.png`);
      const result = await cli(
        'generate',
        '--model',
        model,
        '--prompt',
        'a red ball',
        '--steps',
        '2',
        '--width',
        '64',
        '--height',
        '64',
        '--seed',
        '5',
        '--out',
        out,
        '--json',
      );
      expect(result.code, result.stderr).toBe(0);
      const parameters = readPngText(readFileSync(out))['parameters']!;
      expect(parameters).toMatch(new RegExp(`Model hash: ${SHORT_HASH}, Model: ${name}(,|$)`, 'm'));
    }
  });

  it('pinhole train --model <library name> trains a LoRA on it', async () => {
    const out = path.join(tmp.dir, 'from-library.safetensors');
    const result = await cli(
      'train',
      '--model',
      'Tiny SD',
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
    );
    expect(result.code, result.stderr).toBe(0);
    const steps = jsonLines(result.stdout).filter((l) => l['event'] === 'step');
    expect(steps.map((l) => l['step'])).toEqual([1, 2]);
    expect(steps.every((l) => Number.isFinite(l['loss']))).toBe(true);
    expect(readFileSync(out).length).toBeGreaterThan(1000);
  }, 180_000);

  it('removing it names the images made with it (by name and by path) and the training run based on it', async () => {
    const removed = await cli('models', 'remove', 'Tiny SD', '--json');
    expect(removed.code, removed.stderr).toBe(0);
    const [line] = jsonLines(removed.stdout);
    expect(line).toMatchObject({ name: 'Tiny SD', kind: 'checkpoint', removed: true });
    const usedBy = line!['usedBy'] as string[];
    expect(usedBy).toHaveLength(2);
    expect(usedBy[0]).toBe('2 generated images in the gallery');
    expect(usedBy[1]).toMatch(/^LoRA training run job_\w+ \(succeeded\): Train LoRA from-library\.safetensors$/);
  });
});
