import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeModel,
  encodeModel,
  isExternal,
  loadModel,
  saveModel,
  tensorByteLength,
} from '../../src-main/engine/graph';
import { makeTempDir } from '../helpers/temp-dir';
import { FIXTURES } from '../helpers/fixtures';
import { readFloat32, runOnnx } from '../helpers/onnx';

type Feeds = Record<string, ort.Tensor>;

function noise(n: number, seed: number): Float32Array {
  let s = seed;
  return new Float32Array(n).map(() => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
}

const sd15 = JSON.parse(readFileSync(path.join(FIXTURES, 'sd15-tiny/reference/cases.json'), 'utf8')) as {
  prompt_ids: number[];
  negative_ids: number[];
};
const sdxl = JSON.parse(readFileSync(path.join(FIXTURES, 'sdxl-tiny/reference/cases.json'), 'utf8')) as {
  prompt_ids: number[];
  prompt_ids_2: number[];
};

/** Inputs per fixture, as README.md describes them; real ones from the reference cases where given. */
const CASES: [string, () => Feeds][] = [
  [
    'sd15-tiny/unet',
    () => ({
      sample: new ort.Tensor(
        'float32',
        readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/unet.sample.bin')),
        [2, 4, 32, 32],
      ),
      timestep: new ort.Tensor('int64', BigInt64Array.from([500n, 500n]), [2]),
      encoder_hidden_states: new ort.Tensor(
        'float32',
        readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/unet.ehs.bin')),
        [2, 77, 32],
      ),
    }),
  ],
  [
    'sd15-tiny/text_encoder',
    () => ({
      input_ids: new ort.Tensor('int32', Int32Array.from([...sd15.prompt_ids, ...sd15.negative_ids]), [2, 77]),
    }),
  ],
  [
    'sd15-tiny/vae_decoder',
    () => ({ latent_sample: new ort.Tensor('float32', noise(4 * 16 * 16, 3), [1, 4, 16, 16]) }),
  ],
  ['sd15-tiny/vae_encoder', () => ({ sample: new ort.Tensor('float32', noise(3 * 32 * 32, 4), [1, 3, 32, 32]) })],
  [
    'sdxl-tiny/unet',
    () => ({
      sample: new ort.Tensor('float32', noise(2 * 4 * 16 * 24, 5), [2, 4, 16, 24]),
      timestep: new ort.Tensor('float32', Float32Array.from([751]), []),
      encoder_hidden_states: new ort.Tensor('float32', noise(2 * 77 * 64, 6), [2, 77, 64]),
      text_embeds: new ort.Tensor('float32', noise(2 * 32, 7), [2, 32]),
      time_ids: new ort.Tensor('float32', Float32Array.from([64, 96, 0, 0, 64, 96, 64, 96, 0, 0, 64, 96]), [2, 6]),
    }),
  ],
  [
    'sdxl-tiny/text_encoder',
    () => ({ input_ids: new ort.Tensor('int64', BigInt64Array.from(sdxl.prompt_ids.map(BigInt)), [1, 77]) }),
  ],
  [
    'sdxl-tiny/text_encoder_2',
    () => ({ input_ids: new ort.Tensor('int64', BigInt64Array.from(sdxl.prompt_ids_2.map(BigInt)), [1, 77]) }),
  ],
  ['sdxl-tiny/vae_decoder', () => ({ latent_sample: new ort.Tensor('float32', noise(4 * 8 * 12, 8), [1, 4, 8, 12]) })],
  ['sdxl-tiny/vae_encoder', () => ({ sample: new ort.Tensor('float32', noise(3 * 16 * 24, 9), [1, 3, 16, 24]) })],
];

function expectIdentical(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const [name, t] of Object.entries(a)) {
    const u = b[name]!;
    expect(u.dims).toEqual(t.dims);
    expect(u.type).toBe(t.type);
    const x = Buffer.from(
      (t.data as Float32Array).buffer,
      (t.data as Float32Array).byteOffset,
      (t.data as Float32Array).byteLength,
    );
    const y = Buffer.from(
      (u.data as Float32Array).buffer,
      (u.data as Float32Array).byteOffset,
      (u.data as Float32Array).byteLength,
    );
    expect(x.equals(y), `output ${name} differs`).toBe(true);
  }
}

describe('fixture models: decode → encode → onnxruntime', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir, cleanup } = makeTempDir('pinhole-graph-')));
  afterAll(() => cleanup());

  it.each(CASES)('%s: re-encoded and external-data copies give identical outputs', async (name, feeds) => {
    const file = path.join(FIXTURES, name, 'model.onnx');
    const original = await runOnnx(file, feeds());
    expect(Object.values(original).every((t) => (t.data as Float32Array).every(Number.isFinite))).toBe(true);

    // In memory, from the decoded IR.
    const model = await loadModel(file);
    const bytes = encodeModel(model);
    expectIdentical(original, await runOnnx(bytes, feeds()));

    // On disk with external data (threshold 1 KiB): ORT resolves model.onnx.data next to the model.
    const out = path.join(dir, name.replace('/', '-'));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(out, { recursive: true });
    const target = path.join(out, 'model.onnx');
    const result = await saveModel(model, target, { externalDataThreshold: 1024 });
    expectIdentical(original, await runOnnx(target, feeds()));

    // Sizes: the proto keeps only the graph and small tensors; the side file holds the rest, plus padding.
    const external = [...model.graph.initializers.values()].filter((t) => tensorByteLength(t) > 1024);
    const payload = external.reduce((n, t) => n + tensorByteLength(t), 0);
    expect(result.externalTensors).toBe(external.length);
    expect(statSync(target).size).toBe(result.modelBytes);
    expect(statSync(target).size).toBeLessThan(statSync(file).size - payload + 64 * 1024);
    expect(statSync(`${target}.data`).size).toBeGreaterThanOrEqual(payload);
    expect(statSync(`${target}.data`).size).toBeLessThan(payload + external.length * 4096);

    // Every external reference lies inside the side file, aligned, without overlaps.
    const reloaded = decodeModel(readFileSync(target), { baseDir: out });
    const ranges: [number, number][] = [];
    for (const t of reloaded.graph.initializers.values()) {
      if (!isExternal(t.data)) {
        expect(tensorByteLength(t)).toBeLessThanOrEqual(1024);
        continue;
      }
      expect(t.data.path).toBe(`${target}.data`);
      expect(t.data.length).toBe(tensorByteLength(t));
      expect(t.data.offset % 64).toBe(0);
      ranges.push([t.data.offset, t.data.offset + t.data.length]);
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
    expect(ranges.at(-1)![1]).toBe(statSync(`${target}.data`).size);
  });

  it('the re-encoded sd15 UNet and text encoder still match the diffusers references', async () => {
    const unet = encodeModel(await loadModel(path.join(FIXTURES, 'sd15-tiny/unet/model.onnx')));
    const out = (await runOnnx(unet, CASES[0]![1]())).out_sample!.data as Float32Array;
    const ref = readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/unet.out_sample.bin'));
    expect(out.length).toBe(ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(out[i]! - ref[i]!));
    expect(worst).toBeLessThan(1e-4);

    const te = encodeModel(await loadModel(path.join(FIXTURES, 'sd15-tiny/text_encoder/model.onnx')));
    const ids = new ort.Tensor('int32', Int32Array.from(sd15.prompt_ids), [1, 77]);
    const hidden = (await runOnnx(te, { input_ids: ids })).last_hidden_state!.data as Float32Array;
    const cond = readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/text.cond.bin'));
    let worstText = 0;
    for (let i = 0; i < cond.length; i++) worstText = Math.max(worstText, Math.abs(hidden[i]! - cond[i]!));
    expect(worstText).toBeLessThan(1e-4);
  });
});
