/**
 * Image ingest: an untrusted file → the normalized bytes the library stores, or a reason
 * it cannot be imported. Every pixel is decoded (re-encoding does it), EXIF orientation is
 * applied, and all metadata but the ICC profile is dropped, so location data never reaches
 * the library, a training set or an export. One text is read out first: a PNG's A1111
 * `parameters` chunk (prompt and generation settings), kept in the image's database record so
 * the gallery can show and re-run it.
 */
import { open } from 'node:fs/promises';
import { exifUserComment } from './exif-user-comment';
import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import { sha256Hex } from '../storage/content-store';

/** Limits an ingest enforces before and while decoding. */
export type IngestLimits = {
  /** Largest file accepted, in bytes. */
  maxBytes: number;
  /** Largest image accepted, in pixels (width × height of the first frame). */
  maxPixels: number;
};

export const DEFAULT_INGEST_LIMITS: IngestLimits = {
  maxBytes: 200 * 1024 * 1024,
  maxPixels: 100_000_000,
};

/** The formats the library stores; every other readable format is stored as PNG. */
export type StoredFormat = 'jpeg' | 'png' | 'webp';

/** What an accepted file becomes. */
export type NormalizedImage = {
  /** The bytes to store; `sha256` is their hash and the image id. */
  bytes: Buffer;
  sha256: string;
  format: StoredFormat;
  /** After orientation. */
  width: number;
  height: number;
  /** A WebP preview, at most THUMB_SIZE on its longer side. */
  thumbnail: Buffer;
  /** Facts about the original, kept as the image's metadata (never its EXIF). */
  metadata: {
    originalFormat: string;
    originalWidth: number;
    originalHeight: number;
    originalBytes: number;
    /** A PNG's A1111 `parameters` text chunk, when it has one (at most MAX_PARAMETERS_LENGTH characters). */
    parameters?: string;
  };
};

/** Longer `parameters` texts are not kept: A1111's are a few kilobytes at most. */
export const MAX_PARAMETERS_LENGTH = 64 * 1024;

/** A value, or the reason a file was refused (shown to the user as is). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; reason: string };

/** An original file's bytes and their hash (which recognizes a re-import without decoding). */
export type SourceFile = { bytes: Buffer; sourceSha256: string };

/** Longer side of a thumbnail, in pixels. */
export const THUMB_SIZE = 384;
const THUMB_QUALITY = 80;
const LOSSY_QUALITY = 95;

/** Formats we decode. SVG and the rest are refused: SVG can reference other files, and none is a photo. */
const READABLE = new Set<string>(['jpeg', 'png', 'webp', 'heif', 'tiff', 'gif']);

/**
 * 'error' is stricter than 'truncated': a cut-off or damaged file fails instead of being
 * padded with grey, while harmless decoder warnings (odd PNG chunks) still pass.
 */
const FAIL_ON = 'error' as const;

/** Reads a file, refusing empty, oversized and non-regular files before loading them. */
export async function readSourceFile(
  file: string,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
): Promise<Outcome<SourceFile>> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    return { ok: false, reason: fsReason(error) };
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) return { ok: false, reason: 'is a folder' };
    if (!stat.isFile()) return { ok: false, reason: 'not a regular file' };
    if (stat.size === 0) return { ok: false, reason: 'empty file' };
    if (stat.size > limits.maxBytes) {
      return { ok: false, reason: `file is ${formatMb(stat.size)}, over the ${formatMb(limits.maxBytes)} limit` };
    }
    const bytes = await handle.readFile();
    if (bytes.length === 0) return { ok: false, reason: 'empty file' };
    return { ok: true, value: { bytes, sourceSha256: sha256Hex(bytes) } };
  } catch (error) {
    return { ok: false, reason: fsReason(error) };
  } finally {
    await handle.close();
  }
}

/** Decodes, orients, strips and re-encodes an original; makes its thumbnail. */
export async function normalizeImage(
  original: Buffer,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
): Promise<Outcome<NormalizedImage>> {
  let meta: Metadata;
  try {
    // No pixel limit here: we want the size to say how far over the limit the image is.
    meta = await sharp(original, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (error) {
    return { ok: false, reason: decodeReason(error) };
  }
  if (!READABLE.has(meta.format)) return { ok: false, reason: `unsupported format (${meta.format})` };
  const pixels = meta.width * meta.height;
  if (pixels > limits.maxPixels) {
    return {
      ok: false,
      reason:
        `image is ${meta.width}×${meta.height} (${formatMp(pixels)}), ` +
        `over the ${formatMp(limits.maxPixels)} limit`,
    };
  }
  const format = storedFormatOf(meta);
  const options: SharpOptions = { failOn: FAIL_ON, limitInputPixels: limits.maxPixels, autoOrient: true };
  try {
    let pipeline = sharp(original, options);
    // keepIccProfile on a profile-less image would attach an sRGB one, and CMYK must become RGB anyway.
    if (meta.hasProfile && meta.space !== 'cmyk') pipeline = pipeline.keepIccProfile();
    const { data, info } = await encode(pipeline, format, isLosslessWebp(original)).toBuffer({
      resolveWithObject: true,
    });
    const thumbnail = await makeThumbnail(original, options);
    return {
      ok: true,
      value: {
        bytes: data,
        sha256: sha256Hex(data),
        format,
        width: info.width,
        height: info.height,
        thumbnail,
        metadata: {
          originalFormat: meta.format,
          originalWidth: meta.width,
          originalHeight: meta.height,
          originalBytes: original.length,
          ...parametersOf(meta),
        },
      },
    };
  } catch (error) {
    if (meta.format === 'heif' && meta.compression === 'hevc') {
      return { ok: false, reason: 'HEIC (HEVC) images cannot be decoded by this build; convert it to JPEG first' };
    }
    return { ok: false, reason: decodeReason(error) };
  }
}

/**
 * An image's A1111 `parameters`, when present and not oversized: a PNG's text chunk (tEXt, zTXt or iTXt, as libvips
 * reads them), or the EXIF UserComment A1111 writes into JPEG and WebP files.
 */
function parametersOf(meta: Metadata): { parameters?: string } {
  const text =
    meta.format === 'png'
      ? meta.comments?.find((c) => c.keyword === 'parameters')?.text
      : meta.format === 'jpeg' || meta.format === 'webp'
        ? exifUserComment(meta.exif)
        : undefined;
  return text && text.length <= MAX_PARAMETERS_LENGTH ? { parameters: text } : {};
}

/** readSourceFile then normalizeImage. */
export async function ingestImage(
  file: string,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
): Promise<Outcome<NormalizedImage & { sourceSha256: string }>> {
  const source = await readSourceFile(file, limits);
  if (!source.ok) return source;
  const image = await normalizeImage(source.value.bytes, limits);
  if (!image.ok) return image;
  return { ok: true, value: { ...image.value, sourceSha256: source.value.sourceSha256 } };
}

/** A WebP thumbnail, longer side at most THUMB_SIZE, oriented, without metadata. */
export async function makeThumbnail(input: Buffer, options: SharpOptions = { autoOrient: true }): Promise<Buffer> {
  return sharp(input, options)
    .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: THUMB_QUALITY })
    .toBuffer();
}

/** JPEG, PNG and WebP keep their format; the rest (HEIF, TIFF, GIF) become lossless PNG. */
function storedFormatOf(meta: Metadata): StoredFormat {
  return meta.format === 'jpeg' || meta.format === 'png' || meta.format === 'webp' ? meta.format : 'png';
}

function encode(pipeline: Sharp, format: StoredFormat, lossless: boolean): Sharp {
  switch (format) {
    case 'jpeg':
      // 4:4:4: training images should not lose colour resolution to chroma subsampling.
      return pipeline.jpeg({ quality: LOSSY_QUALITY, chromaSubsampling: '4:4:4' });
    case 'webp':
      return pipeline.webp(lossless ? { lossless: true } : { quality: LOSSY_QUALITY });
    case 'png':
      return pipeline.png();
  }
}

/**
 * Whether a WebP file's (first) image is VP8L, i.e. lossless. sharp's metadata does not say,
 * so walk the RIFF chunks: 'VP8L' is lossless, 'VP8 ' lossy; animation frames (ANMF) nest them.
 */
export function isLosslessWebp(bytes: Buffer): boolean {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WEBP') {
    return false;
  }
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const tag = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (tag === 'VP8L') return true;
    if (tag === 'VP8 ') return false;
    // An ANMF payload is 16 bytes of frame header, then the frame's own chunks.
    offset += tag === 'ANMF' ? 8 + 16 : 8 + size + (size & 1);
  }
  return false;
}

function decodeReason(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
  if (/unsupported image format/i.test(message)) return 'not an image, or a format Pinhole cannot read';
  if (/pixel limit/i.test(message)) return 'image is over the pixel limit';
  return `damaged or truncated image (${message})`;
}

function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'not found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a folder';
  return `cannot read the file (${code ?? (error as Error).message})`;
}

function formatMb(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
}

function formatMp(pixels: number): string {
  return `${Math.round(pixels / 100_000) / 10} megapixels`;
}
