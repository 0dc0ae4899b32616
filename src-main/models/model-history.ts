/**
 * What a library model was used for, for "delete, saying what uses it": the gallery images generated with it
 * and the LoRA training runs that used it as their base. Unlike the active jobs (model-usage.ts), these do not
 * stop a removal — the images and LoRAs stay — but the user should know what they came from.
 *
 * Read from what is already stored, without a schema change:
 * - images: the A1111 infotext each generated image keeps in its metadata (`Model hash:` = the checkpoint's
 *   short hash, `VAE hash:` likewise, `TI hashes:` = an embedding's first 12 hex digits), and for LoRAs (whose
 *   `Lora hashes` are the tensor-data hash the library does not keep) the request the image records
 *   (`<lora:NAME>` in its prompt or its file among the request's LoRAs);
 * - training runs: a train job's request names the library file (or, for runs queued before training converted
 *   in the job, the converted folder, whose `pinhole-source.json` names the file and its SHA-256).
 */
import type { JobView } from '../../src-shared/api';
import type { ModelRecord } from './model-store';
import { requestUses } from './model-usage';

/** A generated image's stored metadata: `parameters` (the infotext) and the `request` it was made from. */
export type ImageMetadata = { parameters?: unknown; request?: unknown };

/**
 * How to find a model's images: `hint`, a text their metadata JSON must contain (a cheap filter, compared
 * case-insensitively), and `test`, the exact check on the parsed metadata.
 */
export type ImageMatch = { hint: string; test: (metadata: ImageMetadata) => boolean };

/** Counts the generated images whose metadata contains `hint` and passes `test` (the library's query). */
export type GeneratedImageCounter = (hint: string, test: (metadata: ImageMetadata) => boolean) => number;

/** The source a converted model folder records (`source` path and the file's SHA-256), if it is one. */
export type ConvertedSourceReader = (folder: string) => { source: string; sha256: string | undefined } | undefined;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** An infotext field `NAME: value` with the value exactly `hash` (A1111 separates fields with `, `). */
function infotextField(field: string, hash: string): ImageMatch {
  const re = new RegExp(`(^|, )${field}: ${escape(hash)}(,|$)`, 'm');
  return {
    hint: `${field}: ${hash}`,
    test: (m) => typeof m.parameters === 'string' && re.test(m.parameters),
  };
}

/** How the gallery's generated images name the model. */
export function imageMatch(record: ModelRecord, file: string): ImageMatch {
  switch (record.kind) {
    case 'checkpoint':
      return infotextField('Model hash', record.shortHash);
    case 'vae':
      return infotextField('VAE hash', record.shortHash);
    case 'embedding': {
      // A1111's `TI hashes: "name: <12 hex>, …"` (the file's SHA-256).
      const hash = record.sha256.slice(0, 12);
      const re = new RegExp(`TI hashes: "[^"]*: ${hash}(,|")`);
      return { hint: hash, test: (m) => typeof m.parameters === 'string' && re.test(m.parameters) };
    }
    case 'lora':
      return {
        hint: record.name,
        test: (m) => typeof m.request === 'object' && m.request !== null && requestUses(m.request, record, file),
      };
  }
}

/** Whether a training run (a train job, in any state) used the checkpoint as its base model. */
export function trainedOn(
  job: JobView,
  record: ModelRecord,
  file: string,
  convertedSource: ConvertedSourceReader,
): boolean {
  if (record.kind !== 'checkpoint') return false;
  const params = job.params as { request?: { model?: unknown } } | null;
  const model = params?.request?.model;
  if (typeof model !== 'string') return false;
  if (model === file || model.toLowerCase() === record.name.toLowerCase()) return true;
  const converted = convertedSource(model);
  return converted !== undefined && (converted.sha256 === record.sha256 || converted.source === file);
}

/** Descriptions of the model's history: "3 generated images in the gallery", "LoRA training run job_… (…): …". */
export function describeHistory(
  record: ModelRecord,
  file: string,
  sources: {
    countImages: GeneratedImageCounter | undefined;
    trainJobs: readonly JobView[];
    convertedSource: ConvertedSourceReader;
  },
): string[] {
  const out: string[] = [];
  if (sources.countImages) {
    const { hint, test } = imageMatch(record, file);
    const images = sources.countImages(hint, test);
    if (images > 0) out.push(`${images} generated image${images === 1 ? '' : 's'} in the gallery`);
  }
  for (const job of sources.trainJobs) {
    if (trainedOn(job, record, file, sources.convertedSource)) {
      out.push(`LoRA training run ${job.id} (${job.state}): ${job.title}`);
    }
  }
  return out;
}
