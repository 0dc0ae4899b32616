/**
 * Shared fixtures of the library tests: a library on a temp data home, a fake JobContext
 * (to run the import handler without the queue) and test images made with sharp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CanceledError } from '../../src-shared/errors';
import { Library } from '../../src-main/library';
import { openDataHome, type DataHome } from '../../src-main/platform/data-home';
import type { JobContext } from '../../src-main/queue/job-handler';
import { openDatabase, type Database } from '../../src-main/storage/database';

export type TestLibrary = { dir: string; home: DataHome; db: Database; library: Library; cleanup: () => void };

/** A library on a fresh data home in a temp folder; `dir` also holds test inputs (under `dir/in`). */
export function makeLibrary(): TestLibrary {
  const dir = mkdtempSync(path.join(tmpdir(), 'pinhole-library-'));
  const home = openDataHome(path.join(dir, 'home'));
  const db = openDatabase(home.database);
  const library = new Library({ db, home });
  return {
    dir,
    home,
    db,
    library,
    cleanup: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Inserts a jobs row (import_results references it) and returns its id. */
export function insertJob(db: Database, id = `job_${Math.random().toString(16).slice(2)}`): string {
  db.prepare(
    `INSERT INTO jobs (id, seq, kind, lane, state, title, params, created_at)
     VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), 'import', 'cpu', 'running', 'test', '{}', ?)`,
  ).run(id, Date.now());
  return id;
}

export type FakeContext<C> = JobContext<C> & {
  progressCalls: { step: number; total: number; message?: string }[];
  saved: C | null;
  controller: AbortController;
  canceledChecks: number;
};

/** A JobContext like the queue's: `cancelAfterChecks` cancels at that throwIfCanceled call. */
export function fakeContext<C>(
  jobId: string,
  options: { checkpoint?: C | null; attempt?: number; cancelAfterChecks?: number } = {},
): FakeContext<C> {
  const controller = new AbortController();
  const ctx: FakeContext<C> = {
    jobId,
    attempt: options.attempt ?? 1,
    signal: controller.signal,
    controller,
    checkpoint: options.checkpoint ?? null,
    saved: null,
    progressCalls: [],
    canceledChecks: 0,
    throwIfCanceled() {
      ctx.canceledChecks++;
      if (options.cancelAfterChecks !== undefined && ctx.canceledChecks > options.cancelAfterChecks) {
        controller.abort(new CanceledError());
      }
      if (controller.signal.aborted) {
        const reason: unknown = controller.signal.reason;
        throw reason instanceof Error ? reason : new CanceledError();
      }
    },
    progress(update) {
      ctx.progressCalls.push(update);
    },
    saveCheckpoint(checkpoint) {
      ctx.saved = checkpoint;
    },
  };
  return ctx;
}

export type ImageSpec = {
  width?: number;
  height?: number;
  format?: 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';
  /** Seeds the picture so two specs with different seeds never produce equal images. */
  seed?: number;
};

/** Encodes a small distinct picture (a coloured block on a seeded background). */
export async function makeImage(spec: ImageSpec = {}): Promise<Buffer> {
  const { width = 64, height = 48, format = 'jpeg', seed = 1 } = spec;
  const background = { r: (seed * 67) % 256, g: (seed * 131) % 256, b: (seed * 29) % 256 };
  const block = await sharp({
    create: { width: Math.max(1, width >> 2), height: Math.max(1, height >> 2), channels: 3, background: '#ffffff' },
  })
    .png()
    .toBuffer();
  const base = sharp({ create: { width, height, channels: 3, background } }).composite([
    { input: block, left: seed % Math.max(1, width - (width >> 2)), top: 0 },
  ]);
  switch (format) {
    case 'jpeg':
      return base.jpeg({ quality: 90 }).toBuffer();
    case 'png':
      return base.png().toBuffer();
    case 'webp':
      return base.webp({ quality: 80 }).toBuffer();
    case 'gif':
      return base.gif().toBuffer();
    case 'tiff':
      return base.tiff().toBuffer();
    case 'avif':
      return base.avif().toBuffer();
  }
}

/** Writes `makeImage(spec)` to dir/name and returns the path. */
export async function writeImage(dir: string, name: string, spec: ImageSpec = {}): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, await makeImage(spec));
  return file;
}
