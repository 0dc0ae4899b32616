/**
 * The one module that imports onnxruntime-node. Everything else in the engine talks to `InferenceBackend`,
 * so the rest is testable with fakes and a future runtime swap touches only this file.
 */
import { PinholeError } from '../../../src-shared/errors';
import { env, InferenceSession, listSupportedBackends, Tensor } from 'onnxruntime-node';
import { identityModelBytes } from './tiny-onnx';
import type {
  DeviceRunResult,
  DeviceTensor,
  ExecutionProviderName,
  HostTensor,
  InferenceBackend,
  RawSession,
  SessionOptions,
  TensorType,
  ValueSpec,
} from './types';

const KNOWN_TYPES = new Set<string>(['float32', 'float16', 'float64', 'int32', 'int64', 'int8', 'uint8', 'bool']);

type OrtLogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';

/**
 * ORT logs a provider that fails to load as an error on stderr even though the engine handles it (CUDA absent
 * is normal); the reason is recorded by provider selection instead. `PINHOLE_ORT_LOG_LEVEL` brings logs back.
 * ORT reads this once, at its first session.
 */
function configureLogging(): void {
  const wanted = process.env['PINHOLE_ORT_LOG_LEVEL'];
  const levels: readonly OrtLogLevel[] = ['verbose', 'info', 'warning', 'error', 'fatal'];
  env.logLevel = levels.find((l) => l === wanted) ?? 'fatal';
}

/** onnxruntime-node's execution-provider option for one of the engine's providers. */
function providerConfig(
  name: ExecutionProviderName,
  deviceId: number | undefined,
): InferenceSession.ExecutionProviderConfig {
  switch (name) {
    case 'cuda':
      return { name: 'cuda', deviceId: deviceId ?? 0 };
    case 'dml':
      return { name: 'dml', deviceId: deviceId ?? 0 };
    default:
      return name;
  }
}

function specOf(meta: InferenceSession.ValueMetadata): ValueSpec {
  if (!meta.isTensor || !KNOWN_TYPES.has(meta.type)) return { name: meta.name, type: 'other', shape: [] };
  return { name: meta.name, type: meta.type as TensorType, shape: [...meta.shape] };
}

/**
 * A tensor ORT placed in WebGPU memory (`location: 'gpu-buffer'`). onnxruntime-node 1.30 hands such outputs out
 * as a `Tensor` whose `gpuBuffer` is an opaque handle that keeps the device buffer alive, and accepts them back
 * as feeds without a copy. Its native binding recognises only WebGPU's buffers as device outputs (the
 * `WebGPU_Buf` allocator); CUDA and DirectML outputs are not handed out that way, so `keepsTensorsOnDevice`
 * names WebGPU alone (CUDA residency would need binding support, and a CUDA machine to verify it).
 */
class OrtDeviceTensor implements DeviceTensor {
  readonly location = 'device';
  readonly type: TensorType;
  readonly dims: readonly number[];
  private tensor: Tensor | undefined;

  constructor(tensor: Tensor) {
    this.tensor = tensor;
    this.type = tensor.type as TensorType;
    this.dims = [...tensor.dims];
  }

  get disposed(): boolean {
    return this.tensor === undefined;
  }

  /** The ORT tensor to feed. */
  feed(): Tensor {
    if (!this.tensor) throw new PinholeError('INTERNAL', 'a device tensor was fed after it was disposed');
    return this.tensor;
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = undefined;
  }
}

function toOrt(tensor: HostTensor): Tensor {
  // ORT keeps a reference to the typed array, it does not copy: callers never mutate a feed after `run`.
  return new Tensor(tensor.type, tensor.data as never, [...tensor.dims]);
}

function deviceToOrt(tensor: DeviceTensor): Tensor {
  if (!(tensor instanceof OrtDeviceTensor)) throw new PinholeError('INTERNAL', 'a device tensor of another backend');
  return tensor.feed();
}

function fromOrt(value: unknown): HostTensor {
  const tensor = value as Tensor;
  const type = tensor.type as TensorType;
  if (!KNOWN_TYPES.has(type)) throw new Error(`model output of unsupported type ${tensor.type}`);
  return { type, data: tensor.data as HostTensor['data'], dims: [...tensor.dims] };
}

class OrtSession implements RawSession {
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];

  constructor(private readonly session: InferenceSession) {
    this.inputs = session.inputMetadata.map(specOf);
    this.outputs = session.outputMetadata.map(specOf);
  }

  async run(
    feeds: Readonly<Record<string, HostTensor>>,
    fetches?: readonly string[],
    deviceFeeds?: Readonly<Record<string, DeviceTensor>>,
  ): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrt(tensor);
    for (const [name, tensor] of Object.entries(deviceFeeds ?? {})) ortFeeds[name] = deviceToOrt(tensor);
    const results = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrt(value);
    return out;
  }

  async runOnDevice(
    feeds: Readonly<Record<string, HostTensor>>,
    fetches: readonly string[],
    deviceFeeds?: Readonly<Record<string, DeviceTensor>>,
  ): Promise<DeviceRunResult> {
    const ortFeeds: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrt(tensor);
    for (const [name, tensor] of Object.entries(deviceFeeds ?? {})) ortFeeds[name] = deviceToOrt(tensor);
    const results = await this.session.run(ortFeeds, [...fetches]);
    const host: Record<string, HostTensor> = {};
    const device: Record<string, DeviceTensor> = {};
    // Never call `getData` on a gpu-buffer output: onnxruntime-node 1.30 has no downloader and aborts the process.
    for (const [name, value] of Object.entries(results)) {
      if (value.location === 'gpu-buffer') device[name] = new OrtDeviceTensor(value);
      else host[name] = fromOrt(value);
    }
    return { host, device };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** onnxruntime-node's session options for the engine's. */
function ortSessionOptions(options: SessionOptions): InferenceSession.SessionOptions {
  const deviceOutputs = options.executionProvider === 'webgpu' ? (options.deviceOutputs ?? []) : [];
  return {
    ...(deviceOutputs.length > 0
      ? { preferredOutputLocation: Object.fromEntries(deviceOutputs.map((name) => [name, 'gpu-buffer' as const])) }
      : {}),
    executionProviders: [providerConfig(options.executionProvider, options.deviceId)],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    ...(options.intraOpSpinning !== undefined
      ? { extra: { session: { intra_op: { allow_spinning: options.intraOpSpinning ? '1' : '0' } } } }
      : {}),
  };
}

/**
 * Uploads: one `Identity` session per provider and element type whose output ORT leaves on the device. Created on
 * first use and kept for the backend's life (a few kilobytes of graph, no weights).
 */
function createUploader(): (tensor: HostTensor, options: SessionOptions) => Promise<DeviceTensor> {
  const sessions = new Map<string, Promise<InferenceSession>>();
  return async (tensor, options) => {
    if (options.executionProvider !== 'webgpu') {
      throw new PinholeError('INTERNAL', `tensors are not kept on the ${options.executionProvider} device`);
    }
    const key = `${options.executionProvider}:${options.deviceId ?? 0}:${tensor.type}`;
    let session = sessions.get(key);
    if (!session) {
      session = InferenceSession.create(identityModelBytes(tensor.type), {
        executionProviders: [providerConfig(options.executionProvider, options.deviceId)],
        preferredOutputLocation: 'gpu-buffer',
      });
      session.catch(() => sessions.delete(key));
      sessions.set(key, session);
    }
    const { y } = await (await session).run({ x: toOrt(tensor) });
    if (!y || y.location !== 'gpu-buffer') {
      y?.dispose();
      throw new PinholeError('INTERNAL', `the ${options.executionProvider} upload returned a host tensor`);
    }
    return new OrtDeviceTensor(y);
  };
}

/**
 * Downloads: the mirror of uploads, an `Identity` session on the tensor's provider whose output stays in host
 * memory, so ORT copies the device input back. (A device tensor's own `getData` is not implemented in
 * onnxruntime-node and terminates the process.)
 */
function createDownloader(): (tensor: DeviceTensor, options: SessionOptions) => Promise<HostTensor> {
  const sessions = new Map<string, Promise<InferenceSession>>();
  return async (tensor, options) => {
    const key = `${options.executionProvider}:${options.deviceId ?? 0}:${tensor.type}`;
    let session = sessions.get(key);
    if (!session) {
      session = InferenceSession.create(identityModelBytes(tensor.type), {
        executionProviders: [providerConfig(options.executionProvider, options.deviceId)],
      });
      session.catch(() => sessions.delete(key));
      sessions.set(key, session);
    }
    const { y } = await (await session).run({ x: deviceToOrt(tensor) });
    if (!y || y.location !== 'cpu') throw new PinholeError('INTERNAL', 'a download stayed on the device');
    return fromOrt(y);
  };
}

/** `InferenceBackend` over onnxruntime-node (CPU, WebGPU, CUDA where its libraries are installed, DirectML, CoreML). */
export function createOrtBackend(): InferenceBackend {
  configureLogging();
  return {
    listProviders: () => listSupportedBackends().map((b) => b.name),
    async createSession(model: string | Uint8Array, options: SessionOptions): Promise<RawSession> {
      const sessionOptions = ortSessionOptions(options);
      const session =
        typeof model === 'string'
          ? await InferenceSession.create(model, sessionOptions)
          : await InferenceSession.create(model, sessionOptions);
      return new OrtSession(session);
    },
    keepsTensorsOnDevice: (provider) => provider === 'webgpu',
    upload: createUploader(),
    download: createDownloader(),
  };
}
