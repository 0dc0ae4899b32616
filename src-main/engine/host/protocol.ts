import type { SerializedError } from '../../../src-shared/errors';
import { PinholeError } from '../../../src-shared/errors';
import type { ImageInput } from '../image';
import type { GenerateMode, GenerateProgress, GenerateRequest, GenerateTimings } from '../pipelines';
import type { ProviderSelection } from '../runtime';
import type { TrainEvent, TrainRequest, TrainResult } from '../training';

/**
 * The engine process's message protocol. Every message is plain JSON (bigints as decimal strings, bytes as
 * base64), so it crosses a `child_process.fork` IPC channel and Electron's `utilityProcess` port alike.
 */

/** 2: training reports `train-event` messages (caching, step, sample, checkpoint) instead of `train-progress`. */
export const ENGINE_PROTOCOL_VERSION = 2;

/** An image on the wire: a file path the child can read, an encoded file, or raw RGB8 pixels. */
export type WireImage =
  | { readonly path: string }
  | { readonly base64: string }
  | { readonly rgbBase64: string; readonly width: number; readonly height: number };

/** `GenerateRequest` on the wire. */
export type WireGenerateRequest = Omit<GenerateRequest, 'seed' | 'initImage' | 'maskImage'> & {
  readonly seed: string;
  readonly initImage?: WireImage | undefined;
  readonly maskImage?: WireImage | undefined;
};

/** `TrainRequest` on the wire (the seeds as decimal strings). */
export type WireTrainRequest = Omit<TrainRequest, 'seed' | 'sampleSeed'> & {
  readonly seed: string;
  readonly sampleSeed?: string | undefined;
};

/** Where result PNGs go: back in the message (base64), or written to a folder (paths in the message). */
export type OutputMode = { readonly kind: 'inline' } | { readonly kind: 'files'; readonly dir: string };

/** Parent → child. */
export type ParentMessage =
  | {
      readonly type: 'generate';
      readonly id: string;
      readonly request: WireGenerateRequest;
      readonly output: OutputMode;
    }
  | { readonly type: 'train'; readonly id: string; readonly request: WireTrainRequest }
  | { readonly type: 'cancel'; readonly id: string }
  | { readonly type: 'info'; readonly id: string }
  | { readonly type: 'release'; readonly id: string }
  | { readonly type: 'shutdown' };

/** One image of a result on the wire. */
export interface WireImageResult {
  readonly width: number;
  readonly height: number;
  readonly seed: string;
  readonly iteration: number;
  readonly batchIndex: number;
  readonly parameters: string;
  /** Inline output: the PNG, base64. */
  readonly pngBase64?: string;
  /** File output: where the PNG was written. */
  readonly path?: string;
}

export interface WireGenerateResult {
  readonly images: WireImageResult[];
  readonly timesteps: number[];
  readonly mode: GenerateMode;
  readonly timings: GenerateTimings;
}

/** What `info` answers. */
export interface EngineInfo {
  readonly pid: number;
  readonly protocol: number;
  readonly provider: ProviderSelection;
  readonly versions: Readonly<Record<string, string | undefined>>;
}

/** Child → parent. */
export type ChildMessage =
  | { readonly type: 'ready'; readonly pid: number; readonly protocol: number }
  | { readonly type: 'progress'; readonly id: string; readonly progress: GenerateProgress }
  | { readonly type: 'result'; readonly id: string; readonly result: WireGenerateResult }
  | { readonly type: 'train-event'; readonly id: string; readonly event: TrainEvent }
  | { readonly type: 'train-result'; readonly id: string; readonly result: TrainResult }
  | { readonly type: 'info'; readonly id: string; readonly info: EngineInfo }
  | { readonly type: 'done'; readonly id: string }
  | { readonly type: 'error'; readonly id: string; readonly error: SerializedError };

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromBase64(text: string): Uint8Array {
  const buf = Buffer.from(text, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** An engine image input → the wire. */
export function toWireImage(input: ImageInput): WireImage {
  if (typeof input === 'string') return { path: input };
  if (input instanceof Uint8Array) return { base64: toBase64(input) };
  return { rgbBase64: toBase64(input.data), width: input.width, height: input.height };
}

/** The wire → an engine image input. */
export function fromWireImage(wire: WireImage): ImageInput {
  if ('path' in wire) return wire.path;
  if ('base64' in wire) return fromBase64(wire.base64);
  return { data: fromBase64(wire.rgbBase64), width: wire.width, height: wire.height };
}

/** A request → the wire (seed as a decimal string, images encoded). */
export function toWireRequest(request: GenerateRequest): WireGenerateRequest {
  const { seed, initImage, maskImage, ...rest } = request;
  return {
    ...rest,
    seed: seed.toString(),
    ...(initImage !== undefined ? { initImage: toWireImage(initImage) } : {}),
    ...(maskImage !== undefined ? { maskImage: toWireImage(maskImage) } : {}),
  };
}

/**
 * The wire → a request.
 * @throws PinholeError `INVALID_PARAMS` when the seed is not a decimal integer.
 */
export function fromWireRequest(wire: WireGenerateRequest): GenerateRequest {
  const { seed, initImage, maskImage, ...rest } = wire;
  if (typeof seed !== 'string' || !/^\d+$/.test(seed)) {
    throw new PinholeError('INVALID_PARAMS', `seed: must be a decimal integer string, got ${JSON.stringify(seed)}`);
  }
  return {
    ...rest,
    seed: BigInt(seed),
    ...(initImage !== undefined ? { initImage: fromWireImage(initImage) } : {}),
    ...(maskImage !== undefined ? { maskImage: fromWireImage(maskImage) } : {}),
  };
}

/** A training request → the wire. */
export function toWireTrainRequest(request: TrainRequest): WireTrainRequest {
  const { seed, sampleSeed, ...rest } = request;
  return { ...rest, seed: seed.toString(), ...(sampleSeed !== undefined ? { sampleSeed: sampleSeed.toString() } : {}) };
}

/**
 * The wire → a training request.
 * @throws PinholeError `INVALID_PARAMS` when a seed is not a decimal integer.
 */
export function fromWireTrainRequest(wire: WireTrainRequest): TrainRequest {
  const { seed, sampleSeed, ...rest } = wire;
  const decimal = (name: string, value: unknown): bigint => {
    if (typeof value !== 'string' || !/^\d+$/.test(value)) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${name}: must be a decimal integer string, got ${JSON.stringify(value)}`,
      );
    }
    return BigInt(value);
  };
  return {
    ...rest,
    seed: decimal('seed', seed),
    ...(sampleSeed !== undefined ? { sampleSeed: decimal('sampleSeed', sampleSeed) } : {}),
  };
}

export { toBase64, fromBase64 };
