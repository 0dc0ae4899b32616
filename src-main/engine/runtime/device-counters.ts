import type { DeviceTensor, HostTensor, InferenceBackend, RawSession } from './types';

/**
 * Counting what crosses between host and device: the check that device residency works (the conditioning
 * uploaded once per batch, then fed from the device every step) and leaks nothing across jobs.
 */

/** Host ↔ device traffic since the runtime was made. */
export interface DeviceCounters {
  /** Host → device copies made by `Runtime.upload`. */
  uploads: number;
  /** Bytes those copies moved. */
  uploadedBytes: number;
  /** Feeds served from device memory (one per device input per run). */
  deviceFeeds: number;
  /** Device tensors uploaded and not yet disposed. */
  live: number;
}

/** A fresh set of counters at zero. */
export function zeroDeviceCounters(): DeviceCounters {
  return { uploads: 0, uploadedBytes: 0, deviceFeeds: 0, live: 0 };
}

/** The runtime's handle on a backend's device tensor: counts the upload and its disposal. */
export class CountedDeviceTensor implements DeviceTensor {
  readonly location = 'device';
  readonly type: DeviceTensor['type'];
  readonly dims: readonly number[];

  constructor(
    /** The backend's own tensor (what its sessions accept). */
    readonly inner: DeviceTensor,
    source: HostTensor,
    private readonly counters: DeviceCounters,
  ) {
    this.type = inner.type;
    this.dims = inner.dims;
    counters.uploads++;
    counters.uploadedBytes += source.data.byteLength;
    counters.live++;
  }

  get disposed(): boolean {
    return this.inner.disposed;
  }

  dispose(): void {
    if (this.inner.disposed) return;
    this.inner.dispose();
    this.counters.live--;
  }
}

/** `backend` whose sessions count device feeds into `counters` and accept the runtime's device handles. */
export function countingDeviceFeeds(backend: InferenceBackend, counters: DeviceCounters): InferenceBackend {
  const unwrap = (deviceFeeds: Readonly<Record<string, DeviceTensor>>): Record<string, DeviceTensor> => {
    const unwrapped: Record<string, DeviceTensor> = {};
    for (const [name, feed] of Object.entries(deviceFeeds)) {
      counters.deviceFeeds++;
      unwrapped[name] = feed instanceof CountedDeviceTensor ? feed.inner : feed;
    }
    return unwrapped;
  };
  const wrap = (raw: RawSession): RawSession => ({
    inputs: raw.inputs,
    outputs: raw.outputs,
    run: (feeds, fetches, deviceFeeds) =>
      deviceFeeds ? raw.run(feeds, fetches, unwrap(deviceFeeds)) : raw.run(feeds, fetches),
    ...(raw.runOnDevice
      ? {
          runOnDevice: (feeds, fetches, deviceFeeds) =>
            raw.runOnDevice!(feeds, fetches, deviceFeeds ? unwrap(deviceFeeds) : undefined),
        }
      : {}),
    release: () => raw.release(),
  });
  return {
    listProviders: () => backend.listProviders(),
    createSession: async (model, options) => wrap(await backend.createSession(model, options)),
    ...(backend.keepsTensorsOnDevice
      ? { keepsTensorsOnDevice: (provider) => backend.keepsTensorsOnDevice?.(provider) ?? false }
      : {}),
    ...(backend.upload ? { upload: (tensor, options) => backend.upload!(tensor, options) } : {}),
    ...(backend.download
      ? {
          download: (tensor, options) =>
            backend.download!(tensor instanceof CountedDeviceTensor ? tensor.inner : tensor, options),
        }
      : {}),
  };
}
