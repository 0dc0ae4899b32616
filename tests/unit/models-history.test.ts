/**
 * What a model was used for, as a removal reports it: which generated images' metadata names it (by the exact
 * infotext hash for checkpoints, VAEs and embeddings; by the request for LoRAs) and which training runs used a
 * checkpoint as their base (by the library file or name, or by the converted folder's recorded source).
 */
import { describe, expect, it } from 'vitest';
import type { JobView } from '../../src-shared/api';
import {
  describeHistory,
  imageMatch,
  trainedOn,
  type ConvertedSourceReader,
  type ImageMetadata,
} from '../../src-main/models/model-history';
import type { ModelRecord } from '../../src-main/models/model-store';

const SHA = '0589c795561234567890abcdef1234567890abcdef1234567890abcdef123456';
const FILE = '/home/models/checkpoints/Base.safetensors';
const record = (over: Partial<ModelRecord>): ModelRecord => ({
  id: 'model_1',
  name: 'Base',
  kind: 'checkpoint',
  family: 'sd1',
  variant: null,
  nativeResolution: 512,
  bytes: 1,
  sha256: SHA,
  shortHash: SHA.slice(0, 10),
  source: 'file',
  origin: '/x',
  storedPath: 'models/checkpoints/Base.safetensors',
  addedAt: 0,
  lastUsedAt: null,
  isDefault: false,
  prediction: null,
  ...over,
});
const infotext = (fields: string): ImageMetadata => ({
  parameters: `a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ${fields}`,
});
const matches = (r: ModelRecord, m: ImageMetadata) => imageMatch(r, FILE).test(m);

describe('images made with a model', () => {
  it('checkpoints and VAEs: their exact short hash in its own infotext field', () => {
    const base = record({});
    expect(matches(base, infotext('Model hash: 0589c79556, Model: Base'))).toBe(true);
    expect(matches(base, infotext('Model hash: 0589c79556'))).toBe(true);
    expect(matches(base, infotext('Model hash: 0589c795561, Model: Base'))).toBe(false); // a longer hash
    expect(matches(base, infotext('Model hash: 1111111111, VAE hash: 0589c79556'))).toBe(false); // another field
    expect(matches(base, { parameters: 42 })).toBe(false);
    const vae = record({ kind: 'vae' });
    expect(matches(vae, infotext('Model hash: 1111111111, VAE hash: 0589c79556, VAE: x.safetensors'))).toBe(true);
    expect(imageMatch(base, FILE).hint).toBe('Model hash: 0589c79556');
  });

  it('embeddings: their first 12 hex digits among the TI hashes', () => {
    const ti = record({ kind: 'embedding', name: 'sty' });
    expect(matches(ti, infotext('TI hashes: "other: 123456789abc, sty: 0589c7955612"'))).toBe(true);
    expect(matches(ti, infotext('TI hashes: "sty: 0589c7955613"'))).toBe(false);
  });

  it('LoRAs: the request the image was made from names it (tag or file)', () => {
    const lora = record({ kind: 'lora', name: 'Style' });
    expect(matches(lora, { request: { prompt: 'a cat <lora:style:0.8>' } })).toBe(true);
    expect(matches(lora, { request: { prompt: 'a cat', loras: [{ path: FILE, weight: 1 }] } })).toBe(true);
    expect(matches(lora, { request: { prompt: 'a cat <lora:styles:0.8>' } })).toBe(false);
    expect(matches(lora, { parameters: 'Lora hashes: "Style: abc"' })).toBe(false);
  });
});

describe('training runs based on a checkpoint', () => {
  const train = (model: unknown, state: JobView['state'] = 'succeeded'): JobView =>
    ({
      id: 'job_7',
      kind: 'train',
      state,
      title: 'Train LoRA out.safetensors',
      params: { request: { model } },
    }) as unknown as JobView;
  const folders: Record<string, ReturnType<ConvertedSourceReader>> = {
    '/cache/a': { source: '/old/place/Base.safetensors', sha256: SHA },
    '/cache/b': { source: FILE, sha256: undefined },
    '/cache/c': { source: '/else.safetensors', sha256: 'f'.repeat(64) },
  };
  const reader: ConvertedSourceReader = (folder) => folders[folder];

  it('by the library file or name, or by what the converted folder it trained on came from', () => {
    const base = record({});
    expect(trainedOn(train(FILE), base, FILE, reader)).toBe(true);
    expect(trainedOn(train('base'), base, FILE, reader)).toBe(true);
    expect(trainedOn(train('/cache/a'), base, FILE, reader)).toBe(true); // the same bytes, wherever they were
    expect(trainedOn(train('/cache/b'), base, FILE, reader)).toBe(true); // recorded before hashes: by path
    expect(trainedOn(train('/cache/c'), base, FILE, reader)).toBe(false);
    expect(trainedOn(train('/models/other'), base, FILE, reader)).toBe(false);
    expect(trainedOn(train(FILE), record({ kind: 'lora' }), FILE, reader)).toBe(false);
  });

  it('describes the images and the runs', () => {
    const lines = describeHistory(record({}), FILE, {
      countImages: (hint) => (hint === 'Model hash: 0589c79556' ? 3 : 0),
      trainJobs: [train('/cache/a'), train('/cache/c', 'failed')],
      convertedSource: reader,
    });
    expect(lines).toEqual([
      '3 generated images in the gallery',
      'LoRA training run job_7 (succeeded): Train LoRA out.safetensors',
    ]);
    expect(describeHistory(record({}), FILE, { countImages: () => 1, trainJobs: [], convertedSource: reader })).toEqual(
      ['1 generated image in the gallery'],
    );
  });
});
