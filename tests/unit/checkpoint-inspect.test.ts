/**
 * Inspection for the models library (kind, family, resolution, precision) and A1111's short hash; the free-space
 * check refuses a conversion before anything is written.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { a1111ShortHash, convertModel, inspectModelFile } from '../../src-main/engine/checkpoint';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const fsState = vi.hoisted(() => ({ freeBytes: undefined as number | undefined }));
vi.mock('node:fs/promises', async (original) => {
  const actual = await original<typeof FsPromises>();
  return {
    ...actual,
    statfs: async (p: string) =>
      fsState.freeBytes === undefined
        ? actual.statfs(p)
        : { ...(await actual.statfs(p)), bavail: fsState.freeBytes, bsize: 1 },
  };
});

describe('inspectModelFile and a1111ShortHash', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-inspect-')));
  afterAll(() => tmp.cleanup());

  it('describes checkpoints (safetensors and pickle), LoRAs, VAEs-in-folders and model folders', async () => {
    const st = await inspectModelFile(fixture('sd15-single/tiny-sd15-public.safetensors'));
    expect(st).toMatchObject({
      kind: 'checkpoint',
      family: 'sd1',
      nativeResolution: 512,
      precision: 'float16',
      format: 'safetensors',
      variants: [],
    });
    const ckpt = await inspectModelFile(fixture('sd15-single/tiny-sd15-public.ckpt'));
    expect(ckpt).toMatchObject({ kind: 'checkpoint', family: 'sd1', format: 'pickle', precision: 'float16' });
    expect(await inspectModelFile(fixture('sd15-tiny/training/style.safetensors'))).toMatchObject({ kind: 'lora' });
    expect(await inspectModelFile(fixture('sd15-tiny/vae/diffusion_pytorch_model.safetensors'))).toMatchObject({
      kind: 'vae',
    });
    expect(await inspectModelFile(fixture('sd15-tiny'))).toMatchObject({ kind: 'onnx-folder' });
    await expect(inspectModelFile(fixture('sd15-single/hostile-public.ckpt'))).rejects.toThrow(/refused/);
    await expect(inspectModelFile(path.join(tmp.dir, 'nope.safetensors'))).rejects.toThrow(/not found/);
  });

  it('the short hash is the first 10 hex digits of the file’s SHA-256', async () => {
    const file = fixture('sd15-single/tiny-sd15-public.safetensors');
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(await a1111ShortHash(file)).toBe(sha.slice(0, 10));
    expect(await a1111ShortHash(file, path.join(tmp.dir, 'cache'))).toBe(sha.slice(0, 10));
    expect(await a1111ShortHash(file, path.join(tmp.dir, 'cache'))).toBe(sha.slice(0, 10)); // remembered
  });

  it('refuses to convert without enough free disk space, writing nothing', async () => {
    const cache = path.join(tmp.dir, 'full-disk');
    fsState.freeBytes = 1_000_000;
    try {
      await expect(convertModel(fixture('sd15-single/tiny-sd15-public.safetensors'), cache)).rejects.toThrow(
        /Not enough disk space to convert .*tiny-sd15-public\.safetensors: about [\d.]+ GB are needed/,
      );
    } finally {
      fsState.freeBytes = undefined;
    }
    expect(readdirSync(cache).filter((n) => n !== 'hashes')).toEqual([]);
  });
});
