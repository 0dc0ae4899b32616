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
  CatalogueEntry,
  TokenHost,
} from './schemas';
import { ModelKind, ModelName, PredictionType } from './model-schemas';
import { ProviderAttemptView, StudioSettings, StudioSettingsChanges } from './settings-schemas';

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
   * `metrics` `loss`, `smoothLoss`, `lr`, `gradNorm`, `stepsPerSec` (caching: step 0 with
   * `cachingDone`/`cachingTotal`) and `artifacts` (checkpoints, samples); the result has the file,
   * per-step losses and learning rates, and `artifacts` with the suggested `bestStep`.
   */
  'train.start': {
    params: z.object({ request: TrainParams, priority: z.number().int().min(-10).max(10).default(0) }).strict(),
    result: z.object({ jobId: z.string(), seed: z.string() }),
  },
  /**
   * Pauses a training run: the engine writes a checkpoint and the job waits as `paused` (a queued
   * run is paused at once). CONFLICT once it has ended.
   */
  'train.pause': {
    params: z.object({ jobId: z.string().min(1) }).strict(),
    result: JobView,
  },
  /**
   * Re-queues a paused training run; it continues from its newest checkpoint. A cancelled run (which
   * kept its last checkpoint) goes on as a new job from that checkpoint: the job returned, whose id
   * differs. CONFLICT when a cancelled run kept no checkpoint or is already going on.
   */
  'train.resume': {
    params: z.object({ jobId: z.string().min(1) }).strict(),
    result: JobView,
  },
  /**
   * "Use this one": a checkpoint's LoRA (by its step) becomes the run's result: copied over a CLI
   * run's `--out` file, and into the run's models-library LoRA (same name). The run must have stopped
   * (finished, paused or cancelled). `file`: the LoRA to generate with (the library's); `name`: its
   * library name.
   */
  'train.useCheckpoint': {
    params: z.object({ jobId: z.string().min(1), step: z.number().int().nonnegative() }).strict(),
    result: z.object({ file: z.string(), step: z.number().int(), name: z.string().optional() }),
  },
  /**
   * Every model: the library's files (checkpoints, LoRAs, VAEs, embeddings) and the model folders
   * found in the data home's models/ folder and $PINHOLE_MODELS (source `folder`).
   */
  'models.list': {
    params: z.object({ kind: ModelKind.optional() }).strict(),
    result: z.array(ModelEntry),
  },
  /**
   * Imports model files (paths on the machine running the core) into the library: a
   * `models-import` job (CPU lane) whose result lists each file's outcome. Browsers upload
   * instead (POST /api/upload?target=models). `name` only with a single file.
   */
  'models.import': {
    params: z
      .object({
        paths: z.array(z.string().min(1)).min(1).max(1000),
        name: ModelName.optional(),
        /** Stored with each imported checkpoint: what it predicts, overriding what its weights suggest. */
        prediction: PredictionType.optional(),
        priority: z.number().int().min(-10).max(10).default(0),
      })
      .strict(),
    result: z.object({ jobId: z.string() }),
  },
  /** Renames a library model (its stored file too). CONFLICT when the name is taken in its kind. */
  'models.rename': {
    params: z.object({ id: z.string().min(1), name: ModelName }).strict(),
    result: ModelEntry,
  },
  /**
   * Removes a library model and its file. Refused (CONFLICT, naming them) while queued or running
   * jobs use it, unless `force`; `usedBy` says what used it (the default, jobs, how many gallery
   * images it made, the LoRA training runs based on it).
   */
  'models.remove': {
    params: z.object({ id: z.string().min(1), force: z.boolean().default(false) }).strict(),
    result: z.object({ removed: z.boolean(), usedBy: z.array(z.string()) }),
  },
  /** Makes a library model the default of its kind (the one before it stops being the default). */
  'models.setDefault': {
    params: z.object({ id: z.string().min(1) }).strict(),
    result: ModelEntry,
  },
  /**
   * Sets what a library checkpoint predicts (epsilon / v-prediction), overriding what its weights suggest;
   * null goes back to the weights. The next generation converts it with the new setting.
   */
  'models.setPrediction': {
    params: z.object({ id: z.string().min(1), prediction: PredictionType.nullable() }).strict(),
    result: ModelEntry,
  },
  /**
   * The engine's execution provider and the weight precision models are converted with for it (float16 on GPU
   * providers, float32 on the CPU), so a client converting a model ahead of a job builds what the job will use.
   * Starts the engine process when it is not running.
   */
  'engine.info': {
    params: z.object({}).strict(),
    result: z.object({
      provider: z.string(),
      forced: z.boolean(),
      /** What decided the provider: `PINHOLE_EP` in the environment, the Settings page, or probing. */
      source: z.enum(['environment', 'setting', 'probe']),
      weightPrecision: z.enum(['float32', 'float16']),
      /** Every provider tried, in order (the chosen one last), with why the better ones were skipped. */
      attempts: z.array(ProviderAttemptView),
    }),
  },

  /** The user's preferences. */
  'settings.get': {
    params: z.object({}).strict(),
    result: StudioSettings,
  },
  /**
   * Changes preferences; returns all of them. A new execution provider restarts the engine process (the next job
   * starts it on the new provider); refused with `CONFLICT` while a GPU job is running.
   */
  'settings.update': {
    params: StudioSettingsChanges,
    result: StudioSettings,
  },

  /** The curated download catalogue: official models with sizes, hashes and licenses (show the license first). */
  'downloads.catalogue': {
    params: z.object({}).strict(),
    result: z.array(CatalogueEntry),
  },
  /**
   * Downloads a model into the library: a `download` job (CPU lane) with progress in bytes
   * (`metrics`: bytes, totalBytes, bytesPerSecond, etaMs). Give a `url` (https; http only for
   * loopback) or a `catalogueId`. Without a known SHA-256, `allowUnverified` must be true.
   * Starting the same file again continues an unfinished download (`resumed`).
   */
  'downloads.start': {
    params: z
      .object({
        url: z.string().min(1).max(4000).optional(),
        catalogueId: z.string().min(1).max(100).optional(),
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/, 'expected a hex SHA-256')
          .optional(),
        name: z.string().trim().min(1).max(120).optional(),
        allowUnverified: z.boolean().default(false),
        priority: z.number().int().min(-10).max(10).default(0),
      })
      .strict()
      .refine((p) => (p.url === undefined) !== (p.catalogueId === undefined), 'give either url or catalogueId'),
    result: z.object({
      jobId: z.string(),
      resumed: z.boolean(),
      verified: z.boolean(),
      license: z.object({ name: z.string(), url: z.string() }).nullable(),
    }),
  },
  /** Pauses a download, keeping what it has; `downloads.resume` continues from there. */
  'downloads.pause': {
    params: z.object({ jobId: z.string().min(1) }).strict(),
    result: JobView,
  },
  'downloads.resume': {
    params: z.object({ jobId: z.string().min(1) }).strict(),
    result: JobView,
  },
  /** Hosts with an access token for gated downloads (desktop: the OS keychain; headless: env or memory). */
  'tokens.list': {
    params: z.object({}).strict(),
    result: z.array(TokenHost),
  },
  /** Stores a token for one host (e.g. huggingface.co); it is sent only to that host. */
  'tokens.set': {
    params: z.object({ host: z.string().trim().min(1).max(253), token: z.string().trim().min(1).max(4096) }).strict(),
    result: z.object({ host: z.string() }),
  },
  'tokens.remove': {
    params: z.object({ host: z.string().trim().min(1).max(253) }).strict(),
    result: z.object({ removed: z.boolean() }),
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
  /**
   * The Generate page's token count of a prompt: its CLIP tokens as `text.tokenize` counts them, but without
   * `<lora:…>` tags and with each textual-inversion embedding counted as its vectors (as A1111 does); `limit` is
   * the next multiple of 75 (at least 75). `model` is a model folder.
   */
  'text.countTokens': {
    params: z.object({ model: z.string().min(1), text: z.string().max(100_000) }).strict(),
    result: z.object({ count: z.number().int().nonnegative(), limit: z.number().int().positive() }),
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
  /** The models library changed (a model imported, renamed, removed, made the default, or used). */
  'models.changed': z.object({}),
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
