/**
 * Writes small PyTorch files in torch's legacy (non-zip) `torch.save` layout, byte for byte as
 * `torch.save(obj, f, _use_new_zipfile_serialization=False)` lays them out: the magic number, the protocol
 * version and the system info as pickles, the object as a pickle whose tensors are
 * `torch._utils._rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())`, the storage keys,
 * then each storage as an int64 element count and its float32 bytes. Enough for textual-inversion `.pt` tests,
 * written here so that the tests do not depend on the reader under test.
 */
import { writeFileSync } from 'node:fs';

/** A value the writer can pickle: numbers (ints), strings, dicts, float32 tensors, or a raw GLOBAL call. */
export type PickleInput =
  | number
  | string
  | boolean
  | { readonly tensor: Float32Array; readonly dims: readonly number[] }
  | { readonly global: string; readonly args: readonly PickleInput[] }
  | { readonly [key: string]: PickleInput };

const PROTO2 = [0x80, 0x02];
const STOP = 0x2e;
const MAGIC = 0x1950a86a20f9469cfc6cn;

class Pickler {
  readonly bytes: number[] = [];
  readonly storages: Float32Array[] = [];

  int(n: number): void {
    if (n >= 0 && n < 256)
      this.bytes.push(0x4b, n); // BININT1
    else if (n >= 0 && n < 65536)
      this.bytes.push(0x4d, n & 0xff, n >> 8); // BININT2
    else {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      this.bytes.push(0x4a, ...b); // BININT
    }
  }

  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.bytes.push(0x58, ...len, ...b); // BINUNICODE
  }

  global(module: string, name: string): void {
    this.bytes.push(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1')); // GLOBAL
  }

  tuple(items: (() => void)[]): void {
    this.bytes.push(0x28); // MARK
    for (const item of items) item();
    this.bytes.push(0x74); // TUPLE
  }

  value(v: PickleInput): void {
    if (typeof v === 'number') return this.int(v);
    if (typeof v === 'string') return this.str(v);
    if (typeof v === 'boolean') return void this.bytes.push(v ? 0x88 : 0x89);
    if ('tensor' in v && v.tensor instanceof Float32Array) return this.tensor(v.tensor, v.dims as number[]);
    if ('global' in v && typeof v.global === 'string') {
      const dot = v.global.lastIndexOf('.');
      this.global(v.global.slice(0, dot), v.global.slice(dot + 1));
      this.tuple((v.args as PickleInput[]).map((a) => () => this.value(a)));
      this.bytes.push(0x52); // REDUCE
      return;
    }
    this.bytes.push(0x7d, 0x28); // EMPTY_DICT, MARK
    for (const [key, item] of Object.entries(v as Record<string, PickleInput>)) {
      this.str(key);
      this.value(item);
    }
    this.bytes.push(0x75); // SETITEMS
  }

  tensor(data: Float32Array, dims: number[]): void {
    const key = String(this.storages.length);
    this.storages.push(data);
    const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.tuple([
      () => {
        this.tuple([
          () => this.str('storage'),
          () => this.global('torch', 'FloatStorage'),
          () => this.str(key),
          () => this.str('cpu'),
          () => this.int(data.length),
        ]);
        this.bytes.push(0x51); // BINPERSID
      },
      () => this.int(0),
      () => this.tuple(dims.map((d) => () => this.int(d))),
      () => this.tuple(strides.map((s) => () => this.int(s))),
      () => this.bytes.push(0x89),
      () => {
        this.global('collections', 'OrderedDict');
        this.bytes.push(0x29, 0x52); // EMPTY_TUPLE, REDUCE
      },
    ]);
    this.bytes.push(0x52); // REDUCE
  }
}

function pickle(write: (p: Pickler) => void, p = new Pickler()): number[] {
  p.bytes.length = 0;
  p.bytes.push(...PROTO2);
  write(p);
  p.bytes.push(STOP);
  return [...p.bytes];
}

/** Writes `obj` as a legacy-layout torch file. */
export function writeLegacyTorchFile(file: string, obj: PickleInput): void {
  const magic = Buffer.alloc(10);
  let m = MAGIC;
  for (let i = 0; i < 10; i++, m >>= 8n) magic[i] = Number(m & 0xffn);
  const main = new Pickler();
  const parts: number[][] = [
    pickle((p) => p.bytes.push(0x8a, 10, ...magic)), // LONG1
    pickle((p) => p.int(1001)),
    pickle((p) => p.value({ protocol_version: 1001, little_endian: true })),
    pickle((p) => p.value(obj), main),
  ];
  parts.push(
    pickle((p) => {
      p.bytes.push(0x5d, 0x28); // EMPTY_LIST, MARK
      main.storages.forEach((_, i) => p.str(String(i)));
      p.bytes.push(0x65); // APPENDS
    }),
  );
  const chunks: Buffer[] = parts.map((b) => Buffer.from(b));
  for (const data of main.storages) {
    const count = Buffer.alloc(8);
    count.writeBigInt64LE(BigInt(data.length));
    chunks.push(count, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  writeFileSync(file, Buffer.concat(chunks));
}
