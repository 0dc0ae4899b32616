/**
 * The composition root of the plain-Node core: data home, database, library, queue and
 * job kinds, wired by hand. The Electron app, the headless server and the CLI all start here.
 */
import type { ApiHandlers, EventMessage } from '../../src-shared/api';
import { openDataHome, type DataHome } from '../platform/data-home';
import { Emitter } from '../platform/emitter';
import { openDatabase, schemaVersion } from '../storage/database';
import { ContentStore } from '../storage/content-store';
import { SettingsStore } from '../storage/settings-store';
import { JobQueue } from '../queue';
import { Library, countGeneratedImagesMatching, createImportJobHandler } from '../library';
import { readConvertedSource, type EngineLauncher } from '../engine';
import {
  createGenerateJobHandler,
  createModelSourceResolver,
  createNetworkResolver,
  createTrainJobHandler,
  TRAIN_JOB_KIND,
  modelRoots,
  trainingMediaFile,
} from '../generation';
import { createDownloadSink, createModelsImportJobHandler, ModelLibrary } from '../models';
import {
  createDownloadApiHandlers,
  createDownloadJobHandler,
  DownloadService,
  MemoryTokenStore,
  type TokenStore,
} from '../models/download';
import { createApiHandlers } from './api-handlers';
import { inputImageFile } from './input-media';
import { EngineProcess } from './engine-process';
import { hashModelFile, inspectModelFile, modelConverter } from './model-engine';
import { removeBatchOfFinishedJob, sweepOrphanBatches } from './upload-sweeper';

export type StudioOptions = {
  dataDir: string;
  mode: 'desktop' | 'headless';
  version: string;
  /**
   * Which jobs this process runs: 'all' (the app, the server), 'own' (a CLI command runs
   * the jobs it enqueues, and recovers interrupted ones for whoever runs next), 'none'
   * (read-only commands such as `pinhole jobs`).
   */
  runJobs?: 'all' | 'own' | 'none';
  /**
   * How to start the engine process, given the environment it must get (Electron passes a
   * utilityProcess launcher); a forked child by default.
   */
  engineLauncher?: (env: NodeJS.ProcessEnv) => EngineLauncher;
  /** The engine host entry for the default launcher (tests running from sources pass the built one). */
  engineEntry?: string;
  /** Access tokens for gated downloads (the app passes its keychain store); env + memory by default. */
  tokenStore?: TokenStore;
};

/** Library images and thumbnails; `inputs`: img2img init images and masks kept for re-runs. */
export type MediaKind = 'images' | 'thumbs' | 'inputs';

export type Studio = {
  readonly home: DataHome;
  readonly api: ApiHandlers;
  onEvent(listener: (message: EventMessage) => void): () => void;
  /** Absolute path and content type of library media, or null when there is none. */
  mediaFile(kind: MediaKind, sha256: string): { path: string; contentType: string } | null;
  /**
   * A training run's sample image (`sample-<i>`) or checkpoint LoRA (`checkpoint-<step>`), looked
   * up in the job's recorded artifacts (never a path from the caller), or null.
   */
  trainingMedia(jobId: string, name: string): { path: string; contentType: string } | null;
  /** Imports a folder of browser uploads; the folder is deleted when the job ends. */
  importUploads(dataset: string, folder: string): { jobId: string };
  /** Imports a folder of uploaded model files into the models library; deleted when the job ends. */
  importModelUploads(folder: string, name?: string): { jobId: string };
  /** Resolves with the job's final view. */
  waitForJob(jobId: string): ReturnType<JobQueue['waitFor']>;
  dispose(): Promise<void>;
};

export function createStudio(options: StudioOptions): Studio {
  const home = openDataHome(options.dataDir);
  const db = openDatabase(home.database);
  const library = new Library({ db, home });
  const queue = new JobQueue(db);
  const importJob = createImportJobHandler(library);
  queue.register(importJob);
  // The engine process starts on the first generation, not with the studio, on the provider the user chose.
  const settings = new SettingsStore(db);
  const engineProcess = new EngineProcess({
    home,
    settings,
    launcher: options.engineLauncher,
    entry: options.engineEntry,
  });
  const engineClient = () => engineProcess.client();
  // Which provider the engine runs on decides the weight precision of converted models (float16 on GPUs).
  const engineInfo = () => engineProcess.engineInfo();
  const models = new ModelLibrary({
    db,
    home,
    inspect: inspectModelFile,
    // A paused or interrupted job will run again and read its model then.
    activeJobs: () => queue.list(['queued', 'running', 'interrupted', 'paused'], 10_000),
    finishedTrainJobs: () =>
      queue.list(['succeeded', 'failed', 'canceled'], 100_000).filter((job) => job.kind === TRAIN_JOB_KIND),
    countGeneratedImages: (hint, test) => countGeneratedImagesMatching(db, hint, test),
    convertedSource: readConvertedSource,
  });
  const modelsImportJob = createModelsImportJobHandler(models.importDeps, () => models.onDidChange.fire());
  queue.register(modelsImportJob);
  const generateJob = createGenerateJobHandler(
    engineClient,
    library,
    createModelSourceResolver(models, modelConverter(home, models), {
      precision: async () => (await engineInfo()).weightPrecision,
      hashFile: hashModelFile(home),
    }),
    createNetworkResolver({ roots: modelRoots(home.models), library: (kind) => models.list(kind) }),
  );
  queue.register(generateJob);
  const trainJob = createTrainJobHandler(engineClient, library, home, modelConverter(home, models), (lora) =>
    models.saveTrained(lora),
  );
  queue.register(trainJob);

  const tokens = options.tokenStore ?? new MemoryTokenStore();
  const downloadJob = createDownloadJobHandler({ home, tokens, sink: createDownloadSink(models) });
  queue.register(downloadJob);
  const downloads = new DownloadService(queue, home.downloads);

  const events = new Emitter<EventMessage>();
  const unsubscribers = [
    queue.onDidChange.on((job) => events.fire({ event: 'job.updated', payload: job })),
    queue.onDidChange.on((job) => removeBatchOfFinishedJob(home.uploads, job)),
    library.onDidImportFile.on((result) => events.fire({ event: 'import.file', payload: result })),
    library.onDidChange.on((change) => events.fire({ event: 'library.changed', payload: change })),
    models.onDidChange.on(() => events.fire({ event: 'models.changed', payload: {} })),
  ];

  const api = createApiHandlers({
    queue,
    library,
    importKind: importJob.kind,
    generateKind: generateJob.kind,
    trainKind: trainJob.kind,
    home,
    models,
    modelsImportKind: modelsImportJob.kind,
    engineInfo,
    settings: {
      read: () => settings.read(),
      update: async (changes) => {
        const before = settings.read().executionProvider;
        if (changes.executionProvider !== undefined && changes.executionProvider !== before) {
          const gpuBusy = queue.list(['running'], 10_000).some((job) => job.lane === 'gpu');
          await engineProcess.restart(gpuBusy);
        }
        return settings.update(changes);
      },
    },
    downloadApi: createDownloadApiHandlers(downloads, tokens),
    info: { version: options.version, mode: options.mode, dataDir: home.root, schemaVersion: schemaVersion(db) },
  });

  const runJobs = options.runJobs ?? 'all';
  if (runJobs !== 'none') queue.start(runJobs === 'own' ? { only: [] } : {});
  // Only a full runner sweeps: a CLI command must not remove a batch a server is about to import.
  if (runJobs === 'all') sweepOrphanBatches(home.uploads, queue);
  if (runJobs === 'all') downloads.sweep();

  return {
    home,
    api,
    onEvent: (listener) => events.on(listener),
    mediaFile: (kind, sha256) => {
      if (kind === 'inputs') return inputImageFile(home.inputs, sha256);
      return kind === 'images' ? library.imagePath(sha256) : library.thumbPath(sha256);
    },
    trainingMedia: (jobId, name) => {
      const job = safeGet(queue, jobId);
      return job && job.kind === trainJob.kind ? trainingMediaFile(job, name) : null;
    },
    importUploads: (dataset, folder) => ({
      jobId: queue.enqueue(importJob.kind, { dataset, paths: [folder], cleanup: folder }).id,
    }),
    importModelUploads: (folder, name) => ({
      jobId: queue.enqueue(modelsImportJob.kind, { paths: [folder], name, cleanup: folder }).id,
    }),
    waitForJob: (jobId) => queue.waitFor(jobId),
    dispose: async () => {
      await queue.dispose();
      await engineProcess.dispose();
      unsubscribers.forEach((off) => off());
      events.clear();
      db.close();
    },
  };
}

/** The job, or null when there is none with this id. */
function safeGet(queue: JobQueue, jobId: string): ReturnType<JobQueue['get']> | null {
  try {
    return queue.get(jobId);
  } catch {
    return null;
  }
}

/** Where the library keeps an image's file inside a data home (for commands that copy results out). */
export function libraryImageFile(dataDir: string, sha256: string): string {
  return new ContentStore(openDataHome(dataDir).images, openDataHome(dataDir).tmp).pathOf(sha256);
}
