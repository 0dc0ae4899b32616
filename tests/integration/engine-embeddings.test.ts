/**
 * Textual-inversion embeddings, checked independently: an embedding whose vectors are copies of existing tokens'
 * rows of the token table must condition exactly like those tokens written out (SD 1.x: sd15-tiny; SDXL:
 * sdxl-tiny with a clip_l / clip_g pair, pooled embeddings included — its second encoder pools by argmax of the
 * ids, which the extra ids must not disturb). A whole generation with the embedding matches the written-out
 * prompt's image through the folder's own encoder; the infotext lists `TI hashes`; embeddings that do not fit the
 * model are errors naming them.
 */
import { createHash } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInfotext } from '../../src-main/engine/image';
import {
  Engine,
  loadModelFolder,
  planLoras,
  PromptEncoder,
  TextEncoder,
  type EncoderPart,
  type GenerateRequest,
} from '../../src-main/engine/pipelines';
import { ClipTokenizer, countTokens } from '../../src-main/engine/text';
import { SafetensorsFile, writeSafetensors } from '../../src-main/engine/weights';
import { compareRgb } from '../helpers/reference-images';
import { FIXTURES } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = path.join(FIXTURES, 'sd15-tiny');
const SDXL = path.join(FIXTURES, 'sdxl-tiny');
const TABLE = 'text_model.embeddings.token_embedding.weight';

const tmp = makeTempDir('pinhole-embeddings-');
const engine = new Engine({ cacheDir: path.join(tmp.dir, 'cache') });
afterAll(async () => {
  await engine.dispose();
  tmp.cleanup();
});

/** Rows `ids` of a text encoder's token table, float32 [ids.length, width]. */
async function tableRows(weights: string, ids: readonly number[]): Promise<{ data: Float32Array; width: number }> {
  const file = await SafetensorsFile.open(weights);
  try {
    const t = await file.read(TABLE, { dtype: 'float32' });
    const width = t.dims[1]!;
    const all = t.data as Float32Array;
    const data = new Float32Array(ids.length * width);
    ids.forEach((id, k) => data.set(all.subarray(id * width, (id + 1) * width), k * width));
    return { data, width };
  } finally {
    await file.close();
  }
}

/** The prompt encoder the pipeline would use for `prompts` with `embeddings` (its merged encoders). */
async function encoderFor(modelDir: string, embeddings: Map<string, string>, prompts: string[]) {
  const model = await loadModelFolder(modelDir);
  const plan = await planLoras(model, [], { embeddings, prompts });
  const part = async (component: 'text_encoder' | 'text_encoder_2', tokenizerDir: string): Promise<EncoderPart> => {
    const build = plan.builds.get(component);
    if (!build) throw new Error(`no ${component} build`);
    const { session } = await engine.runtime.derivedSession(build);
    return { tokenizer: await ClipTokenizer.load(tokenizerDir), encoder: new TextEncoder(session) };
  };
  const first = await part('text_encoder', model.files.tokenizer);
  const second = model.files.tokenizer2 ? await part('text_encoder_2', model.files.tokenizer2) : undefined;
  return {
    plan,
    encoder: new PromptEncoder(first, second, { family: model.traits.family, embeddings: plan.embeddings.embeddings }),
    tokenizer: first.tokenizer,
  };
}

describe('textual-inversion embeddings', () => {
  it('SD 1.x: an embedding equal to "red apple" conditions exactly as "red apple", and counts its vectors', async () => {
    const tokenizer = await ClipTokenizer.load(path.join(SD15, 'tokenizer'));
    const ids = tokenizer.encode('red apple');
    expect(ids).toHaveLength(2);
    const rows = await tableRows(path.join(SD15, 'text_encoder', 'model.safetensors'), ids);
    const file = path.join(tmp.dir, 'shinyfruit.safetensors');
    await writeSafetensors(file, [{ name: 'emb_params', dtype: 'float32', dims: [2, rows.width], data: rows.data }]);

    const embeddings = new Map([['shinyfruit', file]]);
    const withEmbedding = 'a photo of (shinyfruit:1.2), on a table';
    const written = 'a photo of (red apple:1.2), on a table';
    const { encoder, plan } = await encoderFor(SD15, embeddings, [withEmbedding]);
    expect(plan.embeddings.embeddings.map((e) => e.inversion.name)).toEqual(['shinyfruit']);
    const a = await encoder.encode(withEmbedding);
    const b = await encoder.encode(written);
    expect(a.tokens).toBe(77);
    expect(Buffer.from(a.hidden.buffer).equals(Buffer.from(b.hidden.buffer))).toBe(true);
    // Not trivially equal: another prompt differs.
    const c = await encoder.encode('a photo of (green apple:1.2), on a table');
    expect(Buffer.from(c.hidden.buffer).equals(Buffer.from(b.hidden.buffer))).toBe(false);

    // The counter counts the vectors (2), not the name's tokens.
    const nameIds = tokenizer.encode('shinyfruit');
    expect(nameIds.length).not.toBe(2);
    const count = countTokens(tokenizer, withEmbedding, { embeddings: [{ nameIds, ids: [49408, 49409] }] });
    expect(count.count).toBe(countTokens(tokenizer, written).count);
  });

  it('SD 1.x: a generation with the embedding matches the written-out prompt, and lists TI hashes', async () => {
    const tokenizer = await ClipTokenizer.load(path.join(SD15, 'tokenizer'));
    const ids = tokenizer.encode('red apple');
    const rows = await tableRows(path.join(SD15, 'text_encoder', 'model.safetensors'), ids);
    const file = path.join(tmp.dir, 'shinyfruit.safetensors');
    await writeSafetensors(file, [{ name: 'emb_params', dtype: 'float32', dims: [2, rows.width], data: rows.data }]);
    const request = (prompt: string): GenerateRequest => ({
      model: SD15,
      prompt,
      negativePrompt: 'blurry',
      seed: 42n,
      sampler: 'euler',
      steps: 4,
      cfgScale: 7,
      networks: { embeddings: { shinyfruit: file } },
    });
    const withEmbedding = await engine.generate(request('a shinyfruit on a table'));
    const written = await engine.generate(request('a red apple on a table'));
    // The written-out prompt runs the folder's exported encoder, the embedding a merged build: equal within float
    // rounding, far below the image tolerance.
    const { mean, max } = compareRgb(withEmbedding.images[0]!.image.data, written.images[0]!.image.data);
    expect(Math.max(...mean)).toBeLessThan(0.5);
    expect(max).toBeLessThanOrEqual(2);
    const params = parseInfotext(withEmbedding.images[0]!.parameters).params;
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(params['TI hashes']).toBe(`shinyfruit: ${sha.slice(0, 12)}`);
    expect(parseInfotext(written.images[0]!.parameters).params['TI hashes']).toBeUndefined();
  });

  it('SDXL: a clip_l / clip_g pair conditions and pools exactly as the tokens it copies', async () => {
    const t1 = await ClipTokenizer.load(path.join(SDXL, 'tokenizer'));
    const ids = t1.encode('red apple');
    const l = await tableRows(path.join(SDXL, 'text_encoder', 'model.safetensors'), ids);
    const g = await tableRows(path.join(SDXL, 'text_encoder_2', 'model.safetensors'), ids);
    const file = path.join(tmp.dir, 'xlfruit.safetensors');
    await writeSafetensors(file, [
      { name: 'clip_g', dtype: 'float32', dims: [2, g.width], data: g.data },
      { name: 'clip_l', dtype: 'float32', dims: [2, l.width], data: l.data },
    ]);
    const prompt = 'a xlfruit on a table';
    const { encoder } = await encoderFor(SDXL, new Map([['xlfruit', file]]), [prompt]);
    const a = await encoder.encode(prompt);
    const b = await encoder.encode('a red apple on a table');
    expect(Buffer.from(a.hidden.buffer).equals(Buffer.from(b.hidden.buffer))).toBe(true);
    expect(a.pooled).toBeDefined();
    expect(Buffer.from(a.pooled!.buffer).equals(Buffer.from(b.pooled!.buffer))).toBe(true);

    // An SD 1.x embedding does not fit SDXL: an error naming it.
    const single = path.join(tmp.dir, 'single.safetensors');
    await writeSafetensors(single, [
      { name: 'emb_params', dtype: 'float32', dims: [1, l.width], data: l.data.slice(0, l.width) },
    ]);
    const model = await loadModelFolder(SDXL);
    await expect(
      planLoras(model, [], { embeddings: new Map([['single', single]]), prompts: ['a single'] }),
    ).rejects.toThrow(/Embedding "single".*does not fit this model/);
  });

  it('rejects files that are not embeddings, naming them', async () => {
    const bad = path.join(tmp.dir, 'twotensors.safetensors');
    await writeSafetensors(bad, [
      { name: 'a', dtype: 'float32', dims: [1, 32], data: new Float32Array(32) },
      { name: 'b', dtype: 'float32', dims: [1, 32], data: new Float32Array(32) },
    ]);
    const model = await loadModelFolder(SD15);
    await expect(
      planLoras(model, [], { embeddings: new Map([['twotensors', bad]]), prompts: ['twotensors'] }),
    ).rejects.toThrow(/twotensors\.safetensors is not a textual-inversion embedding: it holds 2 tensors/);
    // A folder without the encoder's diffusers weights cannot take embeddings: it says so.
    const onnxOnly = path.join(tmp.dir, 'onnx-only');
    cpSync(SD15, onnxOnly, {
      recursive: true,
      filter: (src) =>
        !src.includes(`${path.sep}training`) && !src.endsWith(`text_encoder${path.sep}model.safetensors`),
    });
    const good = path.join(tmp.dir, 'good.safetensors');
    await writeSafetensors(good, [{ name: 'emb_params', dtype: 'float32', dims: [1, 32], data: new Float32Array(32) }]);
    await expect(
      planLoras(await loadModelFolder(onnxOnly), [], {
        embeddings: new Map([['good', good]]),
        prompts: ['a good cat'],
      }),
    ).rejects.toThrow(/uses the embedding "good", so the model needs its diffusers text encoder weights/);
    // A name inside another word is not the embedding (the tokens decide, as in chunking).
    const tokenizer = await ClipTokenizer.load(path.join(SD15, 'tokenizer'));
    const inWord = await planLoras(model, [], {
      embeddings: new Map([['cat', good]]),
      prompts: ['a category of things'],
      tokenizer,
    });
    expect(inWord.embeddings.embeddings).toHaveLength(0);
    const asWord = await planLoras(model, [], { embeddings: new Map([['cat', good]]), prompts: ['a cat'], tokenizer });
    expect(asWord.embeddings.embeddings.map((e) => e.inversion.name)).toEqual(['cat']);
    // Unused embeddings are not even read.
    const plan = await planLoras(model, [], { embeddings: new Map([['twotensors', bad]]), prompts: ['a cat'] });
    expect(plan.embeddings.embeddings).toHaveLength(0);
    expect(plan.builds.size).toBe(0);
  });
});
