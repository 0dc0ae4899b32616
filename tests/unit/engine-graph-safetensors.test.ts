import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  createTensor,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  ModelFormatError,
  tensorArray,
  tensorToFloat32,
  type Tensor,
} from '../../src-main/engine/graph';
import { SafetensorsFile, writeSafetensors } from '../../src-main/engine/weights';
import { makeTempDir } from '../helpers/temp-dir';
import { FIXTURES } from '../helpers/fixtures';

/** A safetensors file from a header object and a data section, for hand-made corruptions. */
function rawFile(file: string, header: unknown, data: Uint8Array, lengthOverride?: bigint): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, data]));
}

describe('safetensors: fixtures', () => {
  it('reads the sd15-tiny UNet lazily: names, shapes, dtypes, finite values', async () => {
    const file = path.join(FIXTURES, 'sd15-tiny/unet/diffusion_pytorch_model.safetensors');
    const st = await SafetensorsFile.open(file);
    try {
      expect(st.names).toHaveLength(304);
      expect(st.metadata).toEqual({});
      expect(st.entry('conv_in.weight')).toMatchObject({
        fileDtype: 'F32',
        dtype: 'float32',
        shape: [32, 4, 3, 3],
        byteLength: 4608,
      });
      const unetConfig = JSON.parse(readFileSync(path.join(FIXTURES, 'sd15-tiny/unet/config.json'), 'utf8')) as {
        block_out_channels: number[];
      };
      expect(st.entry('conv_in.bias').shape).toEqual([unetConfig.block_out_channels[0]]);
      let total = 0;
      for (const e of st.entries()) {
        const t = await st.read(e.name);
        expect(t.dtype).toBe('float32');
        expect(t.dims).toEqual(e.shape);
        const v = tensorArray(t) as Float32Array;
        expect(v.every(Number.isFinite)).toBe(true);
        total += e.byteLength;
      }
      expect(total).toBeLessThanOrEqual(statSync(file).size);
      // As float16, rounded to nearest.
      const half = await st.read('conv_in.weight', { dtype: 'float16' });
      const full = tensorArray(await st.read('conv_in.weight')) as Float32Array;
      const bits = tensorArray(half) as Uint16Array;
      for (let i = 0; i < 50; i++)
        expect(Math.abs(f16ToF32(bits[i]!) - full[i]!)).toBeLessThanOrEqual(Math.abs(full[i]!) * 2 ** -11);
    } finally {
      await st.close();
    }
  });

  it('reads the text encoder, including the 49408 × 32 token embedding', async () => {
    const st = await SafetensorsFile.open(path.join(FIXTURES, 'sd15-tiny/text_encoder/model.safetensors'));
    try {
      expect(st.names).toHaveLength(84);
      const emb = await st.read('text_model.embeddings.token_embedding.weight');
      expect(emb.dims).toEqual([49408, 32]);
      expect((tensorArray(emb) as Float32Array).every(Number.isFinite)).toBe(true);
      expect(st.entry('text_model.embeddings.position_embedding.weight').shape).toEqual([77, 32]);
      // A lazy reference reads the same bytes when asked.
      const ref = st.ref('text_model.final_layer_norm.weight');
      expect(ArrayBuffer.isView(ref.data)).toBe(false);
      expect(tensorToFloat32(ref)).toEqual(tensorArray(await st.read('text_model.final_layer_norm.weight')));
      expect(() => st.entry('nope')).toThrow(/model\.safetensors: no tensor 'nope'/);
    } finally {
      await st.close();
    }
  });

  it('reads kohya metadata', async () => {
    const st = await SafetensorsFile.open(path.join(FIXTURES, 'sd15-tiny/training/init.safetensors'));
    expect(st.metadata).toMatchObject({ ss_network_dim: '4', ss_network_alpha: '2.0' });
    expect(st.entry('lora_unet_down_blocks_1_attentions_0_proj_in.alpha').shape).toEqual([]);
    await st.close();
  });
});

describe('safetensors: write → read', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = makeTempDir()));
  afterEach(() => cleanup());

  it('round-trips F32, F16, BF16, I64, scalars, empty tensors and metadata', async () => {
    const f32 = createTensor('a.f32', 'float32', [2, 3], [1, -2.5, 3.25, 0, 1e-8, -1e30]);
    const f16 = createTensor('b.f16', 'float16', [3], [1, 0.333, -65504]);
    const bf16 = createTensor('c.bf16', 'bfloat16', [2], [1.5, -3e38]);
    const i64 = createTensor('d.i64', 'int64', [3], [0n, -9223372036854775808n, 9223372036854775807n]);
    const scalar = createTensor('e.alpha', 'float32', [], [2]);
    const empty = createTensor('f.empty', 'float32', [0, 4], new Float32Array(0));
    const file = path.join(dir, 'lora.safetensors');
    const metadata = { ss_network_dim: '4', note: 'ünïcode' };
    await writeSafetensors(file, [f32, f16, bf16, i64, scalar, empty], metadata);

    // The header is what other readers expect: aligned data start, kohya-compatible dtype names.
    const bytes = readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string }>;
    expect(header.__metadata__).toEqual(metadata);
    expect([header['a.f32']!.dtype, header['b.f16']!.dtype, header['c.bf16']!.dtype, header['d.i64']!.dtype]).toEqual([
      'F32',
      'F16',
      'BF16',
      'I64',
    ]);

    const st = await SafetensorsFile.open(file);
    try {
      expect(st.metadata).toEqual(metadata);
      expect(st.names).toEqual(['a.f32', 'b.f16', 'c.bf16', 'd.i64', 'e.alpha', 'f.empty']);
      const native = async (name: string) => st.read(name, { dtype: 'native' });
      const same = (a: Tensor, b: Tensor) => {
        expect(a.dtype).toBe(b.dtype);
        expect(a.dims).toEqual(b.dims);
        expect(Array.from(tensorArray(a) as ArrayLike<number | bigint>)).toEqual(
          Array.from(tensorArray(b) as ArrayLike<number | bigint>),
        );
      };
      for (const t of [f32, f16, bf16, i64, scalar, empty]) same(await native(t.name), t);
      // Default: floats widen to float32 exactly; integers stay as they are.
      expect(Array.from(tensorArray(await st.read('b.f16')) as Float32Array)).toEqual([
        1,
        f16ToF32(f32ToF16(0.333)),
        -65504,
      ]);
      expect(Array.from(tensorArray(await st.read('c.bf16')) as Float32Array)).toEqual([
        1.5,
        bf16ToF32(f32ToBf16(-3e38)),
      ]);
      expect((await st.read('d.i64')).dtype).toBe('int64');
      expect(Array.from(tensorArray(await st.read('d.i64', { dtype: 'float32' })) as Float32Array)).toEqual([
        0,
        -(2 ** 63),
        2 ** 63,
      ]);
    } finally {
      await st.close();
    }
  });

  it('writes lazy references by streaming and converting them', async () => {
    const src = path.join(dir, 'src.safetensors');
    await writeSafetensors(src, [
      createTensor(
        'w',
        'float32',
        [1000],
        new Float32Array(1000).map((_, i) => i / 3),
      ),
    ]);
    const a = await SafetensorsFile.open(src);
    const dst = path.join(dir, 'dst.safetensors');
    await writeSafetensors(dst, [a.ref('w', { dtype: 'float16' })]);
    await a.close();
    const b = await SafetensorsFile.open(dst);
    expect(b.entry('w')).toMatchObject({ fileDtype: 'F16', byteLength: 2000 });
    const back = tensorArray(await b.read('w')) as Float32Array;
    expect(Math.abs(back[999]! - 333)).toBeLessThan(0.2);
    await b.close();
    await expect(
      writeSafetensors(dst, [createTensor('x', 'float32', [1], [1]), createTensor('x', 'float32', [1], [2])]),
    ).rejects.toThrow(/duplicate/);
  });
});

describe('safetensors: corrupt files are rejected clearly', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = makeTempDir()));
  afterEach(() => cleanup());

  const good = {
    w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    b: { dtype: 'F32', shape: [2], data_offsets: [16, 24] },
  };

  async function rejects(file: string, pattern: RegExp): Promise<void> {
    const error = await SafetensorsFile.open(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelFormatError);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(pattern);
  }

  it('opens the well-formed baseline', async () => {
    const file = path.join(dir, 'ok.safetensors');
    rawFile(file, good, new Uint8Array(24));
    const st = await SafetensorsFile.open(file);
    expect(st.names).toEqual(['w', 'b']);
    await st.close();
  });

  it('truncated before the header length', async () => {
    const file = path.join(dir, 'tiny.safetensors');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    await rejects(file, /truncated: 3 bytes/);
  });

  it('header length past the end of the file', async () => {
    const file = path.join(dir, 'short.safetensors');
    rawFile(file, good, new Uint8Array(24), 5000n);
    await rejects(file, /header length 5000 runs past the end/);
  });

  it('huge header length', async () => {
    const file = path.join(dir, 'huge.safetensors');
    rawFile(file, good, new Uint8Array(24), 2n ** 62n);
    await rejects(file, /header length 4611686018427387904 is over the 100 MB limit/);
  });

  it('header that is not JSON', async () => {
    const file = path.join(dir, 'garbage.safetensors');
    const junk = Buffer.from('{"w": {"dtype": "F32", "shape": [2');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(junk.length));
    writeFileSync(file, Buffer.concat([len, junk, Buffer.alloc(24)]));
    await rejects(file, /corrupt header: not valid UTF-8 JSON/);
  });

  it('data truncated: a tensor past the end', async () => {
    const file = path.join(dir, 'cut.safetensors');
    rawFile(file, good, new Uint8Array(20));
    await rejects(file, /tensor 'b': data ends at byte 24 of a 20-byte data section \(file truncated\?\)/);
  });

  it('overlapping offsets', async () => {
    const file = path.join(dir, 'overlap.safetensors');
    rawFile(file, { ...good, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(24));
    await rejects(file, /tensors 'w' and 'b' overlap/);
  });

  it('dtype and shape inconsistent with the byte length', async () => {
    const file = path.join(dir, 'size.safetensors');
    rawFile(file, { ...good, b: { dtype: 'F16', shape: [3], data_offsets: [16, 24] } }, new Uint8Array(24));
    await rejects(file, /tensor 'b': F16\[3\] needs 6 bytes, data_offsets \[16, 24\] give 8/);
  });

  it('unknown dtype, bad shape, bad offsets, bad metadata', async () => {
    const cases: [unknown, RegExp][] = [
      [{ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, /tensor 'w': unknown dtype "Q4"/],
      [{ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, /tensor 'w': invalid shape \[-1\]/],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, /end before they begin/],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, /invalid data_offsets \[0\]/],
      [{ __metadata__: { a: 1 } }, /__metadata__ value for 'a' is not a string/],
      [[1, 2], /not a JSON object/],
    ];
    for (const [i, [header, pattern]] of cases.entries()) {
      const file = path.join(dir, `case${i}.safetensors`);
      rawFile(file, header, new Uint8Array(8));
      await rejects(file, pattern);
    }
  });

  it('float8 tensors open but refuse to be read', async () => {
    const file = path.join(dir, 'f8.safetensors');
    rawFile(file, { w: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, new Uint8Array(4));
    const st = await SafetensorsFile.open(file);
    await expect(st.read('w')).rejects.toThrow(/tensor 'w' has dtype F8_E4M3, which the engine cannot read/);
    await st.close();
  });
});
