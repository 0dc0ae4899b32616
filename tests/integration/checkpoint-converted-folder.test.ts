/**
 * What a converted folder remembers of its checkpoint: the family its key names gave (`pinhole_family`, which the
 * pipeline's family detection honours — a tiny SD 2.x model's widths alone read as SD 1.x) and the file's SHA-256
 * and name (`pinhole-source.json`, which the infotext's `Model hash` / `Model` come from, whoever converted it).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertModel, readConvertedSource } from '../../src-main/engine/checkpoint';
import { diffusersComponents } from '../../src-main/engine/checkpoint/diffusers-folder';
import { detectTraits, loadModelFolder } from '../../src-main/engine/pipelines';
import { writeLdmSafetensors, type LdmArch } from '../helpers/ldm-checkpoint';
import { makeTempDir } from '../helpers/temp-dir';

/** A tiny SD 2.x checkpoint (OpenCLIP text encoder): 64 wide, so no width says "SD 2.x". */
const SD2: LdmArch = {
  family: 'sd2',
  unet: {
    inChannels: 4,
    modelChannels: 32,
    mult: [1, 2],
    layers: 1,
    depth: [1, 1],
    midDepth: 1,
    context: 64,
    linearProjection: true,
  },
  vae: { ch: 32, mult: [1, 2], layers: 1, z: 4 },
  openClip: { width: 64, layers: 3, vocab: 49408, positions: 77, projection: 32 },
};

/** Small deterministic float16 weights. */
function fill(key: string, count: number): Uint16Array {
  let s = [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s & 0x8000) | (0x1c00 + ((s >>> 16) % 0x1000));
  }
  return out;
}

describe('a converted folder remembers its checkpoint', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let checkpoint: string;
  let folder: string;
  beforeAll(async () => {
    tmp = makeTempDir('pinhole-converted-');
    checkpoint = path.join(tmp.dir, 'Tiny SD2.safetensors');
    await writeLdmSafetensors(checkpoint, SD2, 'float16', fill);
    folder = await convertModel(checkpoint, path.join(tmp.dir, 'cache'));
  });
  afterAll(() => tmp.cleanup());

  it('the family its key names gave: SD 2.x, though its widths look like SD 1.x', async () => {
    const index = JSON.parse(readFileSync(path.join(folder, 'model_index.json'), 'utf8')) as Record<string, unknown>;
    expect(index['pinhole_family']).toBe('sd2');
    const model = await loadModelFolder(folder);
    expect(model.traits.family).toBe('sd2');
    expect(model.traits.label).toBe('SD 2.x');
    // Read again as a diffusers folder (e.g. to swap its VAE), it stays SD 2.x.
    expect((await diffusersComponents(folder)).components.family).toBe('sd2');
    // Without the marker the same configs read as SD 1.x: the marker is what decides.
    const sources = {
      schedulerConfig: model.schedulerConfig,
      unetConfig: model.unetConfig,
      textEncoderConfig: model.textEncoderConfig,
      hasSecondEncoder: false,
    };
    const unmarked = { ...index };
    delete unmarked['pinhole_family'];
    expect(detectTraits({ ...sources, modelIndex: unmarked }).family).toBe('sd1');
    expect(detectTraits({ ...sources, modelIndex: { ...unmarked, pinhole_family: 'sd2' } }).family).toBe('sd2');
  });

  it('the file’s SHA-256 and name, for the infotext; kept current on a cache hit', async () => {
    const sha = createHash('sha256').update(readFileSync(checkpoint)).digest('hex');
    expect(readConvertedSource(folder)).toMatchObject({ source: checkpoint, sha256: sha });
    expect((await loadModelFolder(folder)).source).toEqual({ name: 'Tiny SD2', sha256: sha });

    const record = path.join(folder, 'pinhole-source.json');
    const older = JSON.parse(readFileSync(record, 'utf8')) as Record<string, unknown>;
    delete older['sha256'];
    writeFileSync(record, JSON.stringify(older));
    expect(readConvertedSource(folder)?.sha256).toBeUndefined();
    expect(await convertModel(checkpoint, path.join(tmp.dir, 'cache'))).toBe(folder); // a cache hit
    expect(readConvertedSource(folder)?.sha256).toBe(sha);

    // The same bytes under another name share the folder (the cache is keyed by content): the file in use names it.
    const copy = path.join(tmp.dir, 'copy of it.safetensors');
    writeFileSync(copy, readFileSync(checkpoint));
    expect(await convertModel(copy, path.join(tmp.dir, 'cache'))).toBe(folder);
    expect((await loadModelFolder(folder)).source).toEqual({ name: 'copy of it', sha256: sha });
  });

  it('other folders have no source', () => {
    expect(readConvertedSource(tmp.dir)).toBeUndefined();
  });
});
