/**
 * The models library's shapes: what kinds of model file it keeps, where each came from, and the
 * outcome of importing one. `ModelEntry` (in schemas.ts) is one listed model.
 */
import { z } from 'zod';

/** What a model file is. Diffusers and ONNX folders are checkpoints too (listed from the models folders). */
export const ModelKind = z.enum(['checkpoint', 'lora', 'vae', 'embedding']);
export type ModelKind = z.infer<typeof ModelKind>;

/**
 * What a checkpoint's UNet predicts: the noise (`epsilon`, SD 1.x and most models) or the velocity
 * (`v_prediction`, SD 2.x's 768-px models). Read from the weights; a user may override it.
 */
export const PredictionType = z.enum(['epsilon', 'v_prediction']);
export type PredictionType = z.infer<typeof PredictionType>;

/**
 * Where a listed model comes from: `folder` = a model folder found in the models folders (not a
 * library row: it cannot be renamed or removed from here); `file` = imported from a path on the
 * machine running the core; `upload` = uploaded from a browser; `url` = downloaded; `trained` = a LoRA the
 * studio trained (its `origin` is the run's output file).
 */
export const ModelSource = z.enum(['folder', 'file', 'upload', 'url', 'trained']);
export type ModelSource = z.infer<typeof ModelSource>;

/**
 * A library name: what `--model`, `<lora:NAME>` and the UI call a model, and the stored file's
 * base name, so it must be a safe file name on every OS.
 */
export const ModelName = z
  .string()
  .trim()
  .min(1, 'a model name cannot be empty')
  .max(120, 'a model name has at most 120 characters')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f<>:"/\\|?*]+$/, 'a model name cannot contain / \\ : * ? " < > | or control characters')
  .refine((n) => !n.startsWith('.') && !n.endsWith('.'), 'a model name cannot start or end with a dot');

/** One file's outcome in a model import (CONTRACTS: imported | duplicate | rejected, with the reason). */
export const ModelImportOutcome = z.object({
  /** The file as given (a path, or the uploaded file's name). */
  file: z.string(),
  status: z.enum(['imported', 'duplicate', 'rejected']),
  /** Why it was rejected, or which library model it duplicates. */
  reason: z.string().optional(),
  /** The library name it has (imported) or already had (duplicate). */
  name: z.string().optional(),
  kind: ModelKind.optional(),
});
export type ModelImportOutcome = z.infer<typeof ModelImportOutcome>;

/** A `models-import` job's result: every file's outcome, in the order given. */
export const ModelImportJobResult = z.object({ files: z.array(ModelImportOutcome) });
export type ModelImportJobResult = z.infer<typeof ModelImportJobResult>;

/** Upload limits for model files (multi-gigabyte checkpoints), per file and per request. */
export const MODEL_UPLOAD_LIMITS = {
  maxFileBytes: 64 * 1024 * 1024 * 1024,
  maxRequestBytes: 128 * 1024 * 1024 * 1024,
  maxFiles: 100,
} as const;
