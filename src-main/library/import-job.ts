/**
 * The 'import' job: files and folders on this machine (or a browser upload batch) into a
 * dataset. Resumable: the expanded file list lives in the checkpoint and every file's
 * outcome in import_results, so a re-run after a crash (even SIGKILL) skips what is done
 * and each file is recorded exactly once.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DatasetName } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { JobContext, JobHandler } from '../queue/job-handler';
import { expandPaths, isInside, type ImportEntry } from './expand-paths';
import { importFile } from './import-file';
import { DEFAULT_INGEST_LIMITS, type IngestLimits } from './ingest-image';
import type { Library } from './library';

/** The job's params (validated by `handler.params` before the job is stored). */
export type ImportParams = {
  dataset: string;
  paths: string[];
  /** An upload batch folder (inside the data home's uploads) deleted when the job ends. */
  cleanup?: string | undefined;
};

/** The job's result. */
export type ImportJobResult = { datasetId: string; accepted: number; duplicates: number; rejected: number };

/** What a re-run needs: the file list of the first run, index for index. */
export type ImportCheckpoint = { files: ImportEntry[] };

export type ImportJobOptions = {
  /** Size and pixel limits; defaults to DEFAULT_INGEST_LIMITS. */
  limits?: Partial<IngestLimits>;
};

/** The job kind, for `queue.enqueue(IMPORT_JOB_KIND, params)`. */
export const IMPORT_JOB_KIND = 'import';

const CheckpointSchema = z.object({
  files: z.array(
    z.object({ file: z.string(), path: z.string(), real: z.string().optional(), reason: z.string().optional() }),
  ),
});

/** The import job handler (kind 'import', CPU lane). */
export function createImportJobHandler(
  library: Library,
  options: ImportJobOptions = {},
): JobHandler<ImportParams, ImportJobResult, ImportCheckpoint> {
  const limits: IngestLimits = { ...DEFAULT_INGEST_LIMITS, ...options.limits };
  const uploads = path.resolve(library.home.uploads);
  const params: z.ZodType<ImportParams> = z.object({
    dataset: DatasetName,
    paths: z.array(z.string().min(1)).min(1).max(10_000),
    // Checked here, before the job is stored: the job deletes this folder, so it must be an upload batch.
    cleanup: z
      .string()
      .min(1)
      .refine((dir) => path.resolve(dir) !== uploads && isInside(uploads, path.resolve(dir)), {
        message: 'cleanup must be a folder inside the uploads folder',
      })
      .optional(),
  });

  return {
    kind: IMPORT_JOB_KIND,
    lane: 'cpu',
    params,
    title: (p) => {
      if (p.cleanup) return `Import uploaded files into "${p.dataset}"`;
      if (p.paths.length === 1) return `Import "${path.basename(p.paths[0]!)}" into "${p.dataset}"`;
      return `Import ${p.paths.length} items into "${p.dataset}"`;
    },
    run: async (ctx, p) => {
      let datasetId: string | null = null;
      try {
        datasetId = library.ensureDataset(p.dataset).id;
        const files = await fileList(ctx, p);
        const done = new Set(library.importResults(ctx.jobId).map((r) => r.index));
        for (const [index, entry] of files.entries()) {
          ctx.throwIfCanceled();
          if (!done.has(index)) await importFile(library, { jobId: ctx.jobId, index, datasetId, entry, limits });
          ctx.progress({ step: index + 1, total: files.length, message: path.posix.basename(entry.file) });
        }
        return { datasetId, ...library.importCounts(ctx.jobId) };
      } finally {
        if (datasetId) library.onDidChange.fire({ datasetId });
        if (p.cleanup && !isInterruption(ctx.signal)) await rm(p.cleanup, { recursive: true, force: true });
      }
    },
  };
}

/** The checkpointed list, or a fresh expansion saved before the first file is touched. */
async function fileList(ctx: JobContext<ImportCheckpoint>, p: ImportParams): Promise<ImportEntry[]> {
  const saved = CheckpointSchema.safeParse(ctx.checkpoint);
  if (saved.success) return saved.data.files;
  const files = await expandPaths(p.paths, { uploadRoot: p.cleanup });
  ctx.saveCheckpoint({ files });
  return files;
}

/**
 * A shutdown aborts the signal with PinholeError('INTERRUPTED'): the job will run again,
 * so its upload must survive. A cancel, a failure or success are final: clean up.
 */
function isInterruption(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof PinholeError && signal.reason.code === 'INTERRUPTED';
}
