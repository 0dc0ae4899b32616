/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`,
 * then the tensor bytes (offsets relative to the end of the header).
 *
 * The reader validates the whole header on open — offsets inside the file, no overlaps, byte
 * lengths matching dtype × shape — so a truncated or corrupt file fails at once with a message
 * naming the file and the tensor, and reads tensors lazily by name through the file descriptor
 * (multi-GB checkpoints are never read whole). The writer streams tensors one by one.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import {
  convertBytes,
  isFloatDType,
  ModelFormatError,
  numel,
  tensorByteLength,
  viewArray,
  writeTensorData,
  type DType,
  type Tensor,
} from '../graph';

/** safetensors dtype names → ours (undefined: known to the format, not readable here). */
const FILE_DTYPES: Readonly<Record<string, { dtype: DType | undefined; bytes: number }>> = {
  F64: { dtype: 'float64', bytes: 8 },
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float16', bytes: 2 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
  I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  I16: { dtype: 'int16', bytes: 2 },
  I8: { dtype: 'int8', bytes: 1 },
  U64: { dtype: 'uint64', bytes: 8 },
  U32: { dtype: 'uint32', bytes: 4 },
  U16: { dtype: 'uint16', bytes: 2 },
  U8: { dtype: 'uint8', bytes: 1 },
  BOOL: { dtype: 'bool', bytes: 1 },
  F8_E4M3: { dtype: undefined, bytes: 1 },
  F8_E5M2: { dtype: undefined, bytes: 1 },
};

const TO_FILE_DTYPE: Readonly<Record<DType, string>> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint64: 'U64',
  uint32: 'U32',
  uint16: 'U16',
  uint8: 'U8',
  bool: 'BOOL',
};

/** The format's own cap on the header (the reference implementation refuses larger). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's place in the file. */
export type SafetensorsEntry = {
  name: string;
  /** As written in the file (`F16`, `BF16`, …). */
  fileDtype: string;
  /** Ours; undefined for dtypes the engine cannot read (float8). */
  dtype: DType | undefined;
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
};

export type ReadTensorOptions = {
  /**
   * Result dtype. Default: float32 for floating-point tensors (F16/BF16 widened exactly, F64
   * rounded), integer and bool tensors as stored. 'native' keeps every tensor as stored (F16 stays
   * raw float16 bits); a dtype converts any tensor to it.
   */
  dtype?: DType | 'native';
};

/** An open safetensors file. Close it when done (it holds a file descriptor). */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** `__metadata__` (string → string). */
    readonly metadata: Readonly<Record<string, string>>,
    private readonly byName: ReadonlyMap<string, SafetensorsEntry>,
  ) {}

  /** Opens and validates `path`. Throws `ModelFormatError` naming the file (and tensor) if it is malformed. */
  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const { metadata, entries } = await readHeader(handle, size, path);
      return new SafetensorsFile(path, handle, metadata, new Map(entries.map((e) => [e.name, e])));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Tensor names in header order. */
  get names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Every tensor's dtype, shape and place. */
  entries(): SafetensorsEntry[] {
    return [...this.byName.values()];
  }

  /** One tensor's entry; throws naming the file when absent. */
  entry(name: string): SafetensorsEntry {
    const e = this.byName.get(name);
    if (!e) throw new ModelFormatError(`${this.path}: no tensor '${name}'`);
    return e;
  }

  /** Reads one tensor into memory, converted as `options.dtype` says (see `ReadTensorOptions`). */
  async read(name: string, options: ReadTensorOptions = {}): Promise<Tensor> {
    const e = this.entry(name);
    const from = this.sourceDtype(e);
    const to = targetDtype(from, options.dtype);
    const bytes = new Uint8Array(e.byteLength);
    let done = 0;
    while (done < e.byteLength) {
      const { bytesRead } = await this.handle.read(bytes, done, e.byteLength - done, e.offset + done);
      if (bytesRead === 0)
        throw new ModelFormatError(`${this.path}: tensor '${name}' is cut short (file truncated while open?)`);
      done += bytesRead;
    }
    const data = viewArray(to, convertBytes(bytes, from, to));
    return { name, dtype: to, dims: [...e.shape], data };
  }

  /**
   * The tensor as a reference into this file, read (and converted) only when a model is saved or
   * its bytes are asked for — how full-size weights reach `model.onnx.data` without sitting in memory.
   * The reference names the path, so it stays valid after `close()`.
   */
  ref(name: string, options: ReadTensorOptions = {}): Tensor {
    const e = this.entry(name);
    const from = this.sourceDtype(e);
    const to = targetDtype(from, options.dtype);
    return {
      name,
      dtype: to,
      dims: [...e.shape],
      data: { kind: 'external', path: this.path, offset: e.offset, length: e.byteLength, sourceDtype: from },
    };
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private sourceDtype(e: SafetensorsEntry): DType {
    if (!e.dtype)
      throw new ModelFormatError(
        `${this.path}: tensor '${e.name}' has dtype ${e.fileDtype}, which the engine cannot read`,
      );
    return e.dtype;
  }
}

function targetDtype(from: DType, wanted: DType | 'native' | undefined): DType {
  if (wanted === 'native') return from;
  if (wanted) return wanted;
  return isFloatDType(from) ? 'float32' : from;
}

async function readHeader(
  handle: FileHandle,
  size: number,
  path: string,
): Promise<{ metadata: Record<string, string>; entries: SafetensorsEntry[] }> {
  const fail = (message: string): never => {
    throw new ModelFormatError(`${path}: ${message}`);
  };
  if (size < 8) fail(`truncated: ${size} bytes, too short for a safetensors header`);
  const lenBuf = new Uint8Array(8);
  await handle.read(lenBuf, 0, 8, 0);
  const headerLength = new DataView(lenBuf.buffer).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    fail(`header length ${headerLength} is over the 100 MB limit (corrupt, or not a safetensors file)`);
  const n = Number(headerLength);
  if (8 + n > size)
    fail(`header length ${n} runs past the end of the ${size}-byte file (truncated, or not a safetensors file)`);
  const headerBytes = new Uint8Array(n);
  await handle.read(headerBytes, 0, n, 8);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new ModelFormatError(`${path}: corrupt header: not valid UTF-8 JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('corrupt header: not a JSON object');
  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value for '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    entries.push(parseEntry(name, raw, dataStart, dataSize, fail));
  }
  // Sorted by position, each tensor must start at or after the previous one's end.
  const byOffset = entries.filter((e) => e.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      fail(
        `tensors '${prev.name}' and '${cur.name}' overlap (bytes ${prev.offset - dataStart}–${prev.offset - dataStart + prev.byteLength} and ${cur.offset - dataStart}–…)`,
      );
    }
  }
  return { metadata, entries };
}

function parseEntry(
  name: string,
  raw: unknown,
  dataStart: number,
  dataSize: number,
  fail: (m: string) => never,
): SafetensorsEntry {
  if (typeof raw !== 'object' || raw === null) fail(`tensor '${name}': entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  const info = typeof dtype === 'string' ? FILE_DTYPES[dtype] : undefined;
  if (!info) fail(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)}`);
  const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!Array.isArray(shape) || !shape.every(isIndex)) fail(`tensor '${name}': invalid shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    fail(`tensor '${name}': invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`tensor '${name}': data_offsets [${begin}, ${end}] end before they begin`);
  const dims = shape;
  const want = numel(dims) * info.bytes;
  if (end - begin !== want) {
    fail(
      `tensor '${name}': ${dtype as string}[${dims.join(', ')}] needs ${want} bytes, data_offsets [${begin}, ${end}] give ${end - begin}`,
    );
  }
  if (end > dataSize)
    fail(`tensor '${name}': data ends at byte ${end} of a ${dataSize}-byte data section (file truncated?)`);
  return {
    name,
    fileDtype: dtype as string,
    dtype: info.dtype,
    shape: dims,
    offset: dataStart + begin,
    byteLength: want,
  };
}

/**
 * Writes tensors (in the given order) and string metadata as a safetensors file. Tensor data may
 * be in memory or external (copied in chunks, converted to the tensor's dtype). Written under a
 * temporary name and renamed, so readers never see half a file.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly Tensor[] | ReadonlyMap<string, Tensor>,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const list = Array.isArray(tensors)
    ? (tensors as readonly Tensor[])
    : [...(tensors as ReadonlyMap<string, Tensor>).values()];
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const offsets: number[] = [];
  for (const t of list) {
    if (t.name === '__metadata__' || Object.hasOwn(header, t.name))
      throw new ModelFormatError(`${path}: duplicate or reserved tensor name '${t.name}'`);
    const length = tensorByteLength(t);
    header[t.name] = { dtype: TO_FILE_DTYPE[t.dtype], shape: t.dims, data_offsets: [offset, offset + length] };
    offsets.push(offset);
    offset += length;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  const encoded = new TextEncoder().encode(json);
  json += ' '.repeat((8 - (encoded.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);

  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(prefix, 0, 8, 0);
    await fh.write(headerBytes, 0, headerBytes.length, 8);
    const start = 8 + headerBytes.length;
    for (const [i, t] of list.entries()) await writeTensorData(fh, t, start + offsets[i]!);
    await fh.truncate(start + offset);
    await fh.close();
    await rename(tmp, path);
  } catch (error) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Bytes per element of a safetensors dtype name, or undefined if unknown. */
export function safetensorsDtypeSize(fileDtype: string): number | undefined {
  return FILE_DTYPES[fileDtype]?.bytes;
}
