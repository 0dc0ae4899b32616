/**
 * The one API contract: every method's params and result, and every event, as zod schemas.
 *
 * Used by the renderer (both bridges), the Electron IPC handlers and the headless server.
 * Transports carry exactly these messages:
 *   - Electron:  ipcRenderer.invoke('pinhole:call', method, params) → CallResponse;
 *                events on 'pinhole:event' as EventMessage.
 *   - Headless:  POST /api/call/<method> with JSON params → CallResponse;
 *                WebSocket /api/events → EventMessage per frame.
 */
import { z } from 'zod';
import type { SerializedError } from '../errors';
import {
  Dataset,
  DatasetImage,
  GenerateParams,
  TrainParams,
  ModelEntry,
  DatasetName,
  ImageDetail,
  ImageView,
  ImportFileResult,
  JobState,
  JobView,
  Page,
  SerializedErrorSchema,
  Sha256,
} from './schemas';

const Cursor = z.string().max(200).optional();
const Limit = z.number().int().min(1).max(500).default(100);

export const methods = {
  /** Facts about the running studio. */
  'app.info': {
    params: z.object({}).strict(),
    result: z.object({
      version: z.string(),
      mode: z.enum(['desktop', 'headless']),
      dataDir: z.string(),
      schemaVersion: z.number().int(),
      platform: z.string(),
    }),
  },

  'datasets.list': {
    params: z.object({}).strict(),
    result: z.array(Dataset),
  },
  'datasets.create': {
    params: z.object({ name: DatasetName }).strict(),
    result: Dataset,
  },
  'datasets.delete': {
    params: z.object({ datasetId: z.string().min(1) }).strict(),
    result: z.object({ deleted: z.boolean() }),
  },
  'datasets.images': {
    params: z.object({ datasetId: z.string().min(1), cursor: Cursor, limit: Limit }).strict(),
    result: Page(DatasetImage),
  },
  'datasets.setCaption': {
    params: z.object({ datasetId: z.string().min(1), sha256: Sha256, caption: z.string().max(2000) }).strict(),
    result: DatasetImage,
  },
  'datasets.removeImage': {
    params: z.object({ datasetId: z.string().min(1), sha256: Sha256 }).strict(),
    result: z.object({ removed: z.boolean() }),
  },

  /**
   * Import files or folders (paths on the machine running the core) into a dataset,
   * creating it when it does not exist. Browsers upload instead (POST /api/upload).
   */
  'import.start': {
    params: z
      .object({
        dataset: DatasetName,
        paths: z.array(z.string().min(1)).min(1).max(10_000),
        priority: z.number().int().min(-10).max(10).default(0),
      })
      .strict(),
    result: z.object({ jobId: z.string() }),
  },
  /** Per-file outcomes of an import job, in file order. */
  'import.results': {
    params: z.object({ jobId: z.string().min(1) }).strict(),
    result: z.array(ImportFileResult),
  },

  'jobs.list': {
    params: z
      .object({
        states: z.array(JobState).optional(),
        limit: z.number().int().min(1).max(1000).default(200),
      })
      .strict(),
    result: z.array(JobView),
  },
  'jobs.get': {
    params: z.object({ jobId: z.string().min(1) }).strict(),
    result: JobView,
  },
  'jobs.cancel': {
    params: z.object({ jobId: z.string().min(1) }).strict(),
    result: JobView,
  },

  /** Queues a generation (GPU lane). Results land in the gallery; the job result lists them. */
  'generate.start': {
    params: z.object({ request: GenerateParams, priority: z.number().int().min(-10).max(10).default(0) }).strict(),
    result: z.object({ jobId: z.string(), seed: z.string() }),
  },
  /**
   * Queues a LoRA training run (GPU lane, in the engine process). Progress per optimizer step with
   * `message` = `loss L lr X`; the result has the file, per-step losses and learning rates.
   */
  'train.start': {
    params: z.object({ request: TrainParams, priority: z.number().int().min(-10).max(10).default(0) }).strict(),
    result: z.object({ jobId: z.string(), seed: z.string() }),
  },
  /** Model folders found in the data home's models/ folder (and $PINHOLE_MODELS). */
  'models.list': {
    params: z.object({}).strict(),
    result: z.array(ModelEntry),
  },

  /** The gallery: every library image, newest first, optionally filtered by full-text search. */
  'gallery.query': {
    params: z
      .object({
        search: z.string().max(500).optional(),
        source: z.enum(['import', 'generated']).optional(),
        cursor: Cursor,
        limit: Limit,
      })
      .strict(),
    result: Page(ImageView),
  },
  /**
   * The raw CLIP BPE ids of the literal text (no weighting, `<lora:…>` or embedding parsing),
   * untruncated, without start/end tokens or padding. `model` is a model folder.
   */
  'text.tokenize': {
    params: z.object({ model: z.string().min(1), text: z.string().max(100_000) }).strict(),
    result: z.object({ ids: z.array(z.number().int().nonnegative()), count: z.number().int().nonnegative() }),
  },
  'gallery.get': {
    params: z.object({ sha256: Sha256 }).strict(),
    result: ImageDetail,
  },
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = z.input<Methods[M]['params']>;
export type ParsedParamsOf<M extends MethodName> = z.output<Methods[M]['params']>;
export type ResultOf<M extends MethodName> = z.output<Methods[M]['result']>;

export const events = {
  /** A job was enqueued, changed state or reported progress. */
  'job.updated': JobView,
  /** One file of an import job was processed. */
  'import.file': ImportFileResult,
  /** Library contents changed (images added or removed, captions edited, datasets changed). */
  'library.changed': z.object({ datasetId: z.string().nullable() }),
} as const;

export type Events = typeof events;
export type EventName = keyof Events;
export type EventPayload<E extends EventName> = z.output<Events[E]>;

export const EventMessage = z.object({ event: z.string(), payload: z.unknown() });
export type EventMessage = { [E in EventName]: { event: E; payload: EventPayload<E> } }[EventName];

export const CallResponse = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: SerializedErrorSchema }),
]);
export type CallResponse = { ok: true; result: unknown } | { ok: false; error: SerializedError };

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(methods, name);
}

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

/** Every method's implementation, as the core provides it to both transports. */
export type ApiHandlers = {
  [M in MethodName]: (params: ParsedParamsOf<M>) => Promise<ResultOf<M>> | ResultOf<M>;
};

/** What a renderer bridge offers, whatever the transport. */
export interface PinholeClient {
  call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  /** Subscribe to all events; returns the unsubscribe. */
  onEvent(listener: (message: EventMessage) => void): () => void;
}

/** Upload limits for the headless server (per file, per request). */
export const UPLOAD_LIMITS = {
  maxFileBytes: 200 * 1024 * 1024,
  maxRequestBytes: 2 * 1024 * 1024 * 1024,
  maxFiles: 2000,
} as const;
