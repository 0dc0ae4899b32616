/**
 * What a generate request's model choice becomes before the engine runs: the weight precision follows the
 * engine's execution provider (float16 on GPU providers, float32 on the CPU), a separate VAE is found in the
 * library or as a file (hash and name for the infotext, its last use marked), and the prediction override and
 * precision reach the conversion.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { precisionForProvider } from '../../src-main/engine/checkpoint';
import { formatInfotext } from '../../src-main/engine/image/infotext';
import { createModelSourceResolver, type ConvertChoices } from '../../src-main/generation/library-source';
import type { ModelLibrary, ResolvedModel } from '../../src-main/models';
import { makeTempDir } from '../helpers/temp-dir';

const tmp = makeTempDir('pinhole-model-choice-');
afterAll(() => tmp.cleanup());

describe('weight precision per execution provider', () => {
  it('is float16 on GPU providers and float32 on the CPU', () => {
    expect(precisionForProvider('cpu')).toBe('float32');
    for (const gpu of ['cuda', 'dml', 'coreml', 'webgpu'] as const) expect(precisionForProvider(gpu)).toBe('float16');
  });
});

describe('the model source resolver', () => {
  const checkpoint = path.join(tmp.dir, 'base.safetensors');
  const looseVae = path.join(tmp.dir, 'loose-vae.safetensors');
  writeFileSync(checkpoint, 'x');
  writeFileSync(looseVae, 'y');
  const record = (kind: 'checkpoint' | 'vae', name: string) =>
    ({
      id: `model_${name}`,
      name,
      kind,
      sha256: `${kind === 'vae' ? 'b' : 'a'}`.repeat(64),
    }) as ResolvedModel['record'];
  const library: Record<string, ResolvedModel> = {
    'checkpoint:Base': { record: record('checkpoint', 'Base'), file: '/home/models/checkpoints/Base.safetensors' },
    'vae:Sharp': { record: record('vae', 'Sharp'), file: '/home/models/vae/Sharp.safetensors' },
  };
  const used: string[] = [];
  const models = {
    resolve: (ref: string, kind: string) => library[`${kind}:${ref}`] ?? null,
    markUsed: (id: string) => used.push(id),
  } as unknown as ModelLibrary;

  const setup = (precision: 'float32' | 'float16') => {
    const calls: { file: string; options: ConvertChoices }[] = [];
    const resolve = createModelSourceResolver(
      models,
      (file, options) => {
        calls.push({ file, options });
        return Promise.resolve('/cache/converted');
      },
      {
        precision: () => Promise.resolve(precision),
        hashFile: (file) => Promise.resolve(`c0ffee${file.length}`.padEnd(64, '0')),
      },
    );
    return { resolve, calls };
  };

  it('converts a library checkpoint with a library VAE, the override and the provider’s precision', async () => {
    used.length = 0;
    const { resolve, calls } = setup('float16');
    const source = await resolve({ model: 'Base', vae: 'Sharp', prediction: 'v_prediction' }, {});
    expect(calls).toEqual([
      {
        file: '/home/models/checkpoints/Base.safetensors',
        options: { vae: '/home/models/vae/Sharp.safetensors', prediction: 'v_prediction', precision: 'float16' },
      },
    ]);
    // A1111 names a loaded VAE by its file name, extension included.
    expect(source).toEqual({
      folder: '/cache/converted',
      modelHash: 'a'.repeat(64),
      modelName: 'Base',
      vaeHash: 'b'.repeat(64),
      vaeName: 'Sharp.safetensors',
    });
    expect(used).toEqual(['model_Base', 'model_Sharp']);
  });

  it('takes a VAE file outside the library, hashed by the studio', async () => {
    const { resolve, calls } = setup('float32');
    const source = await resolve({ model: checkpoint, vae: looseVae }, {});
    expect(calls[0]!.options).toMatchObject({ vae: looseVae, precision: 'float32' });
    expect(source.vaeName).toBe('loose-vae.safetensors');
    expect(source.vaeHash).toBe(`c0ffee${looseVae.length}`.padEnd(64, '0'));
  });

  it('uses the model’s own VAE when none is chosen, and refuses a VAE that is nowhere', async () => {
    const { resolve, calls } = setup('float32');
    const own = await resolve({ model: checkpoint }, {});
    expect(calls[0]!.options.vae).toBeUndefined();
    expect(own.vaeHash).toBeUndefined();
    expect(own.vaeName).toBeUndefined();
    await expect(resolve({ model: checkpoint, vae: 'Nope' }, {})).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('No VAE "Nope"'),
    });
  });
});

describe('the infotext with a separate VAE', () => {
  it('records the VAE’s short hash and name right after the model, as A1111 does', () => {
    const text = formatInfotext({
      prompt: 'a cat',
      steps: 20,
      sampler: 'Euler a',
      cfgScale: 7,
      seed: 1,
      width: 512,
      height: 512,
      modelHash: '6ce0161689',
      modelName: 'v1-5',
      vaeHash: '735e4c3a44',
      vaeName: 'vae-ft-mse-840000-ema-pruned.safetensors',
      clipSkip: 2,
    });
    expect(text.split('\n')[1]).toBe(
      'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: 6ce0161689, Model: v1-5, ' +
        'VAE hash: 735e4c3a44, VAE: vae-ft-mse-840000-ema-pruned.safetensors, Clip skip: 2',
    );
  });
});
