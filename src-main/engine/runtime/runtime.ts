import { totalmem } from 'node:os';
import { PinholeError } from '../../../src-shared/errors';
import { defaultCacheDir, ModelFileCache, type DerivedModel } from './model-cache';
import type { ModelSession } from './model-session';
import { selectExecutionProvider, type ProviderSelection } from './providers';
import { SessionCache } from './session-cache';
import type { InferenceBackend, SessionOptions } from './types';

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
  /** Options every session gets (threads, optimization level). */
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

  constructor(private readonly options: RuntimeOptions = {}) {
    this.modelCache = new ModelFileCache(options.cacheDir ?? defaultCacheDir());
  }

  /** The folder derived models are cached in. */
  get cacheDir(): string {
    return this.modelCache.dir;
  }

  /** The inference backend (onnxruntime-node unless one was given). */
  backend(): Promise<InferenceBackend> {
    this.backendPromise ??= this.options.backend
      ? Promise.resolve(this.options.backend)
      : import('./ort-backend').then((m) => m.createOrtBackend());
    return this.backendPromise;
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
    return cache.get(modelPath, { ...this.options.sessionDefaults, executionProvider: provider });
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
