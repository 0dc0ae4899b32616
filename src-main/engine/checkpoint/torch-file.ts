/**
 * PyTorch `.ckpt` / `.pt` / `.pth` files through the restricted pickle reader, in both layouts:
 * - zip (torch ≥ 1.6): `<root>/data.pkl` + one entry `<root>/data/<key>` per storage;
 * - legacy: magic number, protocol, sys info and the object as consecutive pickles, then the storage
 *   keys, then each storage as an int64 element count and its bytes.
 * Tensors come back as lazy references into the file (stored, contiguous storages — how torch writes
 * them), so a multi-GB checkpoint is never read whole; other layouts are materialized per tensor.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { PinholeError } from '../../../src-shared/errors';
import { convertBytes, dtypeSize, numel, readFileRange, viewArray, type DType, type Tensor } from '../graph';
import { readPickle } from './pickle-reader';
import { AllowedGlobal, TorchStorage, TorchTensorRecord, type PickleValue } from './pickle-values';
import { looksLikeZip, readZipEntries, readZipEntry } from './zip-reader';

/** An unpickled torch file: the object as saved (tensors as `Tensor` references) and every tensor by dotted path. */
export type TorchFile = {
  readonly path: string;
  readonly root: PickleValue;
  /** Every tensor reachable through dicts and lists, named by its key path (`state_dict.model.x.weight`). */
  readonly tensors: ReadonlyMap<string, Tensor>;
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** The pickle of a legacy file must fit in memory; the tensor bytes after it stay on disk. */
const MAX_PICKLE_BYTES = 1 << 30;

function reject(file: string, reason: string, cause?: unknown): PinholeError {
  return new PinholeError('IMPORT_REJECTED', `${file}: ${reason}`, cause === undefined ? undefined : { cause });
}

/**
 * Reads a torch file's structure (not its tensor bytes).
 * @throws PinholeError `IMPORT_REJECTED` naming the file: a refused global (nothing is ever run), a truncated or
 *   corrupt file, a storage missing from the archive; `NOT_FOUND` when the file cannot be opened.
 */
export async function openTorchFile(path: string): Promise<TorchFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Cannot open ${path}`, { cause: error });
  }
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(size, 16));
    await handle.read(head, 0, head.length, 0);
    const root = looksLikeZip(head)
      ? await readZipLayout(handle, size, path)
      : await readLegacyLayout(handle, size, path);
    return { path, root, tensors: collectTensors(root, path) };
  } finally {
    await handle.close();
  }
}

/** Every tensor of a torch file read into memory (for small files: embeddings, VAEs). */
export async function readTorchFile(path: string): Promise<Map<string, Tensor>> {
  const file = await openTorchFile(path);
  return new Map([...file.tensors].map(([name, t]) => [name, materialize(t)]));
}

/** The tensor's bytes in memory (reads a file reference). */
export function materialize(t: Tensor): Tensor {
  if (ArrayBuffer.isView(t.data)) return t;
  const ext = t.data;
  const raw = readFileRange(ext.path, ext.offset, ext.length);
  return { ...t, data: viewArray(t.dtype, convertBytes(raw, ext.sourceDtype ?? t.dtype, t.dtype)) };
}

function storageKeyOf(pid: PickleValue, file: string): { type: AllowedGlobal; key: string; numel: number } {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
    throw reject(file, 'a persistent id is not a torch storage');
  const [, type, key, , count] = pid;
  if (!(type instanceof AllowedGlobal) || !type.storageDtype) throw reject(file, 'a storage has no storage type');
  const n = typeof count === 'bigint' ? Number(count) : count;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw reject(file, 'a storage has no element count');
  return { type, key: keyText(key), numel: n };
}

async function readZipLayout(handle: FileHandle, size: number, file: string): Promise<PickleValue> {
  const entries = await readZipEntries(handle, size, file);
  const pickleEntry = [...entries.values()].find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pickleEntry) throw reject(file, 'a ZIP file without data.pkl is not a PyTorch checkpoint');
  const prefix = pickleEntry.name.slice(0, -'data.pkl'.length);
  const pickle = await readZipEntry(handle, pickleEntry, file);
  const storages = new Map<string, TorchStorage>();
  const deflated: { storage: TorchStorage; entry: NonNullable<ReturnType<typeof entries.get>> }[] = [];
  const { value } = readPickle(pickle, file, (pid) => {
    const { type, key, numel: count } = storageKeyOf(pid, file);
    let storage = storages.get(key);
    if (storage) return storage;
    storage = new TorchStorage(key, type.storageDtype!, count);
    storages.set(key, storage);
    const entry = entries.get(`${prefix}data/${key}`);
    if (!entry) throw reject(file, `storage ${key} is missing from the archive (truncated or corrupt file)`);
    const byteLength = count * dtypeSize(storage.dtype);
    if (entry.size < byteLength) throw reject(file, `storage ${key} has ${entry.size} bytes, ${byteLength} expected`);
    if (entry.method === 0) storage.bytes = { kind: 'file', path: file, offset: entry.dataOffset, byteLength };
    else deflated.push({ storage, entry });
    return storage;
  });
  for (const { storage, entry } of deflated) {
    storage.bytes = { kind: 'memory', bytes: await readZipEntry(handle, entry, file) };
  }
  return value;
}

async function readLegacyLayout(handle: FileHandle, size: number, file: string): Promise<PickleValue> {
  const head = Buffer.alloc(Math.min(size, 512));
  await handle.read(head, 0, head.length, 0);
  if (head.length < 2 || head[0] !== 0x80) {
    throw reject(file, 'not a PyTorch file: it is neither a ZIP archive nor a pickle (is it a model file at all?)');
  }
  // The pickles precede the tensor bytes; read a generous prefix and grow it if a pickle runs past it.
  let length = Math.min(size, 64 << 20);
  for (;;) {
    const bytes = Buffer.alloc(length);
    await handle.read(bytes, 0, length, 0);
    try {
      return parseLegacy(bytes, size, file);
    } catch (error) {
      const truncated = error instanceof PinholeError && /truncated/.test(error.message);
      if (!truncated || length >= size || length >= MAX_PICKLE_BYTES) throw error;
      length = Math.min(size, length * 4, MAX_PICKLE_BYTES);
    }
  }
}

function parseLegacy(bytes: Buffer, size: number, file: string): PickleValue {
  const noStorage = (): never => {
    throw reject(file, 'a storage appears in the header of a legacy torch file');
  };
  const magic = readPickle(bytes, file, noStorage);
  if (magic.value !== LEGACY_MAGIC && BigInt(magic.value as number) !== LEGACY_MAGIC) {
    throw reject(file, 'not a PyTorch file (a pickle without torch’s magic number)');
  }
  const protocol = readPickle(bytes, file, noStorage, magic.end);
  const sysInfo = readPickle(bytes, file, noStorage, protocol.end);
  const storages = new Map<string, TorchStorage>();
  const main = readPickle(
    bytes,
    file,
    (pid) => {
      const { type, key, numel: count } = storageKeyOf(pid, file);
      const existing = storages.get(key);
      if (existing) return existing;
      const storage = new TorchStorage(key, type.storageDtype!, count);
      storages.set(key, storage);
      return storage;
    },
    sysInfo.end,
  );
  const keys = readPickle(bytes, file, noStorage, main.end);
  if (!Array.isArray(keys.value)) throw reject(file, 'the storage list of a legacy torch file is corrupt');
  let offset = keys.end;
  for (const key of keys.value) {
    const storage = storages.get(keyText(key));
    if (!storage) throw reject(file, `storage ${keyText(key)} is listed but never used`);
    if (offset + 8 > size) throw reject(file, 'truncated: the file ends inside its tensor data');
    const byteLength = storage.numel * dtypeSize(storage.dtype);
    offset += 8; // int64 element count, as the id already gave it
    if (offset + byteLength > size) throw reject(file, 'truncated: the file ends inside its tensor data');
    storage.bytes = { kind: 'file', path: file, offset, byteLength };
    offset += byteLength;
  }
  return main.value;
}

/** A dict key or storage key as text (strings and numbers; anything else is not a name). */
function keyText(key: unknown): string {
  return typeof key === 'string' || typeof key === 'number' || typeof key === 'bigint' ? String(key) : '?';
}

/** Walks dicts and lists, naming each tensor by its key path. */
function collectTensors(root: PickleValue, file: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const seen = new Set<PickleValue>();
  const walk = (value: PickleValue, name: string): void => {
    if (value instanceof TorchTensorRecord) {
      out.set(name, toTensor(value, name, file));
      return;
    }
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    if (value instanceof Map) {
      for (const [k, v] of value) walk(v, name ? `${name}.${keyText(k)}` : keyText(k));
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, name ? `${name}.${i}` : String(i)));
    }
  };
  walk(root, '');
  return out;
}

function toTensor(record: TorchTensorRecord, name: string, file: string): Tensor {
  const { storage, storageOffset, shape, stride } = record;
  const dtype: DType = storage.dtype;
  const size = dtypeSize(dtype);
  const count = numel(shape);
  if (!storage.bytes) throw reject(file, `tensor '${name}': its storage ${storage.key} has no data`);
  // The last element the view touches must lie inside the storage.
  let last = storageOffset;
  for (let i = 0; i < shape.length; i++) if (shape[i]! > 0) last += (shape[i]! - 1) * stride[i]!;
  if (count > 0 && last >= storage.numel) {
    throw reject(file, `tensor '${name}' reaches past the end of its storage (corrupt file)`);
  }
  const contiguous = shape.every((_, i) => shape[i] === 1 || stride[i] === numel(shape.slice(i + 1)));
  const bytes = storage.bytes;
  if (contiguous && bytes.kind === 'file') {
    return {
      name,
      dtype,
      dims: [...shape],
      data: { kind: 'external', path: bytes.path, offset: bytes.offset + storageOffset * size, length: count * size },
    };
  }
  const source = bytes.kind === 'file' ? readFileRange(bytes.path, bytes.offset, bytes.byteLength) : bytes.bytes;
  const out = new Uint8Array(count * size);
  const index = new Array<number>(shape.length).fill(0);
  for (let n = 0; n < count; n++) {
    let at = storageOffset;
    for (let i = 0; i < shape.length; i++) at += index[i]! * stride[i]!;
    out.set(source.subarray(at * size, at * size + size), n * size);
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++index[i]! < shape[i]!) break;
      index[i] = 0;
    }
  }
  return { name, dtype, dims: [...shape], data: viewArray(dtype, out) };
}
