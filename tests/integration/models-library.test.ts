/**
 * The models library over a real SQLite database and the engine's real inspection: the
 * migration's constraints, imports (byte-identical copies named by an independent SHA-256),
 * duplicates, rejections that leave nothing behind (hostile pickles run nothing), renames that
 * move the file, one default per kind, removal that says what used it, and name resolution.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobView } from '../../src-shared/api';
import { createDownloadSink, createModelsImportJobHandler, ModelLibrary } from '../../src-main/models';
import { importModelFile } from '../../src-main/models/import-model-file';
import { openDataHome, type DataHome } from '../../src-main/platform/data-home';
import { latestSchemaVersion, openDatabase, schemaVersion, type Database } from '../../src-main/storage/database';
import { migration0001 } from '../../src-main/storage/migrations/0001-initial';
import { inspectModelFile } from '../../src-main/studio/model-engine';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const CHECKPOINT = fixture('sd15-single', 'tiny-sd15-public.safetensors');
const HOSTILE = fixture('sd15-single', 'hostile-public.ckpt');
const HOSTILE_MARKER = (
  JSON.parse(readFileSync(fixture('sd15-single', 'cases.json'), 'utf8')) as { hostile_marker: string }
).hostile_marker;

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Every file under a folder, relative (what an import may leave behind). */
const filesUnder = (dir: string) =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort() : [];

/** A minimal safetensors file holding the given F32 tensors (a LoRA by its key names, here). */
function writeSafetensors(file: string, tensors: Record<string, number[]>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, values] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: [values.length], data_offsets: [offset, offset + values.length * 4] };
    offset += values.length * 4;
  }
  const json = Buffer.from(JSON.stringify(header));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.concat(Object.values(tensors).map((v) => Buffer.from(new Float32Array(v).buffer)));
  writeFileSync(file, Buffer.concat([size, json, data]));
}

/** A safetensors file's bytes with `__metadata__` added to its header (tensor data unchanged). */
function withMetadata(bytes: Buffer, metadata: Record<string, string>): Buffer {
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>;
  const json = Buffer.from(JSON.stringify({ ...header, __metadata__: metadata }));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([size, json, bytes.subarray(8 + length)]);
}

describe('models library', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let home: DataHome;
  let db: Database;
  let jobs: JobView[];
  let library: ModelLibrary;

  const importOne = (file: string, options: { name?: string; index?: number } = {}) =>
    importModelFile(library.importDeps, {
      path: file,
      file: path.basename(file),
      source: 'file',
      origin: file,
      name: options.name,
      tmp: path.join(home.tmp, `test-${options.index ?? 0}.part`),
    });

  beforeEach(() => {
    tmp = makeTempDir('pinhole-models-');
    home = openDataHome(path.join(tmp.dir, 'home'));
    db = openDatabase(home.database);
    jobs = [];
    library = new ModelLibrary({ db, home, inspect: inspectModelFile, activeJobs: () => jobs });
    // The shared fixtures are read-only: tests work on copies.
    copyFileSync(CHECKPOINT, path.join(tmp.dir, 'tiny.safetensors'));
  });

  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  it('migrates to schema 2 with unique names per kind (case-insensitively) and one default per kind', () => {
    expect(schemaVersion(db)).toBe(latestSchemaVersion());
    expect(schemaVersion(db)).toBeGreaterThanOrEqual(2);
    const row = (id: string, name: string, kind: string, sha: string, isDefault = 0) =>
      db
        .prepare(
          `INSERT INTO models (id, name, kind, bytes, sha256, short_hash, source, origin, stored_path, added_at, is_default)
           VALUES (?, ?, ?, 1, ?, substr(?, 1, 10), 'file', 'x', ?, 0, ?)`,
        )
        .run(id, name, kind, sha, sha, `models/${id}`, isDefault);
    row('a', 'Name', 'checkpoint', 'a'.repeat(64), 1);
    row('b', 'name', 'lora', 'b'.repeat(64), 1);
    expect(() => row('c', 'NAME', 'checkpoint', 'c'.repeat(64))).toThrow(/UNIQUE/);
    expect(() => row('d', 'other', 'checkpoint', 'd'.repeat(64), 1)).toThrow(/UNIQUE/);
    expect(() => row('e', 'other', 'checkpoint', 'a'.repeat(64))).toThrow(/UNIQUE/);
    expect(() => row('f', 'x', 'controlnet', 'f'.repeat(64))).toThrow(/CHECK/);
  });

  it('upgrades a schema-1 data home in place, keeping what it held', () => {
    const file = path.join(tmp.dir, 'old.db');
    const old = openDatabase(file, { migrations: [migration0001] });
    old.prepare(`INSERT INTO datasets (id, name, created_at) VALUES ('d1', 'Rex', 1)`).run();
    old.close();
    const upgraded = openDatabase(file);
    try {
      expect(schemaVersion(upgraded)).toBe(latestSchemaVersion());
      expect(upgraded.prepare('SELECT name FROM datasets').all()).toEqual([{ name: 'Rex' }]);
      expect(upgraded.prepare('SELECT COUNT(*) AS n FROM models').get()).toEqual({ n: 0 });
    } finally {
      upgraded.close();
    }
  });

  it('imports a checkpoint byte-identical under models/checkpoints with its hashes and facts', async () => {
    const original = path.join(tmp.dir, 'tiny.safetensors');
    const outcome = await importOne(original);
    expect(outcome).toEqual({ file: 'tiny.safetensors', status: 'imported', name: 'tiny', kind: 'checkpoint' });
    const [entry] = library.list();
    const sha = sha256Of(CHECKPOINT);
    expect(entry).toMatchObject({
      name: 'tiny',
      kind: 'checkpoint',
      family: 'sd1',
      nativeResolution: 512,
      sizeBytes: readFileSync(CHECKPOINT).length,
      sha256: sha,
      shortHash: sha.slice(0, 10),
      source: 'file',
      origin: original,
      isDefault: false,
      lastUsedAt: null,
      path: path.join(home.models, 'checkpoints', 'tiny.safetensors'),
    });
    expect(sha256Of(entry!.path)).toBe(sha);
    // The original stays where it was; nothing is left in tmp.
    expect(existsSync(original)).toBe(true);
    expect(filesUnder(home.tmp)).toEqual([]);
  });

  it('recognises a duplicate by content, whatever its name, and keeps one file', async () => {
    await importOne(path.join(tmp.dir, 'tiny.safetensors'));
    const renamed = path.join(tmp.dir, 'other name.safetensors');
    copyFileSync(CHECKPOINT, renamed);
    const outcome = await importOne(renamed);
    expect(outcome).toMatchObject({ status: 'duplicate', name: 'tiny', kind: 'checkpoint' });
    expect(outcome.reason).toMatch(/same file as the checkpoint "tiny"/);
    expect(filesUnder(path.join(home.models, 'checkpoints'))).toEqual(['tiny.safetensors']);
    expect(filesUnder(home.tmp)).toEqual([]);
  });

  it('rejects files that are not models with the reason, leaving nothing behind and running nothing', async () => {
    const hostile = path.join(tmp.dir, 'hostile.ckpt');
    copyFileSync(HOSTILE, hostile);
    const corrupt = path.join(tmp.dir, 'corrupt.safetensors');
    writeFileSync(corrupt, Buffer.from('this is not a model, just text that is long enough'));
    const truncated = path.join(tmp.dir, 'truncated.safetensors');
    writeFileSync(truncated, readFileSync(CHECKPOINT).subarray(0, 100_000));
    const text = path.join(tmp.dir, 'notes.txt');
    writeFileSync(text, 'hello');
    const empty = path.join(tmp.dir, 'empty.safetensors');
    writeFileSync(empty, '');

    const outcomes = await Promise.all(
      [hostile, corrupt, truncated, text, empty, path.join(tmp.dir, 'missing.ckpt'), tmp.dir].map((f, i) =>
        importOne(f, { index: i }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(Array(7).fill('rejected'));
    expect(outcomes[0]!.reason).toMatch(/system/);
    expect(outcomes[3]!.reason).toMatch(/not a model file/);
    expect(outcomes[4]!.reason).toMatch(/empty/);
    expect(outcomes[5]!.reason).toMatch(/cannot be read/);
    expect(outcomes[6]!.reason).toMatch(/folder/);
    for (const o of outcomes) expect(o.reason!.length).toBeGreaterThan(5);
    expect(existsSync(HOSTILE_MARKER)).toBe(false);
    expect(library.list()).toEqual([]);
    expect(filesUnder(home.models)).toEqual([]);
    expect(filesUnder(home.tmp)).toEqual([]);
  });

  it('files a LoRA under loras/ and resolves names for prompts; a name is unique per kind only', async () => {
    const loraFile = path.join(tmp.dir, 'style.safetensors');
    writeSafetensors(loraFile, {
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': [0.1, 0.2],
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': [0.3, 0.4],
      'lora_unet_down_blocks_0_attentions_0_proj_in.alpha': [1],
    });
    expect(await importOne(loraFile)).toMatchObject({ status: 'imported', name: 'style', kind: 'lora' });
    expect(await importOne(path.join(tmp.dir, 'tiny.safetensors'), { name: 'style', index: 1 })).toMatchObject({
      status: 'imported',
      name: 'style',
      kind: 'checkpoint',
    });
    expect(library.lookup('lora', 'STYLE')).toBe(path.join(home.models, 'loras', 'style.safetensors'));
    expect(library.lookup('embedding', 'style')).toBeNull();
    // Without a kind a shared name means the checkpoint (what --model wants).
    expect(library.resolve('style')?.record.kind).toBe('checkpoint');
    expect(library.resolve('style', 'lora')?.record.kind).toBe('lora');
    const stored = library.resolve('style', 'checkpoint')!.file;
    expect(library.resolve(stored)?.record.name).toBe('style');
    expect(library.resolve(path.join(tmp.dir, 'tiny.safetensors'))).toBeNull();
  });

  it('stores a checkpoint’s prediction override, editable; other kinds have none', async () => {
    const loraFile = path.join(tmp.dir, 'style.safetensors');
    writeSafetensors(loraFile, { 'lora_unet_x.lora_down.weight': [0.1], 'lora_unet_x.lora_up.weight': [0.2] });
    const lora = await importModelFile(library.importDeps, {
      path: loraFile,
      file: 'style.safetensors',
      source: 'file',
      origin: loraFile,
      prediction: 'v_prediction',
      tmp: path.join(home.tmp, 'test-lora.part'),
    });
    expect(lora).toMatchObject({ status: 'imported', kind: 'lora' });
    const checkpoint = await importModelFile(library.importDeps, {
      path: path.join(tmp.dir, 'tiny.safetensors'),
      file: 'tiny.safetensors',
      source: 'file',
      origin: 'tiny.safetensors',
      prediction: 'v_prediction',
      tmp: path.join(home.tmp, 'test-checkpoint.part'),
    });
    expect(checkpoint).toMatchObject({ status: 'imported', kind: 'checkpoint' });
    expect(library.list().map((m) => [m.kind, m.prediction])).toEqual([
      ['checkpoint', 'v_prediction'],
      ['lora', null],
    ]);
    const id = library.resolve('tiny', 'checkpoint')!.record.id;
    expect(library.setPrediction(id, 'epsilon').prediction).toBe('epsilon');
    expect(library.setPrediction(id, null).prediction).toBeNull();
    expect(() => library.setPrediction(library.resolve('style', 'lora')!.record.id, 'epsilon')).toThrow(
      expect.objectContaining({ code: 'INVALID_PARAMS' }),
    );
  });

  it('renames a model and its file; a name taken in its kind is a conflict and changes nothing', async () => {
    await importOne(path.join(tmp.dir, 'tiny.safetensors'));
    // The same weights with other metadata: another file (another hash) of the same kind.
    const second = path.join(tmp.dir, 'second.safetensors');
    writeFileSync(second, withMetadata(readFileSync(CHECKPOINT), { note: 'a different file' }));
    expect(await importOne(second, { index: 1 })).toMatchObject({ status: 'imported', name: 'second' });

    const tiny = library.resolve('tiny')!;
    const renamed = library.rename(tiny.record.id, 'My Model');
    expect(renamed.path).toBe(path.join(home.models, 'checkpoints', 'My Model.safetensors'));
    expect(sha256Of(renamed.path)).toBe(tiny.record.sha256);
    expect(existsSync(tiny.file)).toBe(false);
    expect(library.resolve('my model')?.record.id).toBe(tiny.record.id);

    const other = library.resolve('second')!;
    expect(() => library.rename(other.record.id, 'MY MODEL')).toThrow(/already used by another checkpoint/);
    expect(library.resolve('second')?.file).toBe(other.file);
    expect(existsSync(other.file)).toBe(true);
    expect(() => library.rename('model_missing', 'x')).toThrow(/No model/);
  });

  it('keeps one default per kind, and removal says what used the model', async () => {
    await importOne(path.join(tmp.dir, 'tiny.safetensors'));
    const model = library.list()[0]!;
    expect(library.setDefault(model.id!).isDefault).toBe(true);
    expect(library.defaultOf('checkpoint')?.record.id).toBe(model.id);

    jobs = [
      {
        id: 'job_1',
        kind: 'generate',
        state: 'queued',
        title: 'Generate "a cat"',
        params: { request: { model: 'TINY', prompt: 'a cat' } },
      } as unknown as JobView,
    ];
    expect(() => library.remove(model.id!, false)).toThrow(/job job_1 \(queued\)/);
    expect(existsSync(model.path)).toBe(true);

    const removed = library.remove(model.id!, true);
    expect(removed.removed).toBe(true);
    expect(removed.usedBy).toEqual(['the default checkpoint', 'job job_1 (queued): Generate "a cat"']);
    expect(existsSync(model.path)).toBe(false);
    expect(library.list()).toEqual([]);
  });

  it('an import job lists every file with its outcome and imports a folder’s model files', async () => {
    const folder = path.join(tmp.dir, 'dropped');
    mkdirSync(folder);
    copyFileSync(CHECKPOINT, path.join(folder, 'a.safetensors'));
    writeFileSync(path.join(folder, 'readme.md'), 'not a model, and not offered from a folder');
    writeFileSync(path.join(folder, 'bad.ckpt'), 'garbage');
    const handler = createModelsImportJobHandler(library.importDeps, () => undefined);
    let saved: unknown = null;
    const progress: number[] = [];
    const result = await handler.run(
      {
        jobId: 'job_test',
        attempt: 1,
        signal: new AbortController().signal,
        throwIfCanceled: () => undefined,
        progress: (p) => progress.push(p.step / p.total),
        checkpoint: null,
        saveCheckpoint: (c) => (saved = c),
      },
      { paths: [folder, path.join(tmp.dir, 'tiny.safetensors')] },
    );
    expect(result.files.map((f) => [path.basename(f.file), f.status])).toEqual([
      ['a.safetensors', 'imported'],
      ['bad.ckpt', 'rejected'],
      ['tiny.safetensors', 'duplicate'],
    ]);
    expect(progress.at(-1)).toBe(1);
    expect((saved as { outcomes: unknown[] }).outcomes).toHaveLength(3);
  });

  it('an interrupted import job continues where it stopped: done files are not redone, the half-copied temp is removed', async () => {
    const a = path.join(tmp.dir, 'tiny.safetensors');
    const b = path.join(tmp.dir, 'b.safetensors');
    writeFileSync(b, withMetadata(readFileSync(CHECKPOINT), { note: 'b' }));
    // The state a crash in the middle of the second file leaves: its outcome missing, its temporary copy half-written.
    const stale = path.join(home.tmp, 'job_resume-model-1.part');
    writeFileSync(stale, 'half a copy');
    const checkpoint = {
      files: [
        { file: a, path: a },
        { file: b, path: b },
      ],
      outcomes: [
        { file: a, status: 'imported' as const, name: 'recorded before the crash', kind: 'checkpoint' as const },
      ],
    };
    const handler = createModelsImportJobHandler(library.importDeps, () => undefined);
    const result = await handler.run(
      {
        jobId: 'job_resume',
        attempt: 2,
        signal: new AbortController().signal,
        throwIfCanceled: () => undefined,
        progress: () => undefined,
        checkpoint,
        saveCheckpoint: () => undefined,
      },
      { paths: [a, b] },
    );
    expect(result.files.map((f) => [f.name, f.status])).toEqual([
      ['recorded before the crash', 'imported'],
      ['b', 'imported'],
    ]);
    // Only b was imported by this run; a was not touched again.
    expect(library.list().map((m) => m.name)).toEqual(['b']);
    expect(existsSync(stale)).toBe(false);
  });

  it('takes a verified download by moving it into place; a duplicate or a non-model is removed', async () => {
    const sink = createDownloadSink(library);
    const info = (fileName: string, bytes: Buffer) => ({
      sha256: createHash('sha256').update(bytes).digest('hex'),
      verified: true,
      name: null,
      fileName,
      sourceUrl: `https://example.org/${fileName}`,
      bytes: bytes.length,
    });
    const bytes = readFileSync(CHECKPOINT);
    const part = path.join(home.root, 'downloads', 'job_d.part');
    mkdirSync(path.dirname(part), { recursive: true });
    writeFileSync(part, bytes);
    const stored = await sink.onVerified(part, info('sd15.safetensors', bytes));
    expect(stored).toEqual({ file: path.join(home.models, 'checkpoints', 'sd15.safetensors'), name: 'sd15' });
    expect(existsSync(part)).toBe(false);
    expect(library.resolve('sd15')?.record).toMatchObject({
      source: 'url',
      origin: 'https://example.org/sd15.safetensors',
    });

    writeFileSync(part, bytes);
    expect(await sink.onVerified(part, info('again.safetensors', bytes))).toEqual(stored);
    expect(existsSync(part)).toBe(false);

    writeFileSync(part, 'not a model');
    await expect(sink.onVerified(part, info('junk.safetensors', Buffer.from('not a model')))).rejects.toThrow(
      /junk\.safetensors/,
    );
    expect(existsSync(part)).toBe(false);
    expect(library.list().map((m) => m.name)).toEqual(['sd15']);
  });
});
