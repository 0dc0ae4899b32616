/**
 * The composition root of the plain-Node core: data home, database, library, queue and
 * job kinds, wired by hand. The Electron app, the headless server and the CLI all start here.
 */
import path from 'node:path';
import type { ApiHandlers, EventMessage } from '../../src-shared/api';
import { openDataHome, type DataHome } from '../platform/data-home';
import { Emitter } from '../platform/emitter';
import { openDatabase, schemaVersion } from '../storage/database';
import { ContentStore } from '../storage/content-store';
import { JobQueue } from '../queue';
import { Library, createImportJobHandler } from '../library';
import { defaultHostEntry, EngineClient, forkLauncher, type EngineLauncher } from '../engine';
import { createGenerateJobHandler, createTrainJobHandler } from '../generation';
import { createApiHandlers } from './api-handlers';
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
};

export type MediaKind = 'images' | 'thumbs';

export type Studio = {
  readonly home: DataHome;
  readonly api: ApiHandlers;
  onEvent(listener: (message: EventMessage) => void): () => void;
  /** Absolute path and content type of library media, or null when there is none. */
  mediaFile(kind: MediaKind, sha256: string): { path: string; contentType: string } | null;
  /** Imports a folder of browser uploads; the folder is deleted when the job ends. */
  importUploads(dataset: string, folder: string): { jobId: string };
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
  // The engine process starts on the first generation, not with the studio.
  let engine: EngineClient | null = null;
  // Graphs the engine builds from weights are cached in the data home (unless the environment
  // names a cache), not in a temp folder.
  const engineEnv = {
    ...process.env,
    PINHOLE_ENGINE_CACHE: process.env['PINHOLE_ENGINE_CACHE'] ?? path.join(home.cache, 'engine'),
  };
  const engineClient = () =>
    (engine ??= new EngineClient({
      launcher: options.engineLauncher
        ? options.engineLauncher(engineEnv)
        : forkLauncher(options.engineEntry ?? defaultHostEntry(), { env: engineEnv }),
    }));
  const generateJob = createGenerateJobHandler(engineClient, library);
  queue.register(generateJob);
  const trainJob = createTrainJobHandler(engineClient);
  queue.register(trainJob);

  const events = new Emitter<EventMessage>();
  const unsubscribers = [
    queue.onDidChange.on((job) => events.fire({ event: 'job.updated', payload: job })),
    queue.onDidChange.on((job) => removeBatchOfFinishedJob(home.uploads, job)),
    library.onDidImportFile.on((result) => events.fire({ event: 'import.file', payload: result })),
    library.onDidChange.on((change) => events.fire({ event: 'library.changed', payload: change })),
  ];

  const api = createApiHandlers({
    queue,
    library,
    importKind: importJob.kind,
    generateKind: generateJob.kind,
    trainKind: trainJob.kind,
    home,
    info: { version: options.version, mode: options.mode, dataDir: home.root, schemaVersion: schemaVersion(db) },
  });

  const runJobs = options.runJobs ?? 'all';
  if (runJobs !== 'none') queue.start(runJobs === 'own' ? { only: [] } : {});
  // Only a full runner sweeps: a CLI command must not remove a batch a server is about to import.
  if (runJobs === 'all') sweepOrphanBatches(home.uploads, queue);

  return {
    home,
    api,
    onEvent: (listener) => events.on(listener),
    mediaFile: (kind, sha256) => (kind === 'images' ? library.imagePath(sha256) : library.thumbPath(sha256)),
    importUploads: (dataset, folder) => ({
      jobId: queue.enqueue(importJob.kind, { dataset, paths: [folder], cleanup: folder }).id,
    }),
    waitForJob: (jobId) => queue.waitFor(jobId),
    dispose: async () => {
      await queue.dispose();
      await engine?.dispose();
      unsubscribers.forEach((off) => off());
      events.clear();
      db.close();
    },
  };
}

/** Where the library keeps an image's file inside a data home (for commands that copy results out). */
export function libraryImageFile(dataDir: string, sha256: string): string {
  return new ContentStore(openDataHome(dataDir).images, openDataHome(dataDir).tmp).pathOf(sha256);
}
