import { stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { ModelSession, type SessionOwner } from './model-session';
import type { InferenceBackend, RawSession, SessionOptions } from './types';
import { isOutOfMemory } from './out-of-memory';

/** Limits of a `SessionCache`. */
export interface SessionCacheOptions {
  /** Native sessions kept loaded at most (default 8: two models' worth of SDXL components). */
  readonly maxSessions?: number;
  /** Estimated bytes kept loaded at most (model file sizes; default unlimited). */
  readonly maxBytes?: number;
}

/** Side files that hold an ONNX model's external weights (optimum writes `model.onnx_data`). */
const EXTERNAL_DATA = /\.(onnx_data|onnx\.data|data|pb|bin)$/;

/**
 * What a loaded model costs, estimated from disk: the model file plus the external-data files beside it (a
 * model folder holds one model in the optimum layout). Good enough to rank and budget; ORT's arena adds more.
 */
async function estimateBytes(modelPath: string): Promise<number> {
  const info = await stat(modelPath);
  let bytes = info.size;
  try {
    for (const name of await readdir(path.dirname(modelPath))) {
      if (EXTERNAL_DATA.test(name)) bytes += (await stat(path.join(path.dirname(modelPath), name))).size;
    }
  } catch {
    // An unreadable folder only makes the estimate smaller.
  }
  return bytes;
}

/**
 * Sessions keyed by (model file, options), loaded once and shared. Least recently used sessions are released
 * when a new one would exceed the limits, every idle one when creating a session runs out of memory (then the
 * creation is retried once), and explicitly through `dispose`. Released entries keep their handle: the next
 * `run` reloads them.
 */
export class SessionCache implements SessionOwner {
  private readonly entries = new Map<string, ModelSession>();
  private readonly pending = new Map<string, Promise<ModelSession>>();
  private readonly reloading = new Map<ModelSession, Promise<RawSession>>();
  private readonly lastUsed = new Map<ModelSession, number>();
  private clock = 0;
  private readonly maxSessions: number;
  private readonly maxBytes: number;

  constructor(
    private readonly backend: InferenceBackend,
    options: SessionCacheOptions = {},
  ) {
    this.maxSessions = options.maxSessions ?? 8;
    this.maxBytes = options.maxBytes ?? Infinity;
  }

  /** The cache key: the resolved path and the options with sorted keys. */
  static keyOf(modelPath: string, options: SessionOptions): string {
    const sorted = Object.fromEntries(Object.entries(options).sort(([a], [b]) => a.localeCompare(b)));
    return `${path.resolve(modelPath)}\u0000${JSON.stringify(sorted)}`;
  }

  /**
   * The session for `modelPath` with `options`, loading it if needed.
   * @throws PinholeError `NOT_FOUND` when the file does not exist; `IMPORT_REJECTED` when ORT cannot load it
   *   (the message names the file and carries ORT's reason).
   */
  async get(modelPath: string, options: SessionOptions): Promise<ModelSession> {
    const key = SessionCache.keyOf(modelPath, options);
    const existing = this.entries.get(key);
    if (existing) {
      this.touch(existing);
      return existing;
    }
    let promise = this.pending.get(key);
    if (!promise) {
      promise = this.create(key, modelPath, options).finally(() => this.pending.delete(key));
      this.pending.set(key, promise);
    }
    return promise;
  }

  /** Sessions currently held (loaded or released). */
  get size(): number {
    return this.entries.size;
  }

  /** Sessions whose native session is loaded, and the bytes they are estimated to hold. */
  get loadedStats(): { sessions: number; bytes: number } {
    let sessions = 0;
    let bytes = 0;
    for (const entry of this.entries.values()) {
      if (!entry.loaded) continue;
      sessions++;
      bytes += entry.bytes;
    }
    return { sessions, bytes };
  }

  /** Marks a session as just used (LRU order). */
  touch(session: ModelSession): void {
    this.lastUsed.set(session, ++this.clock);
  }

  /** Loads a released session again (shared by concurrent callers). */
  reload(session: ModelSession): Promise<RawSession> {
    let promise = this.reloading.get(session);
    if (!promise) {
      promise = (async () => {
        await this.makeRoom(session.bytes, session);
        return this.createRaw(session.modelPath, session.options);
      })().finally(() => this.reloading.delete(session));
      this.reloading.set(session, promise);
    }
    return promise;
  }

  /** Releases every idle native session (memory pressure); returns how many were released. */
  async releaseIdle(except?: ModelSession): Promise<number> {
    let released = 0;
    for (const entry of this.entries.values()) {
      if (entry === except || !entry.loaded || entry.running > 0) continue;
      await entry.unload();
      released++;
    }
    return released;
  }

  /**
   * Disposes sessions for good: those of `modelPath` (a file, or every file under a folder) or all of them.
   * Running sessions are released after their run (their handle is dropped from the cache now).
   */
  async dispose(modelPath?: string): Promise<void> {
    const prefix = modelPath === undefined ? undefined : path.resolve(modelPath);
    for (const [key, entry] of [...this.entries]) {
      const file = key.slice(0, key.indexOf('\u0000'));
      if (prefix !== undefined && file !== prefix && !file.startsWith(prefix + path.sep)) continue;
      this.entries.delete(key);
      this.lastUsed.delete(entry);
      await entry.unload();
    }
  }

  private async create(key: string, modelPath: string, options: SessionOptions): Promise<ModelSession> {
    let bytes: number;
    try {
      bytes = await estimateBytes(modelPath);
    } catch (error) {
      throw new PinholeError('NOT_FOUND', `Model file not found: ${modelPath}`, { cause: error });
    }
    await this.makeRoom(bytes);
    const raw = await this.createRaw(modelPath, options);
    const session = new ModelSession(this, key, modelPath, options, bytes, raw);
    this.entries.set(key, session);
    this.touch(session);
    return session;
  }

  private async createRaw(modelPath: string, options: SessionOptions): Promise<RawSession> {
    try {
      return await this.backend.createSession(modelPath, options);
    } catch (error) {
      if (isOutOfMemory(error) && (await this.releaseIdle()) > 0) {
        try {
          return await this.backend.createSession(modelPath, options);
        } catch (retryError) {
          throw this.loadError(modelPath, options, retryError);
        }
      }
      throw this.loadError(modelPath, options, error);
    }
  }

  /** Releases least recently used idle sessions until `bytes` more fit both limits. */
  private async makeRoom(bytes: number, except?: ModelSession): Promise<void> {
    const loaded = () => [...this.entries.values()].filter((e) => e.loaded && e !== except);
    const over = () => {
      const current = loaded();
      const used = current.reduce((n, e) => n + e.bytes, 0);
      return current.length + 1 > this.maxSessions || used + bytes > this.maxBytes;
    };
    while (over()) {
      const victim = loaded()
        .filter((e) => e.running === 0)
        .sort((a, b) => (this.lastUsed.get(a) ?? 0) - (this.lastUsed.get(b) ?? 0))[0];
      if (!victim) return; // Everything is busy: load anyway and let ORT say if memory runs out.
      await victim.unload();
    }
  }

  private loadError(modelPath: string, options: SessionOptions, error: unknown): PinholeError {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return new PinholeError(
      isOutOfMemory(error) ? 'UNAVAILABLE' : 'IMPORT_REJECTED',
      `Cannot load ${modelPath} on ${options.executionProvider}: ${reason}`,
      { cause: error },
    );
  }
}
