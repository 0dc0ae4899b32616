/**
 * Models on disk: `loadModel` reads a `.onnx` file (external data stays on disk, referenced);
 * `saveModel` writes `model.onnx` plus one side file `model.onnx.data` holding every initializer
 * over a size threshold — how models past protobuf's 2 GiB limit are stored. Weights are streamed
 * tensor by tensor (and external sources chunk by chunk), never gathered into one buffer.
 */
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { dtypeSize } from './dtype';
import { GraphError } from './errors';
import { type ExternalData, type Model, type Tensor } from './ir';
import { decodeModel, encodeModelChunks, type ExternalPlacement } from './onnx-proto';
import { concatChunks } from './protobuf';
import { convertBytes, isExternal, tensorByteLength } from './tensor';

/** Protobuf messages cannot exceed 2 GiB − 1 bytes. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export type SaveModelOptions = {
  /** Initializers of more than this many bytes go to the data file. Default 1024; Infinity keeps all inline. */
  externalDataThreshold?: number;
  /** Data-file offset alignment for tensors of 1 MiB or more (page size, so runtimes can mmap). Default 4096. */
  alignment?: number;
};

export type SaveModelResult = {
  modelPath: string;
  /** Absent when every tensor stayed inline. */
  dataPath?: string | undefined;
  modelBytes: number;
  dataBytes: number;
  externalTensors: number;
};

/** Smaller tensors are aligned to this (enough for any element type and SIMD loads, little waste). */
const SMALL_ALIGNMENT = 64;
const BIG_TENSOR = 1 << 20;
/** Copy external sources in pieces of this size (a multiple of every element size). */
const COPY_CHUNK = 16 << 20;

/** Reads an ONNX model; external data references resolve against the file's directory. */
export async function loadModel(path: string): Promise<Model> {
  const bytes = await readFile(path);
  return decodeModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    baseDir: dirname(path),
    file: path,
  });
}

/**
 * The model as one buffer, every tensor inline (external data read in). For models under 2 GiB:
 * handing a session the bytes directly, comparing encodings.
 */
export function encodeModel(model: Model): Uint8Array {
  // Refuse before reading any external data in: the weights alone decide it.
  const weights = inlineBytes(model, new Set());
  if (weights > PROTOBUF_LIMIT) {
    throw new GraphError(
      `model '${model.graph.name}' has ${weights} bytes of weights, over protobuf's 2 GiB limit: save it with external data`,
    );
  }
  const chunks = encodeModelChunks(model);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total > PROTOBUF_LIMIT) {
    throw new GraphError(
      `model '${model.graph.name}' is ${total} bytes, over protobuf's 2 GiB limit: save it with external data`,
    );
  }
  return concatChunks(chunks);
}

/**
 * Writes `path` (and `path + '.data'` when any initializer exceeds the threshold). Files are
 * written under temporary names and renamed at the end, so a crash leaves no half model and a
 * model loaded from `path` can be saved back over itself.
 */
export async function saveModel(model: Model, path: string, options: SaveModelOptions = {}): Promise<SaveModelResult> {
  const threshold = options.externalDataThreshold ?? 1024;
  const alignment = options.alignment ?? 4096;
  const dataPath = `${path}.data`;
  const location = basename(dataPath);
  const tmpSuffix = `.tmp-${process.pid}-${Date.now()}`;
  const placements = new Map<Tensor, ExternalPlacement>();
  let dataBytes = 0;

  const external = [...model.graph.initializers.values()].filter((t) => tensorByteLength(t) > threshold);
  const inline = inlineBytes(model, new Set(external));
  if (inline > PROTOBUF_LIMIT) {
    throw new GraphError(
      `model.onnx would hold ${inline} bytes of weights, over protobuf's 2 GiB limit: lower externalDataThreshold`,
    );
  }
  try {
    if (external.length > 0) {
      const fh = await open(dataPath + tmpSuffix, 'w');
      try {
        for (const tensor of external) {
          const length = tensorByteLength(tensor);
          const align = length >= BIG_TENSOR ? alignment : SMALL_ALIGNMENT;
          const offset = Math.ceil(dataBytes / align) * align;
          await writeTensorData(fh, tensor, offset);
          placements.set(tensor, { location, offset, length });
          dataBytes = offset + length;
        }
      } finally {
        await fh.close();
      }
    }
    const chunks = encodeModelChunks(model, (t) => placements.get(t));
    const modelBytes = chunks.reduce((n, c) => n + c.length, 0);
    if (modelBytes > PROTOBUF_LIMIT) {
      throw new GraphError(
        `model.onnx would be ${modelBytes} bytes, over protobuf's 2 GiB limit: lower externalDataThreshold`,
      );
    }
    const fh = await open(path + tmpSuffix, 'w');
    try {
      let at = 0;
      for (const chunk of chunks) {
        await writeAll(fh, chunk, at);
        at += chunk.length;
      }
    } finally {
      await fh.close();
    }
    await rename(path + tmpSuffix, path);
    if (external.length > 0) await rename(dataPath + tmpSuffix, dataPath);
    else await rm(dataPath, { force: true }); // a stale side file from an earlier save would mislead
    return {
      modelPath: path,
      dataPath: external.length > 0 ? dataPath : undefined,
      modelBytes,
      dataBytes,
      externalTensors: external.length,
    };
  } catch (error) {
    await rm(path + tmpSuffix, { force: true });
    await rm(dataPath + tmpSuffix, { force: true });
    throw error;
  }
}

/** Bytes of initializers that would be written inside the protobuf. */
function inlineBytes(model: Model, external: ReadonlySet<Tensor>): number {
  let n = 0;
  for (const t of model.graph.initializers.values()) if (!external.has(t)) n += tensorByteLength(t);
  return n;
}

/**
 * Writes a tensor's bytes (its dtype, little-endian) into an open file at `offset`: in-memory
 * arrays directly, external sources copied (and converted) in 16 MiB pieces.
 */
export async function writeTensorData(fh: FileHandle, tensor: Tensor, offset: number): Promise<void> {
  const data = tensor.data;
  if (!isExternal(data)) {
    await writeAll(fh, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }
  await copyExternal(fh, tensor, data, offset);
}

async function copyExternal(fh: FileHandle, tensor: Tensor, ext: ExternalData, offset: number): Promise<void> {
  const from = ext.sourceDtype ?? tensor.dtype;
  const src = await open(ext.path, 'r');
  try {
    const buf = new Uint8Array(Math.min(COPY_CHUNK, Math.max(ext.length, 1)));
    let read = 0;
    let at = offset;
    while (read < ext.length) {
      const want = Math.min(buf.length, ext.length - read);
      const { bytesRead } = await src.read(buf, 0, want, ext.offset + read);
      if (bytesRead === 0)
        throw new GraphError(`tensor '${tensor.name}': '${ext.path}' ends before byte ${ext.offset + ext.length}`);
      // Keep whole elements together so a chunk converts on its own.
      const whole = bytesRead - (bytesRead % dtypeSize(from));
      if (whole === 0) throw new GraphError(`tensor '${tensor.name}': short read from '${ext.path}'`);
      const out = convertBytes(buf.slice(0, whole), from, tensor.dtype);
      await writeAll(fh, out, at);
      at += out.length;
      read += whole;
    }
  } finally {
    await src.close();
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    // One write call takes at most 2 GiB − 1 bytes.
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30), position + done);
    done += bytesWritten;
  }
}
