import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createGraph,
  createTensor,
  decodeModel,
  encodeModel,
  loadModel,
  ModelFormatError,
  saveModel,
  tensorArray,
  tensorBytes,
  tensorToNumbers,
  type Model,
  type Tensor,
} from '../../src-main/engine/graph';
import { ProtoReader, ProtoWriter, concatChunks } from '../../src-main/engine/graph/protobuf';
import { makeTempDir } from '../helpers/temp-dir';
import { FIXTURES } from '../helpers/fixtures';

const FIXTURE_MODELS = [
  'sd15-tiny/text_encoder',
  'sd15-tiny/unet',
  'sd15-tiny/vae_decoder',
  'sd15-tiny/vae_encoder',
  'sdxl-tiny/text_encoder',
  'sdxl-tiny/text_encoder_2',
  'sdxl-tiny/unet',
  'sdxl-tiny/vae_decoder',
  'sdxl-tiny/vae_encoder',
];

function model(graph = createGraph('g')): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: '', version: 17 }],
    producerName: 'test',
    graph,
    metadataProps: new Map(),
  };
}

describe('protobuf wire format', () => {
  it('round-trips int64 varints, including negatives and values past 2^53', () => {
    const values: (number | bigint)[] = [
      0,
      1,
      127,
      128,
      300,
      2 ** 31,
      2 ** 32 + 5,
      2 ** 53 - 1,
      -1,
      -2,
      -(2 ** 31),
      -(2 ** 53 - 1),
    ];
    const big = [9223372036854775807n, -9223372036854775808n, 2n ** 53n + 1n];
    const w = new ProtoWriter();
    for (const v of [...values, ...big]) w.int(3, v);
    const r = new ProtoReader(concatChunks(w.finish()));
    for (const v of [...values, ...big]) {
      expect(r.tag()).toEqual([3, 0]);
      expect(r.int64()).toBe(v);
    }
    expect(r.done).toBe(true);
  });

  it('writes negative int64 as 10 bytes (two’s complement), as protoc does', () => {
    const w = new ProtoWriter();
    w.varint(-1);
    expect(Array.from(concatChunks(w.finish()))).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 255, 1]);
  });

  it('reads packed and unpacked repeated fields alike', () => {
    const packed = new ProtoWriter();
    packed.message(8, (m) => [1, -3, 2 ** 40].forEach((v) => m.varint(v)));
    const out: (number | bigint)[] = [];
    const r = new ProtoReader(concatChunks(packed.finish()));
    const [, wire] = r.tag();
    r.repeatedInt64(wire, out);
    expect(out).toEqual([1, -3, 2 ** 40]);
  });

  it('keeps large byte fields by reference instead of copying them', () => {
    const big = new Uint8Array(1 << 20).fill(7);
    const w = new ProtoWriter();
    w.string(1, 'x');
    w.bytes(9, big);
    const chunks = w.finish();
    expect(chunks.some((c) => c === big)).toBe(true);
    expect(w.length).toBe(chunks.reduce((n, c) => n + c.length, 0));
  });

  it('fails clearly on truncated input', () => {
    expect(() => new ProtoReader(new Uint8Array([0x0a, 0x05, 1])).bytes()).toThrow();
    expect(() => decodeModel(new Uint8Array([0x3a, 0x7f, 1, 2]), { file: 'broken.onnx' })).toThrow(
      /broken\.onnx: not a valid ONNX model/,
    );
  });
});

describe('ONNX codec', () => {
  it.each(FIXTURE_MODELS)('decodes %s and re-encodes it byte for byte', async (name) => {
    const file = path.join(FIXTURES, name, 'model.onnx');
    const m = await loadModel(file);
    expect(m.opsetImports).toEqual([{ domain: '', version: 14 }]);
    expect(m.producerName).toBe('pytorch');
    expect(m.graph.nodes.length).toBeGreaterThan(100);
    expect(m.graph.initializers.size).toBeGreaterThan(10);
    for (const n of m.graph.nodes) {
      expect(n.opType).not.toBe('');
      expect(n.outputs.length).toBeGreaterThan(0);
    }
    const bytes = encodeModel(m);
    expect(Buffer.from(bytes).equals(readFileSync(file))).toBe(true);
  });

  it('exposes every node input, output and attribute of a fixture', async () => {
    const m = await loadModel(path.join(FIXTURES, 'sd15-tiny/unet/model.onnx'));
    expect(m.graph.inputs.map((i) => [i.name, i.dtype, i.shape])).toEqual([
      ['sample', 'float32', ['batch_size', 4, 'height', 'width']],
      ['timestep', 'int64', ['steps']],
      ['encoder_hidden_states', 'float32', ['batch_size', 'sequence_length', 32]],
    ]);
    const conv = m.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.inputs).toHaveLength(3);
    expect(conv.attributes.kernel_shape).toEqual({ type: 'ints', value: [3, 3] });
    expect(conv.attributes.group).toEqual({ type: 'int', value: 1 });
    const constant = m.graph.nodes.find((n) => n.opType === 'Constant')!;
    expect(constant.attributes.value?.type).toBe('tensor');
    const w =
      m.graph.initializers.get('conv_in.weight') ??
      [...m.graph.initializers.values()].find((t) => t.dims.length === 4)!;
    expect(w.dtype).toBe('float32');
    expect(tensorBytes(w).length).toBe(w.dims.reduce((a, b) => a * b, 4));
  });

  it('round-trips every attribute type, exact int64 extremes and nested graphs', () => {
    const body = createGraph('body');
    body.outputs.push({ name: 'x', dtype: 'float32', shape: [] });
    const g = createGraph('g');
    g.nodes.push({
      name: 'n',
      opType: 'Custom',
      domain: 'test.domain',
      inputs: ['a', '', 'b'],
      outputs: ['c'],
      attributes: {
        f: { type: 'float', value: 0.5 },
        i: { type: 'int', value: -7 },
        big: { type: 'int', value: 9223372036854775807n },
        s: { type: 'string', value: 'héllo' },
        t: { type: 'tensor', value: createTensor('', 'int64', [2], [1n, -1n]) },
        g: { type: 'graph', value: body },
        fs: { type: 'floats', value: [1.5, -2] },
        is: { type: 'ints', value: [1, -9223372036854775808n, 3] },
        ss: { type: 'strings', value: ['a', 'b'] },
        ts: { type: 'tensors', value: [createTensor('', 'float32', [], [3])] },
        empty: { type: 'ints', value: [] },
      },
    });
    g.inputs.push({ name: 'a', dtype: 'float16', shape: ['n', 3, null] }, { name: 'b', dtype: 'bool' });
    g.outputs.push({ name: 'c', dtype: 'float32' });
    const m = model(g);
    m.opsetImports.push({ domain: 'test.domain', version: 1 });
    m.metadataProps.set('key', 'value');
    const back = decodeModel(encodeModel(m));
    const attrs = back.graph.nodes[0]!.attributes;
    expect(attrs.f).toEqual({ type: 'float', value: 0.5 });
    expect(attrs.i).toEqual({ type: 'int', value: -7 });
    expect(attrs.big).toEqual({ type: 'int', value: 9223372036854775807n });
    expect(attrs.s).toEqual({ type: 'string', value: 'héllo' });
    expect(attrs.fs).toEqual({ type: 'floats', value: [1.5, -2] });
    expect(attrs.is).toEqual({ type: 'ints', value: [1, -9223372036854775808n, 3] });
    expect(attrs.ss).toEqual({ type: 'strings', value: ['a', 'b'] });
    expect(attrs.empty).toEqual({ type: 'ints', value: [] });
    expect(attrs.g?.type === 'graph' && attrs.g.value.outputs[0]).toEqual({ name: 'x', dtype: 'float32', shape: [] });
    const t = attrs.t?.type === 'tensor' ? attrs.t.value : undefined;
    expect(t && Array.from(tensorArray(t) as BigInt64Array)).toEqual([1n, -1n]);
    expect(back.graph.nodes[0]!.inputs).toEqual(['a', '', 'b']);
    expect(back.graph.nodes[0]!.domain).toBe('test.domain');
    expect(back.graph.inputs).toEqual([
      { name: 'a', dtype: 'float16', shape: ['n', 3, null] },
      { name: 'b', dtype: 'bool' },
    ]);
    expect(back.metadataProps.get('key')).toBe('value');
    expect(back.opsetImports).toEqual(m.opsetImports);
    expect(Buffer.from(encodeModel(back)).equals(Buffer.from(encodeModel(m)))).toBe(true);
  });

  it('reads the typed data fields (float_data, int32_data with float16 bits, packed and unpacked int64_data, double_data)', () => {
    const tensorMsg =
      (name: string, code: number, dims: number[], write: (w: ProtoWriter) => void) => (w: ProtoWriter) => {
        for (const d of dims) w.int(1, d);
        w.int(2, code);
        w.string(8, name);
        write(w);
      };
    const g = new ProtoWriter();
    g.string(2, 'g');
    g.message(
      5,
      tensorMsg('f32', 1, [2], (w) => w.message(4, (p) => [1.5, -2].forEach((v) => p.raw(f32(v))))),
    );
    g.message(
      5,
      tensorMsg('f16', 10, [2], (w) => w.message(5, (p) => [0x3c00, 0xc000].forEach((v) => p.varint(v)))),
    );
    g.message(
      5,
      tensorMsg('i64', 7, [3], (w) => [5, -1, 2 ** 40].forEach((v) => w.int(7, v))),
    );
    g.message(
      5,
      tensorMsg('f64', 11, [1], (w) => w.message(10, (p) => p.raw(new Uint8Array(new Float64Array([Math.PI]).buffer)))),
    );
    g.message(
      5,
      tensorMsg('i8', 3, [2], (w) => w.message(5, (p) => [-3, 4].forEach((v) => p.varint(v)))),
    );
    const m = new ProtoWriter();
    m.int(1, 8);
    m.message(7, (w) => w.raw(concatChunks(g.finish())));
    const decoded = decodeModel(concatChunks(m.finish()));
    const inits = decoded.graph.initializers;
    expect(tensorToNumbers(inits.get('f32')!)).toEqual([1.5, -2]);
    expect(Array.from(tensorArray(inits.get('f16')!) as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(tensorToNumbers(inits.get('f16')!)).toEqual([1, -2]);
    expect(Array.from(tensorArray(inits.get('i64')!) as BigInt64Array)).toEqual([5n, -1n, 2n ** 40n]);
    expect(tensorToNumbers(inits.get('f64')!)).toEqual([Math.PI]);
    expect(tensorToNumbers(inits.get('i8')!)).toEqual([-3, 4]);
    // Re-encoded, everything becomes raw_data with the same values.
    const again = decodeModel(encodeModel(decoded)).graph.initializers;
    for (const [name, t] of inits) expect(sameBytes(tensorBytes(again.get(name)!), tensorBytes(t))).toBe(true);
  });

  it('refuses what it cannot represent, naming the file', () => {
    const w = new ProtoWriter();
    w.int(1, 8);
    w.message(25, (f) => f.string(1, 'fn'));
    expect(() => decodeModel(concatChunks(w.finish()), { file: 'f.onnx' })).toThrow(ModelFormatError);
    expect(() => decodeModel(concatChunks(w.finish()), { file: 'f.onnx' })).toThrow(/f\.onnx: model-local functions/);
    const bad = new ProtoWriter();
    bad.message(7, (g) =>
      g.message(5, (t) => {
        t.int(1, 4);
        t.int(2, 1);
        t.string(8, 'w');
        t.bytes(9, new Uint8Array(12));
      }),
    );
    expect(() => decodeModel(concatChunks(bad.finish()), { file: 'x.onnx' })).toThrow(
      /x\.onnx: tensor 'w': raw_data has 12 bytes/,
    );
  });
});

describe('saveModel / external data', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = makeTempDir()));
  afterEach(() => cleanup());

  function weights(): Tensor[] {
    const big = new Float32Array(300_000).map((_, i) => Math.sin(i));
    return [
      createTensor('small', 'float32', [4], [1, 2, 3, 4]),
      createTensor(
        'mid',
        'float16',
        [1000],
        new Uint16Array(1000).map((_, i) => i),
      ),
      createTensor('big', 'float32', [300_000], big),
      createTensor(
        'ids',
        'int64',
        [300],
        Array.from({ length: 300 }, (_, i) => BigInt(i - 150)),
      ),
    ];
  }

  it('puts initializers over the threshold into one aligned side file and reads them back', async () => {
    const g = createGraph('g');
    for (const t of weights()) g.initializers.set(t.name, t);
    const file = path.join(dir, 'model.onnx');
    const result = await saveModel(model(g), file, { externalDataThreshold: 1024 });
    expect(result.externalTensors).toBe(3);
    expect(result.dataPath).toBe(`${file}.data`);
    expect(statSync(`${file}.data`).size).toBe(result.dataBytes);
    expect(statSync(file).size).toBeLessThan(2000);

    const back = await loadModel(file);
    const data = statSync(`${file}.data`).size;
    const seen: [number, number][] = [];
    for (const t of weights()) {
      const b = back.graph.initializers.get(t.name)!;
      expect(b.dims).toEqual(t.dims);
      expect(sameBytes(tensorBytes(b), tensorBytes(t))).toBe(true);
      if (t.name === 'small') {
        expect(ArrayBuffer.isView(b.data)).toBe(true);
        continue;
      }
      if (ArrayBuffer.isView(b.data)) throw new Error(`${t.name} should be external`);
      expect(b.data.path).toBe(`${file}.data`);
      expect(b.data.offset % (b.data.length >= 1 << 20 ? 4096 : 64)).toBe(0);
      expect(b.data.offset + b.data.length).toBeLessThanOrEqual(data);
      seen.push([b.data.offset, b.data.offset + b.data.length]);
    }
    seen.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![1]);
    // Padding only: the side file is the tensors plus at most one alignment gap each.
    const payload = weights()
      .slice(1)
      .reduce((n, t) => n + tensorBytes(t).length, 0);
    expect(data).toBeLessThan(payload + 3 * 4096);
  });

  it('saves back over the files it was loaded from, and inlines everything with Infinity', async () => {
    const g = createGraph('g');
    for (const t of weights()) g.initializers.set(t.name, t);
    const file = path.join(dir, 'model.onnx');
    await saveModel(model(g), file, { externalDataThreshold: 0 });
    const loaded = await loadModel(file);
    await saveModel(loaded, file, { externalDataThreshold: 100 }); // reads from the files it replaces
    const inline = await loadModel(file);
    await saveModel(inline, path.join(dir, 'inline.onnx'), { externalDataThreshold: Infinity });
    const final = await loadModel(path.join(dir, 'inline.onnx'));
    for (const t of weights())
      expect(sameBytes(tensorBytes(final.graph.initializers.get(t.name)!), tensorBytes(t))).toBe(true);
    expect(() => statSync(path.join(dir, 'inline.onnx.data'))).toThrow();
  });

  it('refuses a protobuf over 2 GiB before reading any weights, and streams it as external data instead', async () => {
    const g = createGraph('huge');
    // 3 GB "on disk" in a file that does not exist: nothing may try to read it just to find out it is too big.
    g.initializers.set('w', {
      name: 'w',
      dtype: 'float32',
      dims: [750_000_000],
      data: { kind: 'external', path: path.join(dir, 'missing.bin'), offset: 0, length: 3_000_000_000 },
    });
    expect(() => encodeModel(model(g))).toThrow(/over protobuf's 2 GiB limit/);
    await expect(saveModel(model(g), path.join(dir, 'huge.onnx'), { externalDataThreshold: Infinity })).rejects.toThrow(
      /over protobuf's 2 GiB limit: lower externalDataThreshold/,
    );
    expect(() => statSync(path.join(dir, 'huge.onnx'))).toThrow();
  });

  it('streams external sources into the side file, converting dtype on the way', async () => {
    const src = path.join(dir, 'src.bin');
    const values = new Float32Array(5000).map((_, i) => i / 7);
    const f16 = new Uint16Array(values.length);
    const { float32ToFloat16Array } = await import('../../src-main/engine/graph');
    float32ToFloat16Array(values, f16);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(src, Buffer.concat([Buffer.alloc(10), Buffer.from(f16.buffer)]));
    const g = createGraph('g');
    g.initializers.set('w', {
      name: 'w',
      dtype: 'float32',
      dims: [5000],
      data: { kind: 'external', path: src, offset: 10, length: f16.byteLength, sourceDtype: 'float16' },
    });
    const file = path.join(dir, 'm.onnx');
    await saveModel(model(g), file, { externalDataThreshold: 1024 });
    const w = (await loadModel(file)).graph.initializers.get('w')!;
    const got = new Float32Array(tensorBytes(w).slice().buffer);
    expect(got.length).toBe(5000);
    for (let i = 0; i < 5000; i += 97)
      expect(Math.abs(got[i]! - values[i]!)).toBeLessThanOrEqual(Math.abs(values[i]!) * 2 ** -11);
  });
});

/** Byte equality without vitest's element-by-element diffing (slow on megabytes). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function f32(v: number): Uint8Array {
  return new Uint8Array(new Float32Array([v]).buffer);
}
