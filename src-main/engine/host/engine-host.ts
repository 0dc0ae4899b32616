import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CanceledError, PinholeError, serializeError } from '../../../src-shared/errors';
import type { Engine, GenerateResult } from '../pipelines';
import { runTraining, type RunTrainingOptions, type TrainRequest, type TrainResult } from '../training';
import {
  ENGINE_PROTOCOL_VERSION,
  fromWireRequest,
  fromWireTrainRequest,
  toBase64,
  type ChildMessage,
  type OutputMode,
  type ParentMessage,
  type WireGenerateRequest,
  type WireGenerateResult,
  type WireTrainRequest,
} from './protocol';

/** How the child talks to its parent (process IPC under Node, the parent port under Electron). */
export interface HostTransport {
  send(message: ChildMessage): void;
}

type Job = {
  readonly id: string;
  readonly controller: AbortController;
} & (
  | { readonly kind: 'generate'; readonly request: WireGenerateRequest; readonly output: OutputMode }
  | { readonly kind: 'train'; readonly request: WireTrainRequest }
);

/** Runs one training request (default: `runTraining`, in this process). */
export type TrainRunner = (request: TrainRequest, options: RunTrainingOptions) => Promise<TrainResult>;

/**
 * The engine process's side of the protocol: runs generate and train requests one at a time (ORT's `run` holds the
 * thread, and one model's sessions are not meant to be run concurrently), answers `info`, and cancels by
 * aborting the running request — the pipeline checks between steps, so it stops within one step — or by
 * dropping a waiting one.
 */
export class EngineHost {
  private readonly waiting: Job[] = [];
  private running: Job | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly transport: HostTransport,
    private readonly train: TrainRunner = runTraining,
  ) {}

  /** Announces the process to the parent. */
  ready(): void {
    this.transport.send({ type: 'ready', pid: process.pid, protocol: ENGINE_PROTOCOL_VERSION });
  }

  /** Handles one parent message. Malformed messages are answered with an error when they carry an id. */
  handle(message: unknown): void {
    const msg = message as ParentMessage;
    switch (msg?.type) {
      case 'generate':
        this.waiting.push({
          kind: 'generate',
          id: msg.id,
          request: msg.request,
          output: msg.output,
          controller: new AbortController(),
        });
        void this.drain();
        return;
      case 'train':
        this.waiting.push({ kind: 'train', id: msg.id, request: msg.request, controller: new AbortController() });
        void this.drain();
        return;
      case 'cancel':
        this.cancel(msg.id);
        return;
      case 'info':
        void this.answer(msg.id, async () => ({
          type: 'info',
          id: msg.id,
          info: {
            pid: process.pid,
            protocol: ENGINE_PROTOCOL_VERSION,
            provider: await this.engine.provider(),
            versions: { node: process.versions.node, electron: process.versions['electron'] },
          },
        }));
        return;
      case 'release':
        void this.answer(msg.id, async () => {
          await this.engine.releaseMemory();
          return { type: 'done', id: msg.id };
        });
        return;
      case 'shutdown':
        for (const job of this.waiting.splice(0)) job.controller.abort();
        this.running?.controller.abort();
        return;
      default: {
        const id = (message as { id?: unknown })?.id;
        if (typeof id === 'string') {
          this.sendError(
            id,
            new PinholeError(
              'UNKNOWN_METHOD',
              `unknown engine message ${JSON.stringify((message as { type?: unknown })?.type)}`,
            ),
          );
        }
      }
    }
  }

  /** Whether nothing runs or waits (used to exit cleanly on shutdown). */
  get idle(): boolean {
    return !this.running && this.waiting.length === 0;
  }

  private cancel(id: string): void {
    if (this.running?.id === id) {
      this.running.controller.abort();
      return;
    }
    const index = this.waiting.findIndex((j) => j.id === id);
    if (index >= 0) {
      const [job] = this.waiting.splice(index, 1);
      this.sendError(id, new CanceledError(job?.kind === 'train' ? 'Training canceled' : 'Generation canceled'));
    }
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    while (this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running = job;
      try {
        if (job.kind === 'train') {
          // The training graph carries its own copy of the UNet: free generation's idle sessions for it first
          // (they reload when the next image is generated).
          await this.engine.releaseMemory();
          const result = await this.train(fromWireTrainRequest(job.request), {
            signal: job.controller.signal,
            onEvent: (event) => this.transport.send({ type: 'train-event', id: job.id, event }),
          });
          this.transport.send({ type: 'train-result', id: job.id, result });
          continue;
        }
        const request = fromWireRequest(job.request);
        const result = await this.engine.generate(request, {
          signal: job.controller.signal,
          onProgress: (progress) => this.transport.send({ type: 'progress', id: job.id, progress }),
        });
        this.transport.send({ type: 'result', id: job.id, result: await this.toWire(job, result) });
      } catch (error) {
        this.sendError(job.id, error);
      } finally {
        this.running = undefined;
      }
    }
  }

  private async toWire(job: Job & { kind: 'generate' }, result: GenerateResult): Promise<WireGenerateResult> {
    const images = [];
    for (const image of result.images) {
      const base = {
        width: image.image.width,
        height: image.image.height,
        seed: image.seed.toString(),
        iteration: image.iteration,
        batchIndex: image.batchIndex,
        parameters: image.parameters,
      };
      if (job.output.kind === 'files') {
        await mkdir(job.output.dir, { recursive: true });
        const file = path.join(job.output.dir, `${safeName(job.id)}-${image.iteration}-${image.batchIndex}.png`);
        await writeFile(file, image.png);
        images.push({ ...base, path: file });
      } else {
        images.push({ ...base, pngBase64: toBase64(image.png) });
      }
    }
    return { images, timesteps: result.timesteps, mode: result.mode, timings: result.timings };
  }

  private async answer(id: string, work: () => Promise<ChildMessage>): Promise<void> {
    try {
      this.transport.send(await work());
    } catch (error) {
      this.sendError(id, error);
    }
  }

  private sendError(id: string, error: unknown): void {
    this.transport.send({ type: 'error', id, error: serializeError(error) });
  }
}

/** A request id made safe for a file name. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'image';
}
