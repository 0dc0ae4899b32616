/**
 * Built graphs handed to onnxruntime. Small ones go as one in-memory buffer; past `inlineLimit`
 * bytes of weights (SD 1.5's UNet in float32 is 3.4 GB, SDXL's in float16 5 GB — both over
 * protobuf's 2 GiB message limit) the model is written to a temporary `.onnx` with its weights as
 * external data and loaded from there; the files go when the session is released.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeModel, saveModel, tensorByteLength, type Model } from '../graph';
import type {
  DeviceRunResult,
  DeviceTensor,
  HostTensor,
  InferenceBackend,
  RawSession,
  SessionOptions,
} from '../runtime';

/** Weights up to this size are handed over inline (well under protobuf's 2 GiB, whose encoding also copies them). */
export const INLINE_WEIGHT_LIMIT = 1024 ** 3;

/** What a session is created from, and how to clean it up afterwards. */
export type BuiltModelSource = { model: string | Uint8Array; dispose(): Promise<void> };

export function weightBytes(model: Model): number {
  let total = 0;
  for (const t of model.graph.initializers.values()) total += tensorByteLength(t);
  return total;
}

/** `model` as bytes, or as a temporary file with external data when its weights exceed `inlineLimit`. */
export async function materializeModel(model: Model, inlineLimit = INLINE_WEIGHT_LIMIT): Promise<BuiltModelSource> {
  if (weightBytes(model) <= inlineLimit) return { model: encodeModel(model), dispose: async () => {} };
  const dir = await mkdtemp(path.join(tmpdir(), 'pinhole-built-'));
  try {
    const file = path.join(dir, 'model.onnx');
    await saveModel(model, file);
    return { model: file, dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A session whose release also removes its temporary model files. */
class DisposingSession implements RawSession {
  readonly inputs: RawSession['inputs'];
  readonly outputs: RawSession['outputs'];
  readonly runOnDevice?: RawSession['runOnDevice'];

  constructor(
    private readonly raw: RawSession,
    private readonly source: BuiltModelSource,
  ) {
    this.inputs = raw.inputs;
    this.outputs = raw.outputs;
    if (raw.runOnDevice) {
      this.runOnDevice = (feeds, fetches, deviceFeeds): Promise<DeviceRunResult> =>
        raw.runOnDevice!(feeds, fetches, deviceFeeds);
    }
  }

  run(
    feeds: Readonly<Record<string, HostTensor>>,
    fetches?: readonly string[],
    deviceFeeds?: Readonly<Record<string, DeviceTensor>>,
  ): Promise<Record<string, HostTensor>> {
    return this.raw.run(feeds, fetches, deviceFeeds);
  }

  async release(): Promise<void> {
    try {
      await this.raw.release();
    } finally {
      await this.source.dispose();
    }
  }
}

/** Creates a session for a built model of any size (see `materializeModel`). */
export async function createBuiltSession(
  backend: InferenceBackend,
  model: Model,
  options: SessionOptions,
  inlineLimit = INLINE_WEIGHT_LIMIT,
): Promise<RawSession> {
  const source = await materializeModel(model, inlineLimit);
  try {
    const raw = await backend.createSession(source.model, options);
    return typeof source.model === 'string' ? new DisposingSession(raw, source) : raw;
  } catch (error) {
    await source.dispose();
    throw error;
  }
}
