/**
 * The CLIP text encoder built from the fixtures' transformers-layout weights, run in onnxruntime
 * (CPU) against the fixtures' own ONNX exports and the reference embeddings.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, type Model } from '../../src-main/engine/graph';
import {
  buildClipTextModel,
  type ClipTextConfig,
  type ClipTextOptions,
  type ModuleCall,
  type WeightSource,
} from '../../src-main/engine/models';
import type { SafetensorsFile } from '../../src-main/engine/weights';
import { FIXTURES } from '../helpers/fixtures';
import { openSafetensorsModel, readFloat32, runOnnx } from '../helpers/onnx';

const TOLERANCE = 1e-4;
const BOS = 49406;
const EOS = 49407;

type Encoder = { config: ClipTextConfig; weights: WeightSource; file: SafetensorsFile; onnx: string };

async function openEncoder(folder: string): Promise<Encoder> {
  const dir = path.join(FIXTURES, folder);
  const opened = await openSafetensorsModel<ClipTextConfig>(
    path.join(dir, 'model.safetensors'),
    path.join(dir, 'config.json'),
  );
  return { ...opened, onnx: path.join(dir, 'model.onnx') };
}

function idsTensor(rows: number[][], type: 'int32' | 'int64'): ort.Tensor {
  const flat = rows.flat();
  return type === 'int32'
    ? new ort.Tensor('int32', Int32Array.from(flat), [rows.length, 77])
    : new ort.Tensor('int64', BigInt64Array.from(flat.map(BigInt)), [rows.length, 77]);
}

/** Max |a − b| over all elements (shapes must match). */
function maxDiff(a: ort.Tensor, b: ort.Tensor | Float32Array): number {
  const x = a.data as Float32Array;
  const y = b instanceof Float32Array ? b : (b.data as Float32Array);
  if (!(b instanceof Float32Array)) expect(a.dims).toEqual(b.dims);
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** Sequences as a tokenizer writes them: BOS, `n` ordinary tokens, EOS, then `pad` to 77. */
function randomIds(count: number, seed: number, pad: number): number[][] {
  let s = seed;
  const next = () => (s = (s * 16807) % 2147483647);
  return Array.from({ length: count }, (_, r) => {
    const n = r === 0 ? 75 : next() % 60; // one full-length row, EOS at the last position
    const row = [BOS, ...Array.from({ length: n }, () => next() % 49405), EOS];
    while (row.length < 77) row.push(pad);
    return row;
  });
}

async function compare(model: Model, onnx: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, number>> {
  const [ours, theirs] = await Promise.all([runOnnx(encodeModel(model), feeds), runOnnx(onnx, feeds)]);
  const diffs: Record<string, number> = {};
  for (const name of Object.keys(theirs)) {
    expect(ours[name], `output ${name}`).toBeDefined();
    diffs[name] = maxDiff(ours[name]!, theirs[name]!);
  }
  return diffs;
}

function expectClose(diffs: Record<string, number>): void {
  console.log(diffs);
  for (const [name, d] of Object.entries(diffs)) expect(d, name).toBeLessThanOrEqual(TOLERANCE);
}

describe('CLIP text encoder: sd15-tiny (CLIPTextModel, quick-GELU)', () => {
  let enc: Encoder;
  const cases = JSON.parse(readFileSync(path.join(FIXTURES, 'sd15-tiny/reference/cases.json'), 'utf8')) as {
    prompt_ids: number[];
    negative_ids: number[];
  };
  beforeAll(async () => (enc = await openEncoder('sd15-tiny/text_encoder')));
  afterAll(() => enc.file.close());

  it('matches the ONNX export on the reference prompts and the reference embeddings', async () => {
    const model = buildClipTextModel(enc.config, enc.weights);
    const feeds = { input_ids: idsTensor([cases.prompt_ids, cases.negative_ids], 'int32') };
    expectClose(await compare(model, enc.onnx, feeds));

    const ours = await runOnnx(encodeModel(model), { input_ids: idsTensor([cases.prompt_ids], 'int32') });
    const cond = readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/text.cond.bin'));
    const d = maxDiff(ours.last_hidden_state!, cond);
    console.log({ 'text.cond.bin': d });
    expect(d).toBeLessThanOrEqual(TOLERANCE);
  });

  it('matches the ONNX export on random ids, int32 and int64', async () => {
    const rows = randomIds(6, 11, EOS);
    expectClose(
      await compare(buildClipTextModel(enc.config, enc.weights), enc.onnx, { input_ids: idsTensor(rows, 'int32') }),
    );
    // The export takes int32; an int64 build must give the same values.
    const model64 = buildClipTextModel(enc.config, enc.weights, { inputIdsType: 'int64' });
    const [a, b] = await Promise.all([
      runOnnx(encodeModel(model64), { input_ids: idsTensor(rows, 'int64') }),
      runOnnx(enc.onnx, { input_ids: idsTensor(rows, 'int32') }),
    ]);
    expect(maxDiff(a.last_hidden_state!, b.last_hidden_state!)).toBeLessThanOrEqual(TOLERANCE);
    expect(maxDiff(a.pooler_output!, b.pooler_output!)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('gives hidden_states.0…N with the last one the final layer norm’s input', async () => {
    const model = buildClipTextModel(enc.config, enc.weights);
    expect(model.graph.outputs.map((o) => o.name)).toEqual([
      'last_hidden_state',
      'pooler_output',
      ...Array.from({ length: 6 }, (_, i) => `hidden_states.${i}`),
    ]);
    expect(model.graph.outputs[0]!.shape).toEqual(['batch', 77, 32]);
    expect(model.graph.outputs[1]!.shape).toEqual(['batch', 32]);
    const none = buildClipTextModel(enc.config, enc.weights, { hiddenStates: 'none' });
    expect(none.graph.outputs.map((o) => o.name)).toEqual(['last_hidden_state', 'pooler_output']);
  });

  it('is deterministic: two builds are byte-identical and encode identically', async () => {
    const a = encodeModel(buildClipTextModel(enc.config, enc.weights));
    const b = encodeModel(buildClipTextModel(enc.config, enc.weights));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const feeds = { input_ids: idsTensor(randomIds(2, 5, EOS), 'int32') };
    const [x, y] = [await runOnnx(a, feeds), await runOnnx(b, feeds)];
    for (const name of Object.keys(x))
      expect(
        Buffer.from((x[name]!.data as Float32Array).buffer).equals(Buffer.from((y[name]!.data as Float32Array).buffer)),
      ).toBe(true);
  });

  it('hooks see every Linear of the attention and MLP blocks under kohya’s LoRA names', () => {
    const calls: ModuleCall[] = [];
    const options: ClipTextOptions = { hooks: { module: (call) => (calls.push(call), call.base()) } };
    const model = buildClipTextModel(enc.config, enc.weights, options);
    expect(calls.every((c) => c.kind === 'linear')).toBe(true);
    const kohya = calls.map((c) => `lora_te_${c.path.replace(/\./g, '_')}`).sort();
    const train = JSON.parse(readFileSync(path.join(FIXTURES, 'sd15-tiny/training/train.json'), 'utf8')) as {
      kohya_keys_rank4: { text_encoder: Record<string, number[]> };
    };
    const expected = [
      ...new Set(
        Object.keys(train.kohya_keys_rank4.text_encoder).map((k) => k.replace(/\.lora_(down|up)\.weight$/, '')),
      ),
    ].sort();
    expect(kohya).toEqual(expected);
    // A hook that returns the frozen module changes nothing.
    expect(
      Buffer.from(encodeModel(model)).equals(Buffer.from(encodeModel(buildClipTextModel(enc.config, enc.weights)))),
    ).toBe(true);
  });
});

describe('CLIP text encoders: sdxl-tiny (eos_token_id 2 configs, hidden_states, projection)', () => {
  let te1: Encoder;
  let te2: Encoder;
  const cases = JSON.parse(readFileSync(path.join(FIXTURES, 'sdxl-tiny/reference/cases.json'), 'utf8')) as {
    prompt_ids: number[];
    prompt_ids_2: number[];
  };
  beforeAll(async () => {
    te1 = await openEncoder('sdxl-tiny/text_encoder');
    te2 = await openEncoder('sdxl-tiny/text_encoder_2');
  });
  afterAll(async () => {
    await te1.file.close();
    await te2.file.close();
  });

  it('text_encoder (quick-GELU) matches its export in every output', async () => {
    const model = buildClipTextModel(te1.config, te1.weights, { inputIdsType: 'int64' });
    const rows = [cases.prompt_ids, ...randomIds(3, 21, EOS)];
    const diffs = await compare(model, te1.onnx, { input_ids: idsTensor(rows, 'int64') });
    expect(Object.keys(diffs).sort()).toEqual(
      ['last_hidden_state', 'pooler_output', ...[0, 1, 2, 3].map((i) => `hidden_states.${i}`)].sort(),
    );
    expectClose(diffs);
  });

  it('text_encoder_2 (GELU, projection) matches its export in every output, padded with "!" (id 0)', async () => {
    const model = buildClipTextModel(te2.config, te2.weights, { inputIdsType: 'int64' });
    expect(model.graph.outputs[0]).toMatchObject({ name: 'text_embeds', shape: ['batch', 32] });
    const rows = [cases.prompt_ids_2, ...randomIds(3, 22, 0)];
    const diffs = await compare(model, te2.onnx, { input_ids: idsTensor(rows, 'int64') });
    expect(Object.keys(diffs).sort()).toEqual(
      ['text_embeds', 'last_hidden_state', ...[0, 1, 2, 3].map((i) => `hidden_states.${i}`)].sort(),
    );
    expectClose(diffs);
  });

  it('reproduces the pipeline’s prompt embeddings (penultimate layers concatenated) and pooled embeddings', async () => {
    const [a, b] = await Promise.all([
      runOnnx(encodeModel(buildClipTextModel(te1.config, te1.weights)), {
        input_ids: idsTensor([cases.prompt_ids], 'int32'),
      }),
      runOnnx(encodeModel(buildClipTextModel(te2.config, te2.weights)), {
        input_ids: idsTensor([cases.prompt_ids_2], 'int32'),
      }),
    ]);
    const h1 = a['hidden_states.2']!.data as Float32Array;
    const h2 = b['hidden_states.2']!.data as Float32Array;
    const joined = new Float32Array(77 * 64);
    for (let t = 0; t < 77; t++) {
      joined.set(h1.subarray(t * 32, t * 32 + 32), t * 64);
      joined.set(h2.subarray(t * 32, t * 32 + 32), t * 64 + 32);
    }
    const embeds = readFloat32(path.join(FIXTURES, 'sdxl-tiny/reference/prompt_embeds.bin'));
    const pooled = readFloat32(path.join(FIXTURES, 'sdxl-tiny/reference/pooled_prompt_embeds.bin'));
    const diffs = {
      prompt_embeds: maxDiff(new ort.Tensor('float32', joined, [1, 77, 64]), embeds),
      pooled_prompt_embeds: maxDiff(b.text_embeds!, pooled),
    };
    expectClose(diffs);
  });
});
