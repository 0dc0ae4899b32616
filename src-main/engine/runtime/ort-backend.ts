/**
 * The one module that imports onnxruntime-node. Everything else in the engine talks to `InferenceBackend`,
 * so the rest is testable with fakes and a future runtime swap touches only this file.
 */
import { env, InferenceSession, listSupportedBackends, Tensor } from 'onnxruntime-node';
import type {
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

function toOrt(tensor: HostTensor): Tensor {
  // ORT keeps a reference to the typed array, it does not copy: callers never mutate a feed after `run`.
  return new Tensor(tensor.type, tensor.data as never, [...tensor.dims]);
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
  ): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrt(tensor);
    const results = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrt(value);
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** `InferenceBackend` over onnxruntime-node (CPU, WebGPU, CUDA where its libraries are installed, DirectML, CoreML). */
export function createOrtBackend(): InferenceBackend {
  configureLogging();
  return {
    listProviders: () => listSupportedBackends().map((b) => b.name),
    async createSession(model: string | Uint8Array, options: SessionOptions): Promise<RawSession> {
      const sessionOptions: InferenceSession.SessionOptions = {
        executionProviders: [providerConfig(options.executionProvider, options.deviceId)],
        graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
        ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      };
      const session =
        typeof model === 'string'
          ? await InferenceSession.create(model, sessionOptions)
          : await InferenceSession.create(model, sessionOptions);
      return new OrtSession(session);
    },
  };
}
