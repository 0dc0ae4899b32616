/**
 * A1111's "infotext", the `parameters` text chunk its PNGs carry and that A1111, ComfyUI importers, Civitai and
 * most image browsers read back:
 * ```
 * a photo of a cat
 * Negative prompt: blurry
 * Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, Model: v1-5
 * ```
 * Formatting follows `create_infotext` in A1111's `modules/processing.py`: `key: value` pairs joined by ", ",
 * values quoted as JSON when they contain a comma, a colon or a newline, the negative line only when there is a
 * negative prompt, absent settings left out.
 */
import { SAMPLER_DISPLAY_NAMES } from '../../../src-shared/api/infotext';

/** The settings an infotext records. Optional ones are left out when absent. */
export interface InfotextFields {
  readonly prompt: string;
  readonly negativePrompt?: string | undefined;
  readonly steps: number;
  /** The sampler's A1111 display name (`Euler a`, `DPM++ 2M Karras`; see `samplerDisplayName`). */
  readonly sampler: string;
  readonly cfgScale: number;
  readonly seed: bigint | number | string;
  readonly width: number;
  readonly height: number;
  /** The first 10 hex digits of the checkpoint's SHA-256 (A1111's short hash). */
  readonly modelHash?: string | undefined;
  readonly modelName?: string | undefined;
  /** A separate VAE: the first 10 hex digits of its file's SHA-256, and its name (A1111: the file's base name). */
  readonly vaeHash?: string | undefined;
  readonly vaeName?: string | undefined;
  /** Images per batch and this image's position, as older A1111 versions record them (only when > 1). */
  readonly batchSize?: number | undefined;
  readonly batchPos?: number | undefined;
  /** img2img / inpainting strength. */
  readonly denoisingStrength?: number | undefined;
  /** A1111's clip skip (1 = last layer; recorded only when > 1). */
  readonly clipSkip?: number | undefined;
  /** More `key: value` pairs, appended in order. */
  readonly extra?: Readonly<Record<string, string | number | undefined>>;
}

// The display names and the reader live in src-shared: the library and the renderer read infotexts too.
export { parseInfotext, SAMPLER_DISPLAY_NAMES, type ParsedInfotext } from '../../../src-shared/api/infotext';

/** The display name for an engine sampler name (the name itself when unknown). */
export function samplerDisplayName(sampler: string): string {
  return (SAMPLER_DISPLAY_NAMES as Readonly<Record<string, string>>)[sampler] ?? sampler;
}

/** A1111's `quote`: JSON-quoted when the value has a comma, a colon or a newline. */
export function quoteInfotextValue(value: string): string {
  if (!/[,:\n]/.test(value)) return value;
  return JSON.stringify(value);
}

/** Formats an infotext exactly as A1111 writes one. */
export function formatInfotext(fields: InfotextFields): string {
  const params: [string, string | number | bigint | undefined][] = [
    ['Steps', fields.steps],
    ['Sampler', fields.sampler],
    ['CFG scale', fields.cfgScale],
    ['Seed', fields.seed],
    ['Size', `${fields.width}x${fields.height}`],
    ['Model hash', fields.modelHash],
    ['Model', fields.modelName],
    // A1111 writes these right after the model (`create_infotext`), only when a separate VAE is loaded.
    ['VAE hash', fields.vaeHash],
    ['VAE', fields.vaeName],
    ['Batch size', fields.batchSize !== undefined && fields.batchSize > 1 ? fields.batchSize : undefined],
    ['Batch pos', fields.batchSize !== undefined && fields.batchSize > 1 ? fields.batchPos : undefined],
    ['Denoising strength', fields.denoisingStrength],
    ['Clip skip', fields.clipSkip !== undefined && fields.clipSkip > 1 ? fields.clipSkip : undefined],
    ...Object.entries(fields.extra ?? {}),
  ];
  const text = params
    .filter((entry): entry is [string, string | number | bigint] => entry[1] !== undefined && entry[1] !== '')
    .map(([k, v]) => (k === String(v) ? k : `${k}: ${quoteInfotextValue(String(v))}`))
    .join(', ');
  const negative = fields.negativePrompt ? `\nNegative prompt: ${fields.negativePrompt}` : '';
  return `${fields.prompt}${negative}\n${text}`.trim();
}
