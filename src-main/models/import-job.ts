/**
 * The `models-import` job (CPU lane): model files (paths on this machine, or a browser upload
 * batch) into the library, one outcome per file. Resumable: the file list and every finished
 * file's outcome are in the checkpoint, so a re-run after a crash skips what is done and
 * removes the half-copied temporary file of the one that was running.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ModelImportOutcome, ModelName, PredictionType, type ModelImportJobResult } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { JobContext, JobHandler } from '../queue';
import { importModelFile, type ImportModelDeps } from './import-model-file';
import { modelExtension } from './model-file-info';

export const MODELS_IMPORT_JOB_KIND = 'models-import';

export type ModelsImportParams = {
  paths: string[];
  /** The library name, for a single file. */
  name?: string | undefined;
  /** Stored with every imported checkpoint (see `ImportModelInput.prediction`). */
  prediction?: PredictionType | undefined;
  /** An upload batch folder (inside the data home's uploads) deleted when the job ends. */
  cleanup?: string | undefined;
};

type Entry = { file: string; path: string };
const Checkpoint = z.object({
  files: z.array(z.object({ file: z.string(), path: z.string() })),
  outcomes: z.array(ModelImportOutcome),
});
type Checkpoint = z.infer<typeof Checkpoint>;

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** Files inside a folder, recursively, hidden ones skipped; `all` = not only model extensions. */
function filesIn(dir: string, all: boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesIn(full, all));
    else if (all || modelExtension(full) !== null) out.push(full);
  }
  return out;
}

/**
 * The files to import. Named files are taken as given (a non-model is rejected with the reason);
 * a named folder that is not itself a model folder contributes its model files; an upload batch
 * contributes every file, named by its path inside the batch.
 */
export function expandModelPaths(paths: readonly string[], uploadBatch?: string): Entry[] {
  const entries: Entry[] = [];
  for (const given of paths) {
    const full = path.resolve(given);
    if (uploadBatch !== undefined && full === path.resolve(uploadBatch)) {
      for (const f of filesIn(full, true))
        entries.push({ file: path.relative(full, f).split(path.sep).join('/'), path: f });
      continue;
    }
    let isFolder = false;
    try {
      isFolder = statSync(full).isDirectory();
    } catch {
      // reported by the import as unreadable
    }
    if (isFolder && !existsSync(path.join(full, 'model_index.json'))) {
      for (const f of filesIn(full, false)) entries.push({ file: f, path: f });
    } else {
      entries.push({ file: given, path: full });
    }
  }
  return entries;
}

export function createModelsImportJobHandler(
  deps: ImportModelDeps,
  onDidImport: () => void,
): JobHandler<ModelsImportParams, ModelImportJobResult, Checkpoint> {
  const uploads = path.resolve(deps.home.uploads);
  const params: z.ZodType<ModelsImportParams> = z
    .object({
      paths: z.array(z.string().min(1)).min(1).max(1000),
      name: ModelName.optional(),
      prediction: PredictionType.optional(),
      // Checked before the job is stored: the job deletes this folder, so it must be an upload batch.
      cleanup: z
        .string()
        .min(1)
        .refine((dir) => isInside(uploads, path.resolve(dir)), {
          message: 'cleanup must be a folder inside the uploads folder',
        })
        .optional(),
    })
    .refine((p) => p.name === undefined || p.paths.length === 1, {
      message: 'a name can be given to a single file only',
    });

  return {
    kind: MODELS_IMPORT_JOB_KIND,
    lane: 'cpu',
    params,
    title: (p) =>
      p.cleanup
        ? 'Import uploaded models'
        : p.paths.length === 1
          ? `Import model "${path.basename(p.paths[0]!)}"`
          : `Import ${p.paths.length} models`,
    run: async (ctx, p) => {
      try {
        const state = fileList(deps, ctx, p);
        if (p.name !== undefined && state.files.length > 1) {
          throw new PinholeError(
            'INVALID_PARAMS',
            `A name can be given to a single file only (${state.files.length} files).`,
          );
        }
        // Progress in megabytes copied, so one multi-gigabyte checkpoint moves the bar too.
        // before[i]: bytes of the files ahead of file i.
        const before = [0];
        for (const f of state.files) before.push(before.at(-1)! + sizeOf(f.path));
        const total = Math.max(1, Math.ceil(before.at(-1)! / MB));
        const report = (index: number, bytes: number) =>
          ctx.progress({
            step: Math.min(total, Math.floor(bytes / MB)),
            total,
            message: `MB: ${path.basename(state.files[index]!.file)} (${index + 1} of ${state.files.length})`,
          });
        for (let index = state.outcomes.length; index < state.files.length; index++) {
          ctx.throwIfCanceled();
          const entry = state.files[index]!;
          const outcome = await importModelFile(deps, {
            path: entry.path,
            file: entry.file,
            source: p.cleanup ? 'upload' : 'file',
            origin: p.cleanup ? entry.file : entry.path,
            name: p.name,
            prediction: p.prediction,
            tmp: tmpFile(deps, ctx.jobId, index),
            signal: ctx.signal,
            onProgress: (done) => report(index, before[index]! + done),
          });
          state.outcomes.push(outcome);
          ctx.saveCheckpoint(state);
          if (outcome.status === 'imported') onDidImport();
          report(index, index + 1 === state.files.length ? total * MB : before[index + 1]!);
        }
        return { files: state.outcomes };
      } finally {
        if (p.cleanup && !isInterruption(ctx.signal)) await rm(p.cleanup, { recursive: true, force: true });
      }
    },
  };
}

const MB = 1024 * 1024;

/** A file's size, 0 when it cannot be read (the import then rejects it with the reason). */
function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The job's own temporary file for file `index` (on the data home's volume, so the rename is atomic). */
function tmpFile(deps: ImportModelDeps, jobId: string, index: number): string {
  return path.join(deps.home.tmp, `${jobId}-model-${index}.part`);
}

/** The checkpointed state, or a fresh expansion saved before the first file is touched. */
function fileList(deps: ImportModelDeps, ctx: JobContext<Checkpoint>, p: ModelsImportParams): Checkpoint {
  const saved = Checkpoint.safeParse(ctx.checkpoint);
  if (saved.success) {
    // The file that was being copied when the last run stopped: its temporary file is garbage.
    rmSync(tmpFile(deps, ctx.jobId, saved.data.outcomes.length), { force: true });
    return saved.data;
  }
  const state: Checkpoint = { files: expandModelPaths(p.paths, p.cleanup), outcomes: [] };
  if (state.files.length === 0) throw new PinholeError('INVALID_PARAMS', 'There are no model files to import.');
  ctx.saveCheckpoint(state);
  return state;
}

/**
 * A shutdown aborts the signal with PinholeError('INTERRUPTED'): the job will run again, so its
 * upload must survive. A cancel, a failure or success are final: clean up.
 */
function isInterruption(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof PinholeError && signal.reason.code === 'INTERRUPTED';
}
