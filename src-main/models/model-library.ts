/**
 * The models library: the model files the studio keeps under the data home's models/<kind>/
 * folders, each a `models` row with its hashes and facts. Lists, renames (the file moves with
 * the row), removes (saying what used it), keeps one default per kind, and resolves what
 * `--model`, `<lora:NAME>` and embeddings name to a stored file.
 */
import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { JobView, ModelEntry, ModelKind, PredictionType } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { Database } from '../storage/database';
import type { DataHome } from '../platform/data-home';
import { Emitter } from '../platform/emitter';
import { storedPathFor, type ImportModelDeps } from './import-model-file';
import type { ModelInspector } from './model-file-info';
import { ModelStore, type ModelRecord } from './model-store';
import { describeHistory, type ConvertedSourceReader, type GeneratedImageCounter } from './model-history';
import { describeUsers } from './model-usage';
import { saveTrainedLora, type TrainedLoraInput } from './trained-lora';

export type ModelLibraryOptions = {
  db: Database;
  home: DataHome;
  /** The engine's inspection of a model file (see ModelInspector). */
  inspect: ModelInspector;
  /** Jobs that have not ended (queued, running, paused, interrupted): what may still read a model. */
  activeJobs: () => readonly JobView[];
  /** Train jobs that have ended: a removal names the runs that used a checkpoint as their base. */
  finishedTrainJobs?: () => readonly JobView[];
  /** Counts the gallery's generated images by their metadata: a removal says how many a model made. */
  countGeneratedImages?: GeneratedImageCounter;
  /** A converted folder's source record (older train jobs name the folder they trained on). */
  convertedSource?: ConvertedSourceReader;
  now?: () => number;
};

/** A library model resolved to its stored file. */
export type ResolvedModel = { record: ModelRecord; file: string };

export class ModelLibrary {
  private readonly store: ModelStore;
  private readonly now: () => number;
  /** Fires after the library changed (import, rename, removal, new default). */
  readonly onDidChange = new Emitter<void>();

  constructor(private readonly options: ModelLibraryOptions) {
    this.store = new ModelStore(options.db);
    this.now = options.now ?? Date.now;
  }

  /** What an import job needs. */
  get importDeps(): ImportModelDeps {
    return { store: this.store, home: this.options.home, inspect: this.options.inspect, now: this.now };
  }

  /** The absolute path of a row's stored file. */
  fileOf(record: ModelRecord): string {
    return path.join(this.options.home.root, ...record.storedPath.split('/'));
  }

  /** Library rows as API entries, checkpoints first. */
  list(kind?: ModelKind): ModelEntry[] {
    return this.store.list(kind).map((r) => this.toEntry(r));
  }

  get(id: string): ModelRecord {
    const record = this.store.get(id);
    if (!record) throw new PinholeError('NOT_FOUND', `No model with id ${id} in the library.`);
    return record;
  }

  toEntry(r: ModelRecord): ModelEntry {
    return {
      id: r.id,
      name: r.name,
      path: this.fileOf(r),
      kind: r.kind,
      family: r.family,
      variant: r.variant,
      nativeResolution: r.nativeResolution,
      sizeBytes: r.bytes,
      sha256: r.sha256,
      shortHash: r.shortHash,
      source: r.source,
      origin: r.origin,
      addedAt: r.addedAt,
      lastUsedAt: r.lastUsedAt,
      isDefault: r.isDefault,
      prediction: r.prediction,
      error: null,
    };
  }

  /**
   * A model by library name (case-insensitive) or by its stored file's path; null when neither.
   * A name shared by several kinds resolves to `kind` when given, else to the checkpoint.
   */
  resolve(ref: string, kind?: ModelKind): ResolvedModel | null {
    const relative = path.relative(this.options.home.root, path.resolve(ref)).split(path.sep).join('/');
    const byPath = path.isAbsolute(ref) && !relative.startsWith('..') ? this.store.byStoredPath(relative) : null;
    const record =
      byPath && (kind === undefined || byPath.kind === kind)
        ? byPath
        : kind
          ? this.store.byName(kind, ref)
          : (this.store.allByName(ref)[0] ?? null);
    return record ? { record, file: this.fileOf(record) } : null;
  }

  /** The stored file of a LoRA or embedding by name (what `<lora:NAME>` and embedding words resolve through). */
  lookup(kind: ModelKind, name: string): string | null {
    const record = this.store.byName(kind, name);
    return record ? this.fileOf(record) : null;
  }

  /** The default model of a kind, or null. */
  defaultOf(kind: ModelKind): ResolvedModel | null {
    const record = this.store.list(kind).find((r) => r.isDefault);
    return record ? { record, file: this.fileOf(record) } : null;
  }

  /**
   * Keeps a LoRA the studio trained (a run's result, or its checkpoint chosen with "use this one"):
   * one library model per run output, its file replaced on a later save (see trained-lora.ts).
   */
  async saveTrained(input: TrainedLoraInput): Promise<ModelEntry> {
    const record = await saveTrainedLora(this.importDeps, input);
    this.onDidChange.fire();
    return this.toEntry(record);
  }

  /** Records that a job used the model now. */
  markUsed(id: string): void {
    this.store.markUsed(id, this.now());
    this.onDidChange.fire();
  }

  /** Renames a model and its stored file; CONFLICT when the name is taken in its kind. */
  rename(id: string, name: string): ModelEntry {
    const record = this.get(id);
    const clash = this.store.byName(record.kind, name);
    if (clash && clash.id !== id) {
      throw new PinholeError('CONFLICT', `The name "${name}" is already used by another ${record.kind}.`);
    }
    const ext = path.extname(record.storedPath);
    const storedPath = storedPathFor(record.kind, name, ext);
    this.store.transaction(() => {
      this.store.rename(id, name, storedPath);
      // The file moves inside the transaction: if the rename fails, the row keeps its old name.
      if (storedPath !== record.storedPath) renameSync(this.fileOf(record), this.fileOf({ ...record, storedPath }));
    });
    this.onDidChange.fire();
    return this.toEntry(this.get(id));
  }

  /**
   * Removes a model and its file. Jobs that will still read it make this a CONFLICT naming them,
   * unless `force`; being the default is reported, not refused.
   */
  remove(id: string, force: boolean): { removed: boolean; usedBy: string[] } {
    const record = this.get(id);
    const file = this.fileOf(record);
    const active = describeUsers(record, file, this.options.activeJobs());
    const jobs = active.filter((u) => u.startsWith('job '));
    if (jobs.length > 0 && !force) {
      throw new PinholeError(
        'CONFLICT',
        `"${record.name}" is used by ${jobs.join('; ')}. Cancel those jobs first, or remove it anyway (force).`,
      );
    }
    // Images and LoRAs made with it stay, so they are said, not a reason to refuse.
    const usedBy = [
      ...active,
      ...describeHistory(record, file, {
        countImages: this.options.countGeneratedImages,
        trainJobs: this.options.finishedTrainJobs?.() ?? [],
        convertedSource: this.options.convertedSource ?? (() => undefined),
      }),
    ];
    this.store.transaction(() => this.store.delete(id));
    // After the commit: a file without a row is only disk space, a row without its file is a broken model.
    rmSync(file, { force: true });
    this.onDidChange.fire();
    return { removed: true, usedBy };
  }

  /**
   * Sets what a checkpoint predicts (null: what its weights say). Its conversions are cached per setting, so the
   * next generation converts it again (once) with the new one.
   * @throws PinholeError `INVALID_PARAMS` for a model that is not a checkpoint.
   */
  setPrediction(id: string, prediction: PredictionType | null): ModelEntry {
    const record = this.get(id);
    if (record.kind !== 'checkpoint') {
      throw new PinholeError('INVALID_PARAMS', `"${record.name}" is a ${record.kind}: only checkpoints predict.`);
    }
    this.store.setPrediction(id, prediction);
    this.onDidChange.fire();
    return this.toEntry(this.get(id));
  }

  /** Makes a model the one default of its kind. */
  setDefault(id: string): ModelEntry {
    const record = this.get(id);
    this.store.transaction(() => this.store.setDefault(id, record.kind));
    this.onDidChange.fire();
    return this.toEntry(this.get(id));
  }
}
