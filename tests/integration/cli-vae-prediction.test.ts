/**
 * `pinhole generate --vae NAME|FILE` and the prediction override, through the built CLI on the sd15-single
 * fixture: the checkpoint's own VAE saved as a separate file gives the very same pixels, a VAE with a tweaked
 * output bias a different image; the PNG parameters name the VAE as A1111 does (`VAE hash`, `VAE`), and a
 * library VAE's last use is recorded. An optimum ONNX folder (sd15-tiny) takes a separate VAE too (its other
 * graphs linked, not copied). `--prediction` (on `models import` and on `generate`) changes the converted
 * folder's scheduler config and its cache key.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertModel } from '../../src-main/engine/checkpoint';
import { openStateDict } from '../../src-main/engine/checkpoint/state-dict';
import { createTensor, tensorToFloat32, type Tensor } from '../../src-main/engine/graph';
import { readPngText } from '../../src-main/engine/image/png-text';
import { writeSafetensors } from '../../src-main/engine/weights';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { compareRgb, generateArgs, readReferenceFile, type ReferenceRun } from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

const CHECKPOINT = fixture('sd15-single', 'tiny-sd15-public.safetensors');
const run = readReferenceFile<ReferenceRun>(fixture('sd15-single/cases.json')).runs[0]!;
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** `tensors` with `bias` (a float vector) raised by 0.25: a VAE that decodes visibly brighter. */
function raised(tensors: Iterable<[string, Tensor]>, bias: string): Tensor[] {
  return [...tensors].map(([name, t]) => {
    if (name !== bias) return { ...t, name };
    return createTensor(
      name,
      'float32',
      t.dims,
      tensorToFloat32(t).map((v) => v + 0.25),
    );
  });
}

async function pixels(file: string): Promise<Buffer> {
  return sharp(file).removeAlpha().raw().toBuffer();
}

describe('separate VAEs and the prediction override', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let home: string;
  const cli = (...args: string[]) => runCli([...args, '--data-dir', home]);
  const generate = (model: string, out: string, extra: string[] = []) =>
    runCli(generateArgs(run, { model, out, dataDir: home, extra: [...extra, '--json'] }));
  const ownVae = () => path.join(tmp.dir, 'own-vae.safetensors');
  const brightVae = () => path.join(tmp.dir, 'bright.safetensors');
  const cache = () => path.join(home, 'cache', 'engine', 'checkpoints');
  /** The `pinhole-source.json` of every converted folder. */
  const converted = () =>
    readdirSync(cache())
      .filter((n) => /^[0-9a-f]{32}$/.test(n))
      .map((n): Record<string, unknown> & { dir: string } => ({
        dir: path.join(cache(), n),
        ...(JSON.parse(readFileSync(path.join(cache(), n, 'pinhole-source.json'), 'utf8')) as Record<string, unknown>),
      }));

  beforeAll(async () => {
    tmp = makeTempDir('pinhole-vae-');
    home = path.join(tmp.dir, 'home');
    // Standalone VAEs in LDM names (how separate VAEs ship): the checkpoint's own, and one with a raised bias.
    const dict = await openStateDict(CHECKPOINT);
    const vae = [...dict.tensors]
      .filter(([n]) => n.startsWith('first_stage_model.'))
      .map(([n, t]): [string, Tensor] => [n.slice('first_stage_model.'.length), t]);
    await writeSafetensors(
      ownVae(),
      vae.map(([name, t]) => ({ ...t, name })),
    );
    await writeSafetensors(brightVae(), raised(vae, 'decoder.conv_out.bias'));
  });
  afterAll(() => tmp.cleanup());

  it('the checkpoint’s own VAE as a file gives the same pixels, and the parameters name it', async () => {
    const plain = path.join(tmp.dir, 'plain.png');
    const own = path.join(tmp.dir, 'own.png');
    expect((await generate(CHECKPOINT, plain)).code).toBe(0);
    const result = await generate(CHECKPOINT, own, ['--vae', ownVae()]);
    expect(result.code, result.stderr).toBe(0);
    expect((await pixels(own)).equals(await pixels(plain))).toBe(true);
    const parameters = readPngText(readFileSync(own))['parameters']!;
    expect(parameters).toContain(
      `Model: tiny-sd15-public, VAE hash: ${sha256(ownVae()).slice(0, 10)}, VAE: own-vae.safetensors`,
    );
    expect(readPngText(readFileSync(plain))['parameters']).not.toContain('VAE');
    // Converted on the CPU provider: float32 weights, the VAE recorded with the folder.
    expect(converted().map((c) => [c['precision'], c['vaeSha256'] ?? null])).toEqual(
      expect.arrayContaining([
        ['float32', null],
        ['float32', sha256(ownVae())],
      ]),
    );
  });

  it('a library VAE with other weights changes the image; its use is recorded', async () => {
    const imported = await cli('models', 'import', brightVae(), '--json');
    expect(jsonLines(imported.stdout)[0]).toMatchObject({ status: 'imported', kind: 'vae', name: 'bright' });
    const out = path.join(tmp.dir, 'bright.png');
    const result = await generate(CHECKPOINT, out, ['--vae', 'bright']);
    expect(result.code, result.stderr).toBe(0);
    const diff = compareRgb(await pixels(out), await pixels(path.join(tmp.dir, 'plain.png')));
    // The raised output bias brightens every channel: far beyond the reference tolerance.
    expect(Math.min(...diff.mean)).toBeGreaterThan(10);
    const parameters = readPngText(readFileSync(out))['parameters']!;
    expect(parameters).toContain(`VAE hash: ${sha256(brightVae()).slice(0, 10)}, VAE: bright.safetensors`);
    const [vae] = jsonLines((await cli('models', 'list', '--kind', 'vae', '--json')).stdout);
    expect(vae!['lastUsedAt']).toEqual(expect.any(Number));

    const missing = await generate(CHECKPOINT, path.join(tmp.dir, 'none.png'), ['--vae', 'no-such-vae']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No VAE "no-such-vae"');
  });

  it('an ONNX folder takes a separate VAE: its graphs linked, the VAE rebuilt', async () => {
    const folder = fixture('sd15-tiny');
    const diffusersVae = fixture('sd15-tiny', 'vae', 'diffusion_pytorch_model.safetensors');
    const bright = path.join(tmp.dir, 'tiny-bright.safetensors');
    await writeSafetensors(bright, raised((await openStateDict(diffusersVae)).tensors, 'decoder.conv_out.bias'));
    const args = (out: string, extra: string[]) =>
      ['generate', '--model', folder, '--prompt', 'a red ball', '--steps', '4', '--seed', '3']
        .concat(['--width', '64', '--height', '64', '--out', out, '--data-dir', home, '--json'])
        .concat(extra);
    const plain = path.join(tmp.dir, 'tiny.png');
    const own = path.join(tmp.dir, 'tiny-own.png');
    const brighter = path.join(tmp.dir, 'tiny-bright.png');
    for (const [out, extra] of [
      [plain, []],
      [own, ['--vae', diffusersVae]],
      [brighter, ['--vae', bright]],
    ] as const) {
      const result = await runCli(args(out, [...extra]));
      expect(result.code, result.stderr).toBe(0);
    }
    // Our decoder graph, not optimum's export, from the same weights: equal within the reference tolerance.
    const same = compareRgb(await pixels(own), await pixels(plain));
    expect(Math.max(...same.mean)).toBeLessThan(0.5);
    expect(Math.min(...compareRgb(await pixels(brighter), await pixels(plain)).mean)).toBeGreaterThan(10);
    const overlay = converted().find((c) => c['overlayOf'] === folder && c['vaeSha256'] === sha256(bright))!;
    expect(lstatSync(path.join(overlay.dir, 'unet')).isSymbolicLink()).toBe(true);
    expect(lstatSync(path.join(overlay.dir, 'vae_decoder')).isDirectory()).toBe(true);
    expect(readPngText(readFileSync(brighter))['parameters']).toContain('Model: sd15-tiny, VAE hash: ');
  });

  it('--prediction changes the converted folder’s scheduler config and its cache key', async () => {
    const cacheRoot = path.join(tmp.dir, 'cache-prediction');
    const inferred = await convertModel(CHECKPOINT, cacheRoot);
    const overridden = await convertModel(CHECKPOINT, cacheRoot, { prediction: 'v_prediction' });
    expect(overridden).not.toBe(inferred);
    const predictionOf = (dir: string) =>
      (
        JSON.parse(readFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), 'utf8')) as Record<
          string,
          unknown
        >
      )['prediction_type'];
    expect(predictionOf(inferred)).toBe('epsilon');
    expect(predictionOf(overridden)).toBe('v_prediction');
    expect(await convertModel(CHECKPOINT, cacheRoot, { prediction: 'epsilon' })).not.toBe(inferred);
  });

  it('models import --prediction is stored and used when the library model is converted; generate --prediction too', async () => {
    const imported = await cli(
      'models',
      'import',
      CHECKPOINT,
      '--name',
      'Tiny V',
      '--prediction',
      'v_prediction',
      '--json',
    );
    expect(jsonLines(imported.stdout)[0]).toMatchObject({ status: 'imported', kind: 'checkpoint', name: 'Tiny V' });
    const [entry] = jsonLines((await cli('models', 'list', '--kind', 'checkpoint', '--json')).stdout);
    expect(entry).toMatchObject({ name: 'Tiny V', prediction: 'v_prediction' });

    const before = new Set(converted().map((c) => c.dir));
    const byName = await generate('Tiny V', path.join(tmp.dir, 'v-by-name.png'));
    expect(byName.code, byName.stderr).toBe(0);
    const fresh = converted().filter((c) => !before.has(c.dir));
    expect(fresh.map((c) => c['prediction'])).toEqual(['v_prediction']);

    // The same override on the command line for the file is the same conversion: a cache hit.
    const byFile = await generate(CHECKPOINT, path.join(tmp.dir, 'v-by-file.png'), ['--prediction', 'v_prediction']);
    expect(byFile.code, byFile.stderr).toBe(0);
    const afterFile = converted().filter((c) => !before.has(c.dir));
    expect(afterFile.map((c) => c['prediction'])).toEqual(['v_prediction']);

    const bad = await cli('models', 'import', CHECKPOINT, '--prediction', 'sample');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--prediction must be one of epsilon, v_prediction');
  });
});
