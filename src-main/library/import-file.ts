/**
 * One file of an import: read it, recognize it (by the original's hash) or normalize it,
 * store its files, read its sidecar caption, and record the outcome. Never throws for a
 * bad file: every problem with the file becomes a 'rejected' result with a reason.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { settingsFromInfotext, type ImportFileResult } from '../../src-shared/api';
import type { ImportEntry } from './expand-paths';
import { normalizeImage, readSourceFile, type IngestLimits } from './ingest-image';
import type { ImportOutcome } from './import-records';
import type { Library } from './library';

/** Captions longer than this are cut; it is the API's caption limit too. */
export const MAX_CAPTION_LENGTH = 2000;

export type ImportFileJob = {
  jobId: string;
  index: number;
  datasetId: string;
  entry: ImportEntry;
  limits: IngestLimits;
};

/** Imports one entry and records its result (idempotent per job and index). */
export async function importFile(library: Library, job: ImportFileJob): Promise<ImportFileResult> {
  const outcome = await examine(library, job.entry, job.limits);
  return library.recordImport({
    jobId: job.jobId,
    index: job.index,
    file: job.entry.file,
    datasetId: job.datasetId,
    outcome,
  });
}

async function examine(library: Library, entry: ImportEntry, limits: IngestLimits): Promise<ImportOutcome> {
  if (entry.reason) return { kind: 'rejected', reason: entry.reason };
  const source = await readSourceFile(entry.real ?? entry.path, limits);
  if (!source.ok) return { kind: 'rejected', reason: source.reason };
  const originalName = path.basename(entry.path);
  const caption = await readSidecar(entry.path);

  // Seen before: no decode, no re-encode.
  const known = library.findImageBySource(source.value.sourceSha256);
  if (known) return { kind: 'image', sha256: known, image: null, caption, originalName };

  const normalized = await normalizeImage(source.value.bytes, limits);
  if (!normalized.ok) return { kind: 'rejected', reason: normalized.reason };
  const image = normalized.value;
  await library.storeImageFiles(image);
  return {
    kind: 'image',
    sha256: image.sha256,
    image: {
      sha256: image.sha256,
      sourceSha256: source.value.sourceSha256,
      format: image.format,
      width: image.width,
      height: image.height,
      bytes: image.bytes.length,
      title: originalName,
      metadata: image.metadata,
      ...promptsOf(image.metadata.parameters),
    },
    caption,
    originalName,
  };
}

/** The prompts of an A1111 `parameters` text (the gallery shows and searches them); none when it is not one. */
function promptsOf(parameters: string | undefined): { prompt?: string; negativePrompt?: string } {
  const settings = parameters === undefined ? null : settingsFromInfotext(parameters);
  if (!settings) return {};
  return {
    ...(settings.prompt ? { prompt: settings.prompt } : {}),
    ...(settings.negativePrompt ? { negativePrompt: settings.negativePrompt } : {}),
  };
}

/** The trimmed text of `name.txt` next to `name.jpg`, or '' when there is none. */
export async function readSidecar(imagePath: string): Promise<string> {
  const base = imagePath.slice(0, imagePath.length - path.extname(imagePath).length);
  for (const extension of ['.txt', '.TXT']) {
    try {
      return (await readFile(base + extension, 'utf8')).trim().slice(0, MAX_CAPTION_LENGTH);
    } catch {
      // Missing or unreadable: try the next spelling, then go without a caption.
    }
  }
  return '';
}
