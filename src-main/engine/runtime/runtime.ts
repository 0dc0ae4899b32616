import { totalmem } from 'node:os';
import { PinholeError } from '../../../src-shared/errors';
import { defaultCacheDir, ModelFileCache, type DerivedModel } from './model-cache';
import type { ModelSession } from './model-session';
import { selectExecutionProvider, type ProviderSelection } from './providers';
import { SessionCache } from './session-cache';
import { CountedDeviceTensor, countingDeviceFeeds, zeroDeviceCounters, type DeviceCounters } from './device-counters';
import type { DeviceTensor, HostTensor, InferenceBackend, SessionOptions } from './types';

/** How the engine's runtime is set up. Everything is optional; the defaults probe the machine. */
export interface RuntimeOptions {
  /** The inference library; onnxruntime-node when absent (loaded on first use). */
  readonly backend?: InferenceBackend;
  /** A provider to force (`cpu`, `cuda`, …); `PINHOLE_EP` when absent, probing when that is unset or `auto`. */
  readonly provider?: string;
  /** For tests: the platform whose preference list applies. */
  readonly platform?: string;
  /** Native sessions kept loaded at most. */
  readonly maxSessions?: number;
  /**
   * Estimated model bytes kept loaded at most. Default: 70 % of RAM on the CPU provider; unlimited on GPU
   * providers, whose memory the engine cannot query (an out-of-memory failure releases idle sessions instead).
   */
  readonly maxBytes?: number;
  /**
   * Options every session gets (threads, optimization level, spinning). Intra-op threads do not spin unless
   * asked: a spinning pool keeps every core busy between operators and starves the engine's own JavaScript
   * (scheduler steps, previews, PNG encoding) and the rest of the machine.
   */
  readonly sessionDefaults?: Omit<SessionOptions, 'executionProvider'>;
  /**
   * Where models the engine derives (e.g. a VAE encoder built from diffusers weights) are cached on disk:
   * `$PINHOLE_ENGINE_CACHE` when absent, else `<os.tmpdir()>/pinhole-engine-cache` (see `model-cache.ts`).
   */
  readonly cacheDir?: string;
}

/**
 * The engine's access to inference: chooses the execution provider once (lazily, on the first session) and
 * hands out cached sessions created on it.
 */
export class Runtime {
  private backendPromise: Promise<InferenceBackend> | undefined;
  private selectionPromise: Promise<ProviderSelection> | undefined;
  private cachePromise: Promise<SessionCache> | undefined;

  /** The on-disk cache of derived models. */
  readonly modelCache: ModelFileCache;
  /** Host ↔ device traffic (see `DeviceCounters`). */
  readonly deviceCounters: DeviceCounters = zeroDeviceCounters();

  constructor(private readonly options: RuntimeOptions = {}) {
    this.modelCache = new ModelFileCache(options.cacheDir ?? defaultCacheDir());
  }

  /** The folder derived models are cached in. */
  get cacheDir(): string {
    return this.modelCache.dir;
  }

  /** The inference backend (onnxruntime-node unless one was given), counting device feeds. */
  backend(): Promise<InferenceBackend> {
    this.backendPromise ??= (
      this.options.backend
        ? Promise.resolve(this.options.backend)
        : import('./ort-backend').then((m) => m.createOrtBackend())
    ).then((backend) => countingDeviceFeeds(backend, this.deviceCounters));
    return this.backendPromise;
  }

  /**
   * Whether the selected provider keeps uploaded tensors on its device (WebGPU). False on the CPU provider,
   * where feeding host memory is already free, and on providers whose device tensors the backend cannot hand
   * back (see `ort-backend.ts`).
   */
  async keepsTensorsOnDevice(): Promise<boolean> {
    const backend = await this.backend();
    const { provider } = await this.selection();
    return backend.keepsTensorsOnDevice?.(provider) === true && backend.upload !== undefined;
  }

  /**
   * Copies `tensor` (already in the element type of the input it will feed) into the selected provider's device
   * memory, for feeding many runs without a copy each. The caller owns the result and disposes it.
   * @throws PinholeError `INTERNAL` when the provider does not keep tensors on its device (check first).
   */
  async upload(tensor: HostTensor): Promise<DeviceTensor> {
    const backend = await this.backend();
    const { provider } = await this.selection();
    if (!backend.upload || backend.keepsTensorsOnDevice?.(provider) !== true) {
      throw new PinholeError('INTERNAL', `the ${provider} provider does not keep tensors on its device`);
    }
    const device = await backend.upload(tensor, { ...this.sessionOptions(), executionProvider: provider });
    return new CountedDeviceTensor(device, tensor, this.deviceCounters);
  }

  /** The provider selection (probing happens once per runtime; a failure is retried on the next call). */
  selection(): Promise<ProviderSelection> {
    this.selectionPromise ??= this.backend()
      .then((backend) =>
        selectExecutionProvider(backend, {
          ...(this.options.platform !== undefined ? { platform: this.options.platform } : {}),
          ...(this.options.provider !== undefined ? { force: this.options.provider } : {}),
        }),
      )
      .catch((error: unknown) => {
        this.selectionPromise = undefined;
        throw error;
      });
    return this.selectionPromise;
  }

  /** The (cached) session for an ONNX file on the selected provider. */
  async session(modelPath: string): Promise<ModelSession> {
    const cache = await this.cache();
    const { provider } = await this.selection();
    return cache.get(modelPath, { ...this.sessionOptions(), executionProvider: provider });
  }

  /**
   * The (cached) session for a derived model: built into the on-disk cache on first use, then loaded like any
   * model file. An entry that no longer loads (truncated or half-deleted by a temp cleaner) is rebuilt once.
   * @returns the session and the cached file it runs (for `dispose`).
   */
  async derivedSession(model: DerivedModel): Promise<{ session: ModelSession; file: string }> {
    const file = await this.modelCache.file(model);
    try {
      return { session: await this.session(file), file };
    } catch (error) {
      if (!(error instanceof PinholeError) || (error.code !== 'IMPORT_REJECTED' && error.code !== 'NOT_FOUND')) {
        throw error;
      }
      await this.dispose(file);
      await this.modelCache.remove(model);
      const rebuilt = await this.modelCache.file(model);
      return { session: await this.session(rebuilt), file: rebuilt };
    }
  }

  /** Releases every idle native session (handles stay valid and reload on use). */
  async releaseIdle(): Promise<number> {
    return this.cachePromise ? (await this.cachePromise).releaseIdle() : 0;
  }

  /** Disposes the sessions of a model file or folder, or all of them. */
  async dispose(modelPath?: string): Promise<void> {
    if (this.cachePromise) await (await this.cachePromise).dispose(modelPath);
  }

  private sessionOptions(): Omit<SessionOptions, 'executionProvider'> {
    return { intraOpSpinning: false, ...this.options.sessionDefaults };
  }

  private cache(): Promise<SessionCache> {
    this.cachePromise ??= (async () => {
      const backend = await this.backend();
      const { provider } = await this.selection();
      const maxBytes = this.options.maxBytes ?? (provider === 'cpu' ? Math.floor(totalmem() * 0.7) : Infinity);
      return new SessionCache(backend, {
        maxBytes,
        ...(this.options.maxSessions !== undefined ? { maxSessions: this.options.maxSessions } : {}),
      });
    })();
    return this.cachePromise;
  }
}
