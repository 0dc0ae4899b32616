/**
 * The runtime's own vocabulary, independent of onnxruntime-node, so the rest of the engine (and the tests'
 * fake backends) never touch ORT types: host tensors, declared inputs/outputs, raw sessions, backends.
 */

/** Element types a model may declare. `float16` data travels as raw IEEE half bits in a `Uint16Array`. */
export type TensorType = 'float32' | 'float16' | 'float64' | 'int32' | 'int64' | 'int8' | 'uint8' | 'bool';

/** The typed array that holds each element type (`bool` as 0/1 bytes). */
export interface TensorArrays {
  float32: Float32Array;
  float16: Uint16Array;
  float64: Float64Array;
  int32: Int32Array;
  int64: BigInt64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type TensorData = TensorArrays[TensorType];

/** A dense row-major tensor in host memory. `data.length` equals the product of `dims` ([] is a scalar). */
export interface HostTensor<T extends TensorType = TensorType> {
  readonly type: T;
  readonly data: TensorArrays[T];
  readonly dims: readonly number[];
}

/**
 * A tensor held in an execution provider's device memory (a WebGPU buffer), made by `Runtime.upload` and fed
 * to runs without crossing back to the host. Opaque: its contents are never read on the host. One owner
 * disposes it (feeding a disposed one is an error); the backend frees it on garbage collection too, but device
 * memory is scarce and the engine does not wait for that.
 */
export interface DeviceTensor {
  readonly location: 'device';
  readonly type: TensorType;
  readonly dims: readonly number[];
  /** Whether `dispose` ran. */
  readonly disposed: boolean;
  /** Frees the device memory (idempotent). */
  dispose(): void;
}

/** A value fed to a run: host memory, or a tensor already on the session's device. */
export type Feed = HostTensor | DeviceTensor;

/**
 * One declared input or output of a model, read from the session's metadata. A dimension is a number when the
 * model fixes it and a string (the symbolic name, e.g. `batch_size`) when it is dynamic. `type` is `other` for
 * non-tensor values (sequences, maps) and element types the engine does not handle.
 */
export interface ValueSpec {
  readonly name: string;
  readonly type: TensorType | 'other';
  readonly shape: readonly (number | string)[];
}

/** The providers the engine knows, by onnxruntime-node's names. */
export type ExecutionProviderName = 'cuda' | 'dml' | 'coreml' | 'webgpu' | 'cpu';

/** What a session is created with. Part of the session cache key. */
export interface SessionOptions {
  /** Where the model runs; ORT places nodes the provider lacks on the CPU. */
  readonly executionProvider: ExecutionProviderName;
  /** ORT's graph optimization level; `all` by default. */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** CPU threads for one operator; ORT's default (the physical cores) when absent. */
  readonly intraOpNumThreads?: number;
  /** GPU index for CUDA / DirectML. */
  readonly deviceId?: number;
  /**
   * Whether ORT's intra-op threads spin while waiting for work (ORT's default: yes). Spinning buys a little
   * latency per operator on an idle machine and starves the engine's own JavaScript on a small one.
   */
  readonly intraOpSpinning?: boolean;
  /**
   * Outputs the session leaves in the provider's device memory, for `RawSession.runOnDevice` to hand back as
   * device tensors (state carried from one run to the next, e.g. a trainer's weights and optimizer moments).
   * Honoured only where the backend `keepsTensorsOnDevice`; others return every output in host memory.
   */
  readonly deviceOutputs?: readonly string[];
}

/** What `RawSession.runOnDevice` returns: outputs in host memory, and those the session keeps on its device. */
export interface DeviceRunResult {
  readonly host: Record<string, HostTensor>;
  /** The caller owns these and disposes them. */
  readonly device: Record<string, DeviceTensor>;
}

/** A loaded model as a backend exposes it. */
export interface RawSession {
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  /**
   * Runs the model. Feeds must already have the declared element types (see `io-adapt`); `fetches` limits the
   * outputs computed (all when absent). `deviceFeeds` are inputs already on the session's device, made by the
   * same backend's `upload` (only backends that keep tensors on a device receive any).
   */
  run(
    feeds: Readonly<Record<string, HostTensor>>,
    fetches?: readonly string[],
    deviceFeeds?: Readonly<Record<string, DeviceTensor>>,
  ): Promise<Record<string, HostTensor>>;
  /**
   * Like `run`, for a session created with `SessionOptions.deviceOutputs`: those outputs come back on the
   * device, the others in host memory. Present on backends that keep tensors on a device.
   */
  runOnDevice?(
    feeds: Readonly<Record<string, HostTensor>>,
    fetches: readonly string[],
    deviceFeeds?: Readonly<Record<string, DeviceTensor>>,
  ): Promise<DeviceRunResult>;
  /** Frees the native session; the object is unusable afterwards. */
  release(): Promise<void>;
}

/** What the runtime needs of an inference library. The real one is `ort-backend.ts`; tests pass fakes. */
export interface InferenceBackend {
  /** Provider names the installed library was built with (whether or not they load on this machine). */
  listProviders(): readonly string[];
  /** Creates a session from a model file path or the model's bytes. Rejects when the provider cannot load. */
  createSession(model: string | Uint8Array, options: SessionOptions): Promise<RawSession>;
  /**
   * Whether `upload` keeps tensors in `provider`'s device memory. Absent or false: the engine feeds host
   * tensors on every run (always so on the CPU provider).
   */
  keepsTensorsOnDevice?(provider: ExecutionProviderName): boolean;
  /** Copies a host tensor into the device memory of the provider `options` names (see `keepsTensorsOnDevice`). */
  upload?(tensor: HostTensor, options: SessionOptions): Promise<DeviceTensor>;
  /** Copies a device tensor of `options`' provider back into host memory (the device tensor stays valid). */
  download?(tensor: DeviceTensor, options: SessionOptions): Promise<HostTensor>;
}
