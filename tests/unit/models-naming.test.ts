/**
 * The models library's pure rules: names from file names, which jobs use a model (what removal
 * warns about), which files a dropped folder contributes, and what `--model` names.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelName, type JobView } from '../../src-shared/api';
import { modelArgument } from '../../src-main/cli/model-argument';
import { expandModelPaths } from '../../src-main/models';
import { modelExtension, nameFromFile } from '../../src-main/models/model-file-info';
import type { ModelRecord } from '../../src-main/models/model-store';
import { describeUsers, jobUses } from '../../src-main/models/model-usage';
import { makeTempDir } from '../helpers/temp-dir';

const record = (over: Partial<ModelRecord>): ModelRecord => ({
  id: 'model_1',
  name: 'Style',
  kind: 'lora',
  family: null,
  variant: null,
  nativeResolution: null,
  bytes: 1,
  sha256: 'a'.repeat(64),
  shortHash: 'a'.repeat(10),
  source: 'file',
  origin: '/x',
  storedPath: 'models/loras/Style.safetensors',
  addedAt: 0,
  lastUsedAt: null,
  isDefault: false,
  prediction: null,
  ...over,
});

const job = (request: Record<string, unknown>, state: JobView['state'] = 'queued'): JobView =>
  ({ id: 'job_1', kind: 'generate', state, title: 'Generate', params: { request } }) as unknown as JobView;

describe('model names', () => {
  it('come from the file name without its model extension, with unsafe characters replaced', () => {
    expect(nameFromFile('/a/b/v1-5-pruned.safetensors')).toBe('v1-5-pruned');
    expect(nameFromFile('C:\\models\\My Model.CKPT')).toBe('My Model');
    expect(nameFromFile('weird:name?.pt')).toBe('weird_name_');
    expect(nameFromFile('.hidden.safetensors')).toBe('hidden');
    expect(nameFromFile('model.tar')).toBe('model.tar');
    expect(modelExtension('x.SafeTensors')).toBe('.safetensors');
    expect(modelExtension('x.gguf')).toBeNull();
  });

  it('are validated as safe file names', () => {
    expect(ModelName.safeParse('  Portrait v2 ').data).toBe('Portrait v2');
    for (const bad of ['', 'a/b', 'a\\b', 'what?', '.', '..', 'trailing.', 'x'.repeat(121), 'tab\tname']) {
      expect(ModelName.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe('what uses a model', () => {
  const file = '/home/models/loras/Style.safetensors';

  it('finds LoRAs named in prompt tags, by path, and checkpoints by name or path', () => {
    const lora = record({});
    expect(jobUses(job({ model: 'm', prompt: 'a cat <lora:style:0.8>' }), lora, file)).toBe(true);
    expect(jobUses(job({ model: 'm', prompt: 'a cat', negativePrompt: '<lyco:Style>' }), lora, file)).toBe(true);
    expect(jobUses(job({ model: 'm', prompt: 'a cat', loras: [{ path: file, weight: 1 }] }), lora, file)).toBe(true);
    expect(jobUses(job({ model: 'm', prompt: 'a cat <lora:stylish:1>' }), lora, file)).toBe(false);
    expect(jobUses(job({ model: 'Style', prompt: 'a cat' }), lora, file)).toBe(false);

    const checkpoint = record({ kind: 'checkpoint', name: 'Base' });
    expect(jobUses(job({ model: 'base', prompt: 'x' }), checkpoint, '/c.safetensors')).toBe(true);
    expect(jobUses(job({ model: '/c.safetensors', prompt: 'x' }), checkpoint, '/c.safetensors')).toBe(true);
    expect(jobUses(job({ model: '/other', prompt: 'x' }), checkpoint, '/c.safetensors')).toBe(false);
    expect(jobUses({ ...job({}), params: null }, checkpoint, '/c.safetensors')).toBe(false);
  });

  it('finds a separate VAE by name or path, and only as the VAE', () => {
    const vae = record({ kind: 'vae', name: 'Sharp', storedPath: 'models/vae/Sharp.safetensors' });
    const vaeFile = '/home/models/vae/Sharp.safetensors';
    expect(jobUses(job({ model: 'm', prompt: 'x', vae: 'sharp' }), vae, vaeFile)).toBe(true);
    expect(jobUses(job({ model: 'm', prompt: 'x', vae: vaeFile }), vae, vaeFile)).toBe(true);
    expect(jobUses(job({ model: 'm', prompt: 'x', vae: 'other' }), vae, vaeFile)).toBe(false);
    // A checkpoint named like the VAE is not the VAE.
    expect(jobUses(job({ model: 'Sharp', prompt: 'x' }), vae, vaeFile)).toBe(false);
  });

  it('finds embeddings by their word in a prompt, not inside other words', () => {
    const embedding = record({ kind: 'embedding', name: 'bad-hands' });
    expect(jobUses(job({ model: 'm', prompt: 'x', negativePrompt: 'blurry, bad-hands' }), embedding, file)).toBe(true);
    expect(jobUses(job({ model: 'm', prompt: 'very-bad-handsome' }), embedding, file)).toBe(false);
  });

  it('describes the default and each job', () => {
    const users = describeUsers(record({ isDefault: true }), file, [
      job({ model: 'm', prompt: '<lora:Style>' }, 'running'),
    ]);
    expect(users).toEqual(['the default lora', 'job job_1 (running): Generate']);
  });
});

describe('dropped paths', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (tmp = makeTempDir('pinhole-models-unit-')));
  afterEach(() => tmp.cleanup());

  it('a folder gives its model files (recursively); named files are taken as given; a model folder stays one', () => {
    const dir = path.join(tmp.dir, 'drop');
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    mkdirSync(path.join(dir, 'diffusers'));
    writeFileSync(path.join(dir, 'b.safetensors'), 'x');
    writeFileSync(path.join(dir, 'a.txt'), 'x');
    writeFileSync(path.join(dir, '.hidden.ckpt'), 'x');
    writeFileSync(path.join(dir, 'sub', 'c.ckpt'), 'x');
    writeFileSync(path.join(dir, 'diffusers', 'model_index.json'), '{}');
    const named = path.join(tmp.dir, 'notes.txt');
    const entries = expandModelPaths([dir, named, path.join(dir, 'diffusers')]);
    expect(entries.map((e) => path.relative(tmp.dir, e.path))).toEqual([
      path.join('drop', 'b.safetensors'),
      path.join('drop', 'sub', 'c.ckpt'),
      'notes.txt',
      path.join('drop', 'diffusers'),
    ]);
  });

  it('an upload batch gives every file, named by its place in the batch', () => {
    const batch = path.join(tmp.dir, 'upload_1');
    mkdirSync(batch);
    writeFileSync(path.join(batch, 'z.bin'), 'x');
    writeFileSync(path.join(batch, 'notes.txt'), 'x');
    expect(expandModelPaths([batch], batch).map((e) => e.file)).toEqual(['notes.txt', 'z.bin']);
  });

  it('--model is a path when one exists, else a library name passed as given', () => {
    expect(modelArgument(tmp.dir)).toEqual({ kind: 'path', path: tmp.dir });
    expect(modelArgument('Portrait v2')).toEqual({ kind: 'name', name: 'Portrait v2' });
  });
});
