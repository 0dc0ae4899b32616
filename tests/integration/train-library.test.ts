/**
 * A trained LoRA appears in the models library (the built CLI on sd15-tiny at 64 px, two steps): as a
 * `lora` from source `trained` whose origin is the `--out` file, stored as a copy (the user's file stays
 * theirs); training again to the same `--out` replaces that model's file under the same name rather
 * than adding another; and `<lora:NAME>` in a prompt finds it by its library name.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const MODEL = fixture('sd15-tiny');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('a trained LoRA in the models library', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let home: string;
  const env = () => ({ PINHOLE_ENGINE_CACHE: path.join(tmp.dir, 'engine-cache') });
  const train = (out: string, seed: string) =>
    runCli(
      [
        'train',
        '--data-dir',
        home,
        '--model',
        MODEL,
        '--images',
        fixture('sd15-tiny/training/images'),
        '--out',
        out,
        '--steps',
        '2',
        '--resolution',
        '64',
        '--seed',
        seed,
        '--json',
      ],
      env(),
    );
  const loras = async () => {
    const listed = await runCli(['models', 'list', '--data-dir', home, '--kind', 'lora', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    return jsonLines(listed.stdout);
  };

  beforeAll(() => {
    tmp = makeTempDir('pinhole-train-library-');
    home = path.join(tmp.dir, 'home');
  });
  afterAll(() => tmp.cleanup());

  it('pinhole train --out keeps a copy as a trained LoRA, replaced by the next run to the same file', async () => {
    const out = path.join(tmp.dir, 'rexstyle.safetensors');
    const first = await train(out, '1');
    expect(first.code, first.stderr).toBe(0);
    expect(jsonLines(first.stdout).at(-1)).toMatchObject({ event: 'done', file: out, libraryName: 'rexstyle' });

    const [entry, ...others] = await loras();
    expect(others).toHaveLength(0);
    expect(entry).toMatchObject({ name: 'rexstyle', kind: 'lora', source: 'trained', origin: out, family: 'sd1' });
    const stored = entry!['path'] as string;
    expect(stored).toBe(path.join(home, 'models', 'loras', 'rexstyle.safetensors'));
    // A copy of the user's file, which stays where they asked for it.
    expect(existsSync(out)).toBe(true);
    expect(entry!['sha256']).toBe(sha256(out));
    expect(sha256(stored)).toBe(sha256(out));

    // Another seed, the same --out: the same library model with the new file.
    const second = await train(out, '2');
    expect(second.code, second.stderr).toBe(0);
    expect(jsonLines(second.stdout).at(-1)).toMatchObject({ libraryName: 'rexstyle' });
    const after = await loras();
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: entry!['id'], name: 'rexstyle', sha256: sha256(out) });
    expect(after[0]!['sha256']).not.toBe(entry!['sha256']);
    expect(sha256(stored)).toBe(sha256(out));
  }, 180_000);

  it('<lora:NAME> in a prompt finds the trained LoRA by its library name', async () => {
    const image = path.join(tmp.dir, 'with-lora.png');
    const result = await runCli(
      [
        'generate',
        '--data-dir',
        home,
        '--model',
        MODEL,
        '--prompt',
        'a photo of a toy <lora:rexstyle:1>',
        '--steps',
        '2',
        '--width',
        '64',
        '--height',
        '64',
        '--seed',
        '3',
        '--out',
        image,
        '--json',
      ],
      env(),
    );
    expect(result.code, result.stderr).toBe(0);
    const parameters = (await sharp(image).metadata()).comments?.find((c) => c.keyword === 'parameters')?.text;
    // A1111's record of the LoRAs used: the library name with the file's hash.
    expect(parameters).toMatch(/Lora hashes: "rexstyle: [0-9a-f]{12}"/);
  }, 120_000);
});
