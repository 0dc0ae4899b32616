import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CanceledError, deserializeError, PinholeError } from '../../../src-shared/errors';
import type { GenerateProgress, GenerateRequest, GenerateMode, GenerateTimings } from '../pipelines';
import type { TrainEvent, TrainRequest, TrainResult } from '../training';
import {
  ENGINE_PROTOCOL_VERSION,
  fromBase64,
  toWireRequest,
  toWireTrainRequest,
  type ChildMessage,
  type EngineInfo,
  type OutputMode,
  type ParentMessage,
} from './protocol';

/**
 * The parent's side of the engine process: starts it on demand, correlates requests and responses, forwards
 * cancellation, and turns a crash into a clear error for whatever was in flight — the next request starts a
 * fresh process. It knows nothing of queues or jobs: one call, one generation.
 */

/** A started engine process as the client sees it (a Node fork, or Electron's utility process). */
export interface EngineChannel {
  readonly pid: number | undefined;
  send(message: ParentMessage): void;
  onMessage(listener: (message: ChildMessage) => void): void;
  /** Called once when the process ends, with its exit code or the signal that killed it. */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts an engine process. */
export type EngineLauncher = () => EngineChannel;

/**
 * The built host entry, `dist/main/engine/host.js`, located relative to the bundle this code is compiled into
 * (`dist/main/cli/main.js`, `dist/main/app/main.js`). Pass `entry` explicitly when running from sources.
 */
export function defaultHostEntry(): string {
  return fileURLToPath(new URL('../engine/host.js', import.meta.url));
}

export interface ForkOptions {
  readonly execArgv?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * Launches the host with `child_process.fork`. The child's stdout is forwarded to this process's stderr, so a
 * parent printing JSON on stdout (`--json`) stays clean whatever native libraries print.
 */
export function forkLauncher(entry: string, options: ForkOptions = {}): EngineLauncher {
  return () => {
    const child = fork(entry, [], {
      execArgv: [...(options.execArgv ?? [])],
      env: options.env ?? process.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child.stdout?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    // A process that fails to spawn emits 'error' and never 'exit': report it as an exit so callers fail cleanly.
    const exitListeners: ((code: number | null, signal: string | null) => void)[] = [];
    let exited = false;
    const notifyExit = (code: number | null, signal: string | null) => {
      if (exited) return;
      exited = true;
      for (const listener of exitListeners) listener(code, signal);
    };
    child.once('exit', notifyExit);
    child.on('error', () => {
      if (child.pid === undefined || child.exitCode !== null) notifyExit(child.exitCode, null);
    });
    return {
      get pid() {
        return child.pid;
      },
      send: (message) => {
        if (child.connected) child.send(message);
      },
      onMessage: (listener) => child.on('message', (m) => listener(m as ChildMessage)),
      onExit: (listener) => {
        exitListeners.push(listener);
      },
      kill: (signal) => child.kill(signal),
    };
  };
}

/** One generated image as the client returns it. */
export interface EngineImage {
  readonly width: number;
  readonly height: number;
  readonly seed: bigint;
  readonly iteration: number;
  readonly batchIndex: number;
  /** The A1111 infotext stored in the PNG. */
  readonly parameters: string;
  /** Inline output: the PNG bytes. */
  readonly png?: Uint8Array;
  /** File output: where the child wrote the PNG. */
  readonly path?: string;
}

export interface EngineGenerateResult {
  readonly images: EngineImage[];
  readonly timesteps: number[];
  readonly mode: GenerateMode;
  readonly timings: GenerateTimings;
  /** The engine process that produced it. */
  readonly pid: number | undefined;
}

export interface EngineGenerateOptions {
  /** Aborting cancels the generation; the child stops within one step and the call rejects with `CanceledError`. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: GenerateProgress) => void;
  /** Inline base64 PNGs (default) or files in a folder. */
  readonly output?: OutputMode;
}

/** The engine process died while requests were in flight (crash, kill, out of memory). */
export class EngineCrashedError extends PinholeError {
  override readonly name = 'EngineCrashedError';
  constructor(
    readonly exitCode: number | null,
    readonly signal: string | null,
  ) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${String(exitCode)}`;
    super('INTERRUPTED', `The engine process ${how} before finishing; the next request starts a new engine process`);
  }
}

export interface EngineTrainOptions {
  /** Aborting cancels the training; the child stops within one optimizer step and the call rejects with `CanceledError`. */
  readonly signal?: AbortSignal;
  /** Caching progress, every optimizer step, sample images and checkpoints, as they happen. */
  readonly onEvent?: (event: TrainEvent) => void;
}

type ProgressMessage = Extract<ChildMessage, { type: 'progress' | 'train-event' }>;

interface Pending {
  readonly resolve: (message: ChildMessage) => void;
  readonly reject: (error: Error) => void;
  readonly onProgress?: ((message: ProgressMessage) => void) | undefined;
}

export interface EngineClientOptions {
  /** How to start the process; `forkLauncher(entry)` when absent. */
  readonly launcher?: EngineLauncher;
  /** The host entry for the default launcher (default: `defaultHostEntry()`). */
  readonly entry?: string;
  /** Milliseconds `dispose` waits for a clean exit before killing (default 2000). */
  readonly shutdownGraceMs?: number;
}

export class EngineClient {
  private channel: EngineChannel | undefined;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private disposed = false;
  private readonly launcher: EngineLauncher;

  constructor(private readonly options: EngineClientOptions = {}) {
    this.launcher = options.launcher ?? forkLauncher(options.entry ?? defaultHostEntry());
  }

  /** The current engine process id (undefined before the first request or after a crash). */
  get pid(): number | undefined {
    return this.channel?.pid;
  }

  /**
   * Generates in the engine process.
   * @throws CanceledError when `signal` aborts; EngineCrashedError (`INTERRUPTED`) when the process dies; the
   *   engine's own errors (`INVALID_PARAMS`, `IMPORT_REJECTED`, …) rebuilt from their wire form.
   */
  async generate(request: GenerateRequest, options: EngineGenerateOptions = {}): Promise<EngineGenerateResult> {
    const { signal } = options;
    if (signal?.aborted) throw new CanceledError('Generation canceled');
    const id = `g${this.nextId++}`;
    const channel = this.ensureChannel();
    const pid = channel.pid;
    const onAbort = () => this.channel?.send({ type: 'cancel', id });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const message = await this.request(
        id,
        { type: 'generate', id, request: toWireRequest(request), output: options.output ?? { kind: 'inline' } },
        (m) => {
          if (m.type === 'progress') options.onProgress?.(m.progress);
        },
      );
      if (message.type !== 'result') throw new PinholeError('INTERNAL', `unexpected engine reply ${message.type}`);
      const { result } = message;
      return {
        images: result.images.map((image) => ({
          width: image.width,
          height: image.height,
          seed: BigInt(image.seed),
          iteration: image.iteration,
          batchIndex: image.batchIndex,
          parameters: image.parameters,
          ...(image.pngBase64 !== undefined ? { png: fromBase64(image.pngBase64) } : {}),
          ...(image.path !== undefined ? { path: image.path } : {}),
        })),
        timesteps: result.timesteps,
        mode: result.mode,
        timings: result.timings,
        pid,
      };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Trains a LoRA in the engine process and writes it to `request.out`.
   * @throws CanceledError when `signal` aborts; EngineCrashedError (`INTERRUPTED`) when the process dies; the
   *   engine's own errors rebuilt from their wire form.
   */
  async train(request: TrainRequest, options: EngineTrainOptions = {}): Promise<TrainResult> {
    const { signal } = options;
    if (signal?.aborted) throw new CanceledError('Training canceled');
    const id = `t${this.nextId++}`;
    this.ensureChannel();
    const onAbort = () => this.channel?.send({ type: 'cancel', id });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const message = await this.request(id, { type: 'train', id, request: toWireTrainRequest(request) }, (m) => {
        if (m.type === 'train-event') options.onEvent?.(m.event);
      });
      if (message.type !== 'train-result')
        throw new PinholeError('INTERNAL', `unexpected engine reply ${message.type}`);
      return message.result;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The engine's execution provider (and why others were skipped), process id and versions. */
  async info(): Promise<EngineInfo> {
    const id = `i${this.nextId++}`;
    this.ensureChannel();
    const message = await this.request(id, { type: 'info', id });
    if (message.type !== 'info') throw new PinholeError('INTERNAL', `unexpected engine reply ${message.type}`);
    return message.info;
  }

  /** Asks the engine to release idle model sessions (memory pressure elsewhere). */
  async releaseMemory(): Promise<void> {
    if (!this.channel) return;
    const id = `r${this.nextId++}`;
    await this.request(id, { type: 'release', id });
  }

  /** Stops the engine process (a clean shutdown, then a kill after the grace period) and fails what is in flight. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const channel = this.channel;
    if (!channel) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => channel.kill('SIGKILL'), this.options.shutdownGraceMs ?? 2000);
      channel.onExit(() => {
        clearTimeout(timer);
        resolve();
      });
      channel.send({ type: 'shutdown' });
    });
  }

  private request(
    id: string,
    message: ParentMessage,
    onProgress?: (message: ProgressMessage) => void,
  ): Promise<ChildMessage> {
    return new Promise<ChildMessage>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.channel!.send(message);
    });
  }

  private ensureChannel(): EngineChannel {
    if (this.disposed) throw new PinholeError('UNAVAILABLE', 'The engine client was disposed');
    if (this.channel) return this.channel;
    const channel = this.launcher();
    this.channel = channel;
    channel.onMessage((message) => this.dispatch(message));
    channel.onExit((code, signal) => {
      if (this.channel === channel) this.channel = undefined;
      const error = this.disposed
        ? new PinholeError('UNAVAILABLE', 'The engine process was shut down')
        : new EngineCrashedError(code, signal);
      for (const [id, pending] of this.pending) {
        this.pending.delete(id);
        pending.reject(error);
      }
    });
    return channel;
  }

  private dispatch(message: ChildMessage): void {
    if (message.type === 'ready') {
      // A host from another build would misread requests: stop it, and what is in flight fails with the exit.
      if (message.protocol !== ENGINE_PROTOCOL_VERSION) this.channel?.kill('SIGKILL');
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'progress' || message.type === 'train-event') {
      pending.onProgress?.(message);
      return;
    }
    this.pending.delete(message.id);
    if (message.type === 'error') pending.reject(deserializeError(message.error));
    else pending.resolve(message);
  }
}
