/**
 * The import_results bookkeeping: one row per (job, file index), written in the same
 * transaction as the image row and the dataset membership it stands for, so a file is
 * either fully recorded or not at all, and a re-run can trust what it finds.
 */
import type { ImportFileResult } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { Database } from '../storage/database';
import { syncImageText } from './fts';
import { nextCreatedAt } from './rows';

/** An imported image that is not in the library yet (its files already stored). */
export type NewImportedImage = {
  sha256: string;
  sourceSha256: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  title: string;
  metadata: Record<string, unknown>;
  /** From a PNG's A1111 `parameters`: shown in the gallery and searchable. */
  prompt?: string;
  negativePrompt?: string;
};

/** What an import job learned about one file, for `recordImport`. */
export type ImportOutcome =
  | { kind: 'rejected'; reason: string }
  | {
      kind: 'image';
      sha256: string;
      /** Set when the image is new to the library; null when it was found there. */
      image: NewImportedImage | null;
      /** Initial caption (from a sidecar .txt), used only when the image is new to the dataset. */
      caption: string;
      originalName: string;
    };

/** One file's record for `recordImport`. */
export type ImportRecord = { jobId: string; index: number; file: string; datasetId: string; outcome: ImportOutcome };

/** An import job's tally, as its result reports it. */
export type ImportCounts = { accepted: number; duplicates: number; rejected: number };

type ImportResultRow = {
  job_id: string;
  idx: number;
  file: string;
  status: ImportFileResult['status'];
  reason: string | null;
  sha256: string | null;
};

/** A job's results in file order. */
export function listImportResults(db: Database, jobId: string): ImportFileResult[] {
  return (db.prepare('SELECT * FROM import_results WHERE job_id = ? ORDER BY idx').all(jobId) as ImportResultRow[]).map(
    toImportResult,
  );
}

/** A job's tally so far. */
export function countImportResults(db: Database, jobId: string): ImportCounts {
  const rows = db
    .prepare('SELECT status, COUNT(*) AS n FROM import_results WHERE job_id = ? GROUP BY status')
    .all(jobId) as { status: ImportFileResult['status']; n: number }[];
  const count = (status: string) => rows.find((r) => r.status === status)?.n ?? 0;
  return { accepted: count('accepted'), duplicates: count('duplicate'), rejected: count('rejected') };
}

/**
 * Records one file in one immediate transaction: the image row when new, the dataset
 * membership (accepted) unless already there (duplicate), and the import_results row.
 * `fresh` is false when the (job, index) was already recorded; its first result is returned.
 */
export function writeImportRecord(db: Database, record: ImportRecord): { result: ImportFileResult; fresh: boolean } {
  return db
    .transaction(() => {
      const done = db
        .prepare('SELECT * FROM import_results WHERE job_id = ? AND idx = ?')
        .get(record.jobId, record.index) as ImportResultRow | undefined;
      if (done) return { result: toImportResult(done), fresh: false };
      const { status, reason, sha256 } = applyOutcome(db, record.datasetId, record.outcome);
      db.prepare(
        'INSERT INTO import_results (job_id, idx, file, status, reason, sha256) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(record.jobId, record.index, record.file, status, reason, sha256);
      const row: ImportResultRow = {
        job_id: record.jobId,
        idx: record.index,
        file: record.file,
        status,
        reason,
        sha256,
      };
      return { result: toImportResult(row), fresh: true };
    })
    .immediate();
}

function applyOutcome(
  db: Database,
  datasetId: string,
  outcome: ImportOutcome,
): { status: ImportFileResult['status']; reason: string | null; sha256: string | null } {
  if (outcome.kind === 'rejected') return { status: 'rejected', reason: outcome.reason, sha256: null };
  const { sha256, image } = outcome;
  if (image) {
    db.prepare(
      `INSERT INTO images (sha256, source_sha256, format, width, height, bytes, source, title, prompt,
                           negative_prompt, metadata, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'import', ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
    ).run(
      sha256,
      image.sourceSha256,
      image.format,
      image.width,
      image.height,
      image.bytes,
      image.title,
      image.prompt ?? null,
      image.negativePrompt ?? null,
      JSON.stringify(image.metadata),
      nextCreatedAt(db),
    );
    if (image.prompt) syncImageText(db, sha256);
  } else if (!db.prepare('SELECT 1 FROM images WHERE sha256 = ?').get(sha256)) {
    throw new PinholeError('INTERNAL', `Image ${sha256} vanished from the library during its import`);
  }
  if (db.prepare('SELECT 1 FROM dataset_images WHERE dataset_id = ? AND sha256 = ?').get(datasetId, sha256)) {
    return { status: 'duplicate', reason: null, sha256 };
  }
  const last = db.prepare('SELECT MAX(added_at) AS t FROM dataset_images WHERE dataset_id = ?').get(datasetId) as {
    t: number | null;
  };
  // Strictly increasing, so "added order" is the file order even within one millisecond.
  const addedAt = Math.max(Date.now(), (last.t ?? 0) + 1);
  db.prepare(
    'INSERT INTO dataset_images (dataset_id, sha256, caption, original_name, added_at) VALUES (?, ?, ?, ?, ?)',
  ).run(datasetId, sha256, outcome.caption, outcome.originalName, addedAt);
  if (outcome.caption !== '') syncImageText(db, sha256);
  return { status: 'accepted', reason: null, sha256 };
}

function toImportResult(row: ImportResultRow): ImportFileResult {
  const result: ImportFileResult = { jobId: row.job_id, index: row.idx, file: row.file, status: row.status };
  if (row.reason !== null) result.reason = row.reason;
  if (row.sha256 !== null) result.sha256 = row.sha256;
  return result;
}
