/**
 * The contract's methods implemented over the core services. Both transports (Electron IPC,
 * headless HTTP) and the CLI's local mode call these through `dispatchCall`, which has
 * already validated the params.
 */
import type { ApiHandlers } from '../../src-shared/api';
import type { Library } from '../library';
import type { JobQueue } from '../queue';
import { randomBytes } from 'node:crypto';
import type { DataHome } from '../platform/data-home';
import { listModelFolders, modelRoots, storeInlineImages } from '../generation';
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
};

/** A random seed in 0 … 2^64 − 1. */
function randomSeed(): string {
  return randomBytes(8).readBigUInt64BE().toString();
}

export function createApiHandlers(deps: ApiDeps): ApiHandlers {
  const { queue, library, info, importKind, generateKind, trainKind, home } = deps;
  const tokenizers = new TokenizerCache();
  return {
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
      const job = queue.enqueue(trainKind, { request: { ...request, seed } }, { priority });
      return { jobId: job.id, seed };
    },
    'models.list': () => listModelFolders(modelRoots(home.models)),

    'jobs.list': ({ states, limit }) => queue.list(states, limit),
    'jobs.get': ({ jobId }) => queue.get(jobId),
    'jobs.cancel': ({ jobId }) => queue.cancel(jobId),

    'gallery.query': (params) => library.galleryQuery(params),
    'gallery.get': ({ sha256 }) => library.getImage(sha256),

    'text.tokenize': async ({ model, text }) => {
      const ids = (await tokenizers.get(model)).encode(text);
      return { ids, count: ids.length };
    },
  };
}
