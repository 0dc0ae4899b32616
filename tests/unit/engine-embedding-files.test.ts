/**
 * Textual-inversion embedding files: `.safetensors` (one tensor, 1-D or 2-D; SDXL's clip_l / clip_g pair) and
 * A1111's `.pt` (`string_to_param` → `*`, written here in torch's legacy layout by an independent writer) give
 * the vectors as stored; files that are not embeddings and pickles calling anything but tensor rebuilds are
 * refused, naming the file.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTextualInversion } from '../../src-main/engine/text';
import { writeSafetensors } from '../../src-main/engine/weights';
import { makeTempDir } from '../helpers/temp-dir';
import { writeLegacyTorchFile } from '../helpers/torch-legacy-pickle';

const tmp = makeTempDir('pinhole-embedding-files-');
afterAll(() => tmp.cleanup());

const vectors = Float32Array.from({ length: 3 * 8 }, (_, i) => Math.sin(i) * 0.1);

describe('textual-inversion files', () => {
  it('reads emb_params from .safetensors, and a 1-D tensor as one vector', async () => {
    const file = path.join(tmp.dir, 'three.safetensors');
    await writeSafetensors(file, [{ name: 'emb_params', dtype: 'float32', dims: [3, 8], data: vectors }]);
    const emb = await readTextualInversion(file);
    expect(emb.name).toBe('three');
    expect(emb.vectors).toBe(3);
    expect(Array.from(emb.parts.get('single')!.data)).toEqual(Array.from(vectors));
    const one = path.join(tmp.dir, 'one.safetensors');
    await writeSafetensors(one, [{ name: 'x', dtype: 'float32', dims: [8], data: vectors.slice(0, 8) }]);
    expect((await readTextualInversion(one)).vectors).toBe(1);
  });

  it("reads A1111's .pt (string_to_param['*']) through the restricted pickle reader", async () => {
    const file = path.join(tmp.dir, 'legacy.pt');
    writeLegacyTorchFile(file, {
      string_to_token: { '*': 265 },
      string_to_param: { '*': { tensor: vectors, dims: [3, 8] } },
      name: 'legacy',
      step: 500,
    });
    const emb = await readTextualInversion(file);
    expect(emb.name).toBe('legacy');
    expect(emb.vectors).toBe(3);
    expect(emb.parts.get('single')!.width).toBe(8);
    expect(Array.from(emb.parts.get('single')!.data)).toEqual(Array.from(vectors));
  });

  it('refuses a .pt that calls anything but tensor rebuilds, naming it', async () => {
    const file = path.join(tmp.dir, 'hostile.pt');
    writeLegacyTorchFile(file, {
      string_to_param: { '*': { tensor: vectors, dims: [3, 8] } },
      name: { global: 'os.system', args: ['touch /tmp/pinhole-should-not-exist'] },
    });
    await expect(readTextualInversion(file)).rejects.toThrow(/hostile\.pt.*os\.system|os\.system.*hostile\.pt/s);
  });

  it('reads an SDXL clip_l / clip_g pair, and rejects what is not an embedding', async () => {
    const pair = path.join(tmp.dir, 'pair.safetensors');
    await writeSafetensors(pair, [
      { name: 'clip_g', dtype: 'float32', dims: [2, 4], data: vectors.slice(0, 8) },
      { name: 'clip_l', dtype: 'float32', dims: [2, 3], data: vectors.slice(0, 6) },
    ]);
    const emb = await readTextualInversion(pair);
    expect([emb.vectors, emb.parts.get('clip_l')!.width, emb.parts.get('clip_g')!.width]).toEqual([2, 3, 4]);

    const uneven = path.join(tmp.dir, 'uneven.safetensors');
    await writeSafetensors(uneven, [
      { name: 'clip_g', dtype: 'float32', dims: [2, 4], data: vectors.slice(0, 8) },
      { name: 'clip_l', dtype: 'float32', dims: [3, 2], data: vectors.slice(0, 6) },
    ]);
    await expect(readTextualInversion(uneven)).rejects.toThrow(/uneven\.safetensors.*clip_l has 3 vectors, clip_g 2/);
    const cube = path.join(tmp.dir, 'cube.safetensors');
    await writeSafetensors(cube, [
      { name: 'emb_params', dtype: 'float32', dims: [2, 2, 2], data: vectors.slice(0, 8) },
    ]);
    await expect(readTextualInversion(cube)).rejects.toThrow(
      /cube\.safetensors is not a textual-inversion embedding: emb_params is \[2, 2, 2\]/,
    );
    await expect(readTextualInversion(path.join(tmp.dir, 'missing.safetensors'))).rejects.toThrow(
      /missing\.safetensors/,
    );
  });
});
