import { PinholeError } from '../../../src-shared/errors';
import { adaptToSpec, checkDims, toFloat32 } from './io-adapt';
import type { DeviceTensor, Feed, HostTensor, RawSession, SessionOptions, ValueSpec } from './types';
import { isOutOfMemory, outOfMemoryDuringRun } from './out-of-memory';

/** What a `ModelSession` needs from its cache: reloading after an eviction and LRU bookkeeping. */
export interface SessionOwner {
  reload(session: ModelSession): Promise<RawSession>;
  touch(session: ModelSession): void;
  /** Releases every idle session but `session` (memory pressure); how many were released. */
  releaseIdle(except: ModelSession): Promise<number>;
}

/** A float32 output: values and dimensions. */
export interface FloatOutput {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/**
 * A model file loaded for one set of session options. The handle outlives its native session: the cache may
 * release that under memory pressure, and the next `run` loads it again. Inputs and outputs stay known either
 * way, so callers adapt to a model once.
 */
export class ModelSession {
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  /** Runs in progress; the cache never releases a session while this is non-zero. */
  running = 0;
  private raw: RawSession | undefined;

  constructor(
    private readonly owner: SessionOwner,
    readonly key: string,
    readonly modelPath: string,
    readonly options: SessionOptions,
    /** Estimated memory the loaded model holds (its file sizes), for the cache budget. */
    readonly bytes: number,
    raw: RawSession,
  ) {
    this.raw = raw;
    this.inputs = raw.inputs;
    this.outputs = raw.outputs;
  }

  /** Whether the native session is currently loaded. */
  get loaded(): boolean {
    return this.raw !== undefined;
  }

  /** The declared input `name`, or undefined. */
  input(name: string): ValueSpec | undefined {
    return this.inputs.find((s) => s.name === name);
  }

  /** The declared output `name`, or undefined. */
  output(name: string): ValueSpec | undefined {
    return this.outputs.find((s) => s.name === name);
  }

  /** The declared input `name`; throws naming the model file when the model lacks it. */
  requireInput(name: string): ValueSpec {
    const spec = this.input(name);
    if (!spec) throw this.missing('input', name, this.inputs);
    return spec;
  }

  /** The declared output `name`; throws naming the model file when the model lacks it. */
  requireOutput(name: string): ValueSpec {
    const spec = this.output(name);
    if (!spec) throw this.missing('output', name, this.outputs);
    return spec;
  }

  /**
   * `tensor` converted to the element type input `name` declares and checked against its shape: what `run`
   * feeds, and what to upload for a device feed of that input.
   */
  adaptInput(name: string, tensor: HostTensor): HostTensor {
    return adaptToSpec(this.requireInput(name), tensor);
  }

  /**
   * Runs the model. Each host feed is converted to its declared element type and checked against the declared
   * shape; a device feed (see `Runtime.upload`) must already have the declared type. Every declared input must be
   * fed.
   * @returns the requested outputs (all when `fetches` is absent) in the model's own element types.
   */
  async run(feeds: Readonly<Record<string, Feed>>, fetches?: readonly string[]): Promise<Record<string, HostTensor>> {
    const adapted: Record<string, HostTensor> = {};
    const onDevice: Record<string, DeviceTensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      if (!('location' in feed)) {
        adapted[name] = this.adaptInput(name, feed);
        continue;
      }
      const spec = this.requireInput(name);
      checkDims(spec, feed.dims);
      if (feed.type !== spec.type) {
        throw new PinholeError(
          'INTERNAL',
          `${this.modelPath}: device feed "${name}" is ${feed.type}, not ${spec.type}`,
        );
      }
      onDevice[name] = feed;
    }
    const absent = this.inputs.filter((s) => !(s.name in adapted) && !(s.name in onDevice)).map((s) => s.name);
    if (absent.length > 0) {
      throw new PinholeError(
        'NOT_IMPLEMENTED',
        `${this.modelPath} declares input(s) ${absent.join(', ')} that the engine does not know how to feed`,
      );
    }
    for (const name of fetches ?? []) this.requireOutput(name);
    this.running++;
    const attempt = async (): Promise<Record<string, HostTensor>> => {
      this.raw ??= await this.owner.reload(this);
      this.owner.touch(this);
      return Object.keys(onDevice).length > 0
        ? await this.raw.run(adapted, fetches, onDevice)
        : await this.raw.run(adapted, fetches);
    };
    try {
      return await attempt();
    } catch (error) {
      if (!isOutOfMemory(error)) throw error;
      // The other models of the pipeline (text encoders, VAE) sit idle while the UNet runs: free them and try
      // once more before telling the user to lower the size. They reload when next used.
      if ((await this.owner.releaseIdle(this)) > 0) {
        try {
          return await attempt();
        } catch (retryError) {
          if (!isOutOfMemory(retryError)) throw retryError;
          throw outOfMemoryDuringRun(this.modelPath, this.options.executionProvider, retryError);
        }
      }
      throw outOfMemoryDuringRun(this.modelPath, this.options.executionProvider, error);
    } finally {
      this.running--;
    }
  }

  /** `run`, with the fetched outputs converted to float32 (float16 models widen here). */
  async runFloat(
    feeds: Readonly<Record<string, Feed>>,
    fetches: readonly string[],
  ): Promise<Record<string, FloatOutput>> {
    const results = await this.run(feeds, fetches);
    const out: Record<string, FloatOutput> = {};
    for (const name of fetches) {
      const tensor = results[name];
      if (!tensor) throw new PinholeError('INTERNAL', `${this.modelPath} returned no "${name}"`);
      out[name] = { data: toFloat32(tensor), dims: tensor.dims };
    }
    return out;
  }

  /** Frees the native session (the handle stays valid; a later `run` reloads). Called by the cache. */
  async unload(): Promise<void> {
    const raw = this.raw;
    this.raw = undefined;
    if (raw) await raw.release();
  }

  private missing(kind: string, name: string, specs: readonly ValueSpec[]): PinholeError {
    return new PinholeError(
      'IMPORT_REJECTED',
      `${this.modelPath} has no ${kind} "${name}" (it declares ${specs.map((s) => s.name).join(', ') || 'none'})`,
    );
  }
}
