import type { z } from 'zod';
import type { Lane, TrainArtifacts } from '../../src-shared/api';

/** What a running job sees: its cancellation, its progress reporter and its resumable checkpoint. */
export type JobContext<Checkpoint = unknown> = {
  readonly jobId: string;
  /** 1 on the first run; higher after an interruption re-queued the job. */
  readonly attempt: number;
  /** Aborted on cancel or shutdown. Pass it to anything that accepts a signal. */
  readonly signal: AbortSignal;
  /** Throws CanceledError when the job was cancelled; call it between steps. */
  throwIfCanceled(): void;
  /** Reports progress; the queue adds the ETA, throttles events and persists the latest. */
  progress(update: {
    step: number;
    total: number;
    message?: string | undefined;
    preview?: string | undefined;
    metrics?: Record<string, number> | undefined;
    artifacts?: TrainArtifacts | undefined;
  }): void;
  /** What the handler saved on an earlier attempt, or null. */
  readonly checkpoint: Checkpoint | null;
  /** Persists resumable state so an interrupted job continues instead of starting over. */
  saveCheckpoint(checkpoint: Checkpoint): void;
};

/** A job kind: registered with the queue, which validates params before anything is stored. */
export type JobHandler<Params = unknown, Result = unknown, Checkpoint = unknown> = {
  readonly kind: string;
  readonly lane: Lane;
  readonly params: z.ZodType<Params>;
  /** A one-line title for the job tray. */
  title(params: Params): string;
  run(ctx: JobContext<Checkpoint>, params: Params): Promise<Result>;
};

// Handlers are stored heterogeneously; each one checks its own params before `run`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyJobHandler = JobHandler<any, any, any>;
