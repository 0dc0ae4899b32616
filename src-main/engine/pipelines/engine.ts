import path from 'node:path';
import { Runtime, type ProviderSelection, type RuntimeOptions } from '../runtime';
import { StableDiffusionPipeline, type GenerateOptions } from './pipeline';
import type { GenerateRequest, GenerateResult } from './request';

/**
 * `cacheDir` (from `RuntimeOptions`) is where derived models are cached: VAE encoders built from a folder's
 * diffusers weights when its ONNX encoder gives only the mode. Default `$PINHOLE_ENGINE_CACHE`, else
 * `<os.tmpdir()>/pinhole-engine-cache`; the studio passes its data home's cache folder.
 */
export interface EngineOptions extends RuntimeOptions {
  /** A runtime to share (its own options then apply); one is created from these options otherwise. */
  readonly runtime?: Runtime;
  /** Model folders kept loaded (default 2); the least recently used one's sessions are disposed past that. */
  readonly maxModels?: number;
}

/**
 * The in-process engine: model folders loaded on demand and kept (LRU), one runtime for every session. The
 * engine process (`host/`) wraps one of these; tests and tools may use it directly.
 */
export class Engine {
  readonly runtime: Runtime;
  private readonly pipelines = new Map<string, Promise<StableDiffusionPipeline>>();
  private readonly maxModels: number;

  constructor(options: EngineOptions = {}) {
    this.runtime = options.runtime ?? new Runtime(options);
    this.maxModels = options.maxModels ?? 2;
  }

  /** The pipeline for a model folder, loading it on first use (a failed load is not cached). */
  async pipeline(modelDir: string): Promise<StableDiffusionPipeline> {
    const key = path.resolve(modelDir);
    let pending = this.pipelines.get(key);
    if (pending) {
      // Re-insert: Map order is the LRU order.
      this.pipelines.delete(key);
      this.pipelines.set(key, pending);
      return pending;
    }
    pending = StableDiffusionPipeline.load(this.runtime, key);
    this.pipelines.set(key, pending);
    pending.catch(() => this.pipelines.delete(key));
    while (this.pipelines.size > this.maxModels) {
      const [oldest, evicted] = this.pipelines.entries().next().value!;
      this.pipelines.delete(oldest);
      await this.runtime.dispose(oldest);
      // Sessions it opened outside its folder (an encoder built into the cache) go with it.
      const outside = await evicted.then(
        (p) => p.sessionFilesOutside(),
        () => [],
      );
      for (const file of outside) await this.runtime.dispose(file);
    }
    return pending;
  }

  /** Generates with the request's model (see `StableDiffusionPipeline.generate`). */
  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    return (await this.pipeline(request.model)).generate(request, options);
  }

  /** The folder derived models are cached in (see `EngineOptions`). */
  get cacheDir(): string {
    return this.runtime.cacheDir;
  }

  /** The execution provider in use and why better ones were skipped. */
  provider(): Promise<ProviderSelection> {
    return this.runtime.selection();
  }

  /** Releases idle native sessions (handles reload on use). */
  releaseMemory(): Promise<number> {
    return this.runtime.releaseIdle();
  }

  /** Forgets every model and disposes every session. */
  async dispose(): Promise<void> {
    this.pipelines.clear();
    await this.runtime.dispose();
  }
}
