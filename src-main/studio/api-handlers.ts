/**
 * The contract's methods implemented over the core services. Both transports (Electron IPC,
 * headless HTTP) and the CLI's local mode call these through `dispatchCall`, which has
 * already validated the params.
 */
import type { ApiHandlers, ParamsOf, ResultOf } from '../../src-shared/api';
import type { Library } from '../library';
import type { JobQueue } from '../queue';
import { randomBytes } from 'node:crypto';
import type { DataHome } from '../platform/data-home';
import path from 'node:path';
import type { ModelLibrary } from '../models';
import type { DownloadApiHandlers } from '../models/download';
import { PinholeError } from '../../src-shared/errors';
import {
  countPromptTokens,
  createNetworkResolver,
  listModelFolders,
  modelRoots,
  networkFolderEntries,
  storeInlineImages,
  continueCanceledRun,
  TrainJobParams,
  trainRunId,
  trainRunPaths,
  useTrainCheckpoint,
} from '../generation';
import { TokenizerCache } from './tokenizers';

export type AppInfo = { version: string; mode: 'desktop' | 'headless'; dataDir: string; schemaVersion: number };

export type ApiDeps = {
  queue: JobQueue;
  library: Library;
  info: AppInfo;
  importKind: string;
  generateKind: string;
  trainKind: string;
  home: DataHome;
  models: ModelLibrary;
  modelsImportKind: string;
  /** The engine's provider and the weight precision conversions use for it (starts the engine). */
  engineInfo: () => Promise<ResultOf<'engine.info'>>;
  /** The user's preferences; `update` restarts the engine when the provider changes. */
  settings: {
    read: () => ResultOf<'settings.get'>;
    update: (changes: ParamsOf<'settings.update'>) => Promise<ResultOf<'settings.update'>>;
  };
  /** Downloads and access tokens (src-main/models/download). */
  downloadApi: DownloadApiHandlers;
};

/** A random seed in 0 … 2^64 − 1. */
function randomSeed(): string {
  return randomBytes(8).readBigUInt64BE().toString();
}

export function createApiHandlers(deps: ApiDeps): ApiHandlers {
  const { queue, library, info, importKind, generateKind, trainKind, home, models, modelsImportKind } = deps;
  const tokenizers = new TokenizerCache();
  // Embedding names for the token counter, found as the generate job finds them.
  const networks = createNetworkResolver({ roots: modelRoots(home.models), library: (kind) => models.list(kind) });
  /** The job, which must be a training run (pause, resume and checkpoints are training's). */
  const trainJob = (jobId: string) => {
    const job = queue.get(jobId);
    if (job.kind !== trainKind) throw new PinholeError('INVALID_PARAMS', `Job ${jobId} is not a training run.`);
    return job;
  };
  return {
    ...deps.downloadApi,
    'app.info': () => ({ ...info, platform: `${process.platform}-${process.arch}` }),

    'datasets.list': () => library.listDatasets(),
    'datasets.create': ({ name }) => library.createDataset(name),
    'datasets.delete': ({ datasetId }) => library.deleteDataset(datasetId),
    'datasets.images': ({ datasetId, cursor, limit }) => library.datasetImages(datasetId, cursor, limit),
    'datasets.setCaption': ({ datasetId, sha256, caption }) => library.setCaption(datasetId, sha256, caption),
    'datasets.removeImage': ({ datasetId, sha256 }) => library.removeImage(datasetId, sha256),

    'import.start': ({ dataset, paths, priority }) => {
      const job = queue.enqueue(importKind, { dataset, paths }, { priority });
      return { jobId: job.id };
    },
    'import.results': ({ jobId }) => {
      queue.get(jobId); // NOT_FOUND for an unknown job rather than an empty list
      return library.importResults(jobId);
    },

    'generate.start': async ({ request, priority }) => {
      const seed = request.seed ?? randomSeed();
      const stored = await storeInlineImages({ ...request, seed }, home.inputs, home.tmp);
      const job = queue.enqueue(generateKind, { request: { ...stored, seed } }, { priority });
      return { jobId: job.id, seed };
    },
    'train.start': ({ request, priority }) => {
      const seed = request.seed ?? randomSeed();
      // A library name is stored as its file's path (which "what uses this model" recognises). A single-file
      // checkpoint is converted by the job, on the GPU lane with progress and cancel: it can take minutes.
      const entry = models.resolve(request.model, 'checkpoint');
      if (entry) models.markUsed(entry.record.id);
      const model = entry?.file ?? request.model;
      const job = queue.enqueue(trainKind, { request: { ...request, model, seed } }, { priority });
      return { jobId: job.id, seed };
    },
    'train.pause': ({ jobId }) => queue.pause(trainJob(jobId).id),
    'train.resume': ({ jobId }) => {
      const job = trainJob(jobId);
      // A cancelled run goes on as a new job from its last checkpoint; a paused one is re-queued as it is.
      return job.state === 'canceled' ? continueCanceledRun(queue, job) : queue.resume(job.id);
    },
    'train.useCheckpoint': ({ jobId, step }) => {
      const job = trainJob(jobId);
      const params = TrainJobParams.parse(job.params);
      const { out } = trainRunPaths(params.request, trainRunId(params, job.id), home);
      return useTrainCheckpoint(job, step, { out, request: params.request, keep: (l) => models.saveTrained(l) });
    },
    'models.list': async ({ kind }) => {
      const files = models.list(kind);
      const roots = modelRoots(home.models);
      const extra = kind === undefined || kind === 'checkpoint' ? await listModelFolders(roots) : [];
      // LoRAs and embeddings put in the folders' loras/ and embeddings/ (the library's names win).
      for (const networkKind of ['lora', 'embedding'] as const) {
        if (kind !== undefined && kind !== networkKind) continue;
        const taken = new Set(files.filter((f) => f.kind === networkKind).map((f) => f.name));
        extra.push(...(await networkFolderEntries(roots, networkKind, taken)));
      }
      return [...files, ...extra];
    },
    'models.import': ({ paths, name, prediction, priority }) => {
      const job = queue.enqueue(
        modelsImportKind,
        { paths: paths.map((p) => path.resolve(p)), name, prediction },
        { priority },
      );
      return { jobId: job.id };
    },
    'models.rename': ({ id, name }) => models.rename(id, name),
    'models.remove': ({ id, force }) => models.remove(id, force),
    'models.setDefault': ({ id }) => models.setDefault(id),
    'models.setPrediction': ({ id, prediction }) => models.setPrediction(id, prediction),
    'engine.info': () => deps.engineInfo(),
    'settings.get': () => deps.settings.read(),
    'settings.update': (changes) => deps.settings.update(changes),

    'jobs.list': ({ states, limit }) => queue.list(states, limit),
    'jobs.get': ({ jobId }) => queue.get(jobId),
    'jobs.cancel': ({ jobId }) => queue.cancel(jobId),

    'gallery.query': (params) => library.galleryQuery(params),
    'gallery.get': ({ sha256 }) => library.getImage(sha256),

    'text.countTokens': async ({ model, text }) => {
      const count = await countPromptTokens(await tokenizers.get(model), text, networks);
      return { count, limit: Math.max(75, Math.ceil(count / 75) * 75) };
    },
    'text.tokenize': async ({ model, text }) => {
      const ids = (await tokenizers.get(model)).encode(text);
      return { ids, count: ids.length };
    },
  };
}
