/**
 * The `download` job (CPU lane): one URL into the models library. The bytes stream into
 * `downloads/<job id>.part`, so every way the job can stop keeps or drops them on purpose:
 * a dropped connection retries with a Range request; a pause, a shutdown or a killed process
 * keeps the `.part` and the same job continues from its size when it runs again; a cancel
 * deletes it; a wrong SHA-256 or size deletes it with an error saying so. Only verified bytes
 * reach the library, through the `DownloadedModelSink`.
 */
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { Sha256 } from '../../../src-shared/api';
import { CanceledError, PinholeError } from '../../../src-shared/errors';
import type { DataHome } from '../../platform/data-home';
import type { JobContext, JobHandler } from '../../queue';
import { PauseRequest } from '../../queue';
import { ensureDownloadSpace, formatBytes, statfsFreeBytes, type FreeBytes } from './disk-space';
import { checkDownloadUrl } from './download-url';
import type { DownloadedModelSink } from './model-sink';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy';
import type { TokenStore } from './token-store';
import { transfer, type TransferProgress } from './transfer';

export const DOWNLOAD_JOB_KIND = 'download';

/** A job id as `newId('job')` makes them; names a `.part` file, so nothing else is allowed. */
const JobIdSchema = z.string().regex(/^job_[0-9a-f]{20}$/, 'expected a job id');

export const DownloadJobParams = z.object({
  url: z
    .string()
    .min(1)
    .max(4000)
    .superRefine((url, ctx) => {
      try {
        checkDownloadUrl(url);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
  /** The expected SHA-256; null downloads unverified (the user confirmed that). */
  sha256: Sha256.nullable(),
  /** The library name to give the model; null lets the library choose. */
  name: z.string().trim().min(1).max(120).nullable(),
  /** The expected size (the catalogue's), checked before the hash. */
  expectedBytes: z.number().int().positive().nullable(),
  /** A failed download of the same file whose `.part` this job continues. */
  adoptPartOf: JobIdSchema.nullable(),
});
export type DownloadJobParams = z.infer<typeof DownloadJobParams>;

export type DownloadJobResult = {
  file: string;
  name: string | null;
  sha256: string;
  verified: boolean;
  bytes: number;
  sourceUrl: string;
};

export type DownloadJobDeps = {
  home: Pick<DataHome, 'downloads'>;
  tokens: TokenStore;
  sink: DownloadedModelSink;
  retry?: Partial<RetryPolicy>;
  freeBytes?: FreeBytes;
  now?: () => number;
};

/** How often progress goes to the queue (the queue throttles again; this keeps metrics cheap). */
const PROGRESS_INTERVAL_MS = 250;

/** The `.part` file of a download job. */
export function partFileOf(downloadsDir: string, jobId: string): string {
  return path.join(downloadsDir, `${jobId}.part`);
}

export function createDownloadJobHandler(
  deps: DownloadJobDeps,
): JobHandler<DownloadJobParams, DownloadJobResult, null> {
  const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...deps.retry };
  const freeBytes = deps.freeBytes ?? statfsFreeBytes;
  const now = deps.now ?? Date.now;
  return {
    kind: DOWNLOAD_JOB_KIND,
    lane: 'cpu',
    params: DownloadJobParams,
    title: (p) => `Download ${p.name ?? fileNameFromUrl(new URL(p.url))}`,
    run: async (ctx, p) => {
      const url = checkDownloadUrl(p.url);
      await mkdir(deps.home.downloads, { recursive: true });
      const part = partFileOf(deps.home.downloads, ctx.jobId);
      // Named after the URL's file, in the downloads folder (the data home's volume) for the sink.
      const ready = path.join(deps.home.downloads, `${ctx.jobId}-${fileNameFromUrl(url)}`);
      // A run that stopped after renaming its verified file, before the library took it, left it
      // there: back to `.part`, where the server's 416 (or a re-hash) confirms it without a re-download.
      await adoptPart(ready, part);
      if (p.adoptPartOf) await adoptPart(partFileOf(deps.home.downloads, p.adoptPartOf), part);
      let result: Awaited<ReturnType<typeof transfer>>;
      try {
        result = await transfer({
          url,
          partPath: part,
          signal: ctx.signal,
          tokenFor: (host) => deps.tokens.get(host),
          retry,
          now,
          ensureSpace: (bytes) => ensureDownloadSpace(deps.home.downloads, bytes, freeBytes),
          onProgress: progressReporter(ctx, now),
        });
        ctx.throwIfCanceled();
      } catch (error) {
        if (isFinalCancel(ctx.signal)) await rm(part, { force: true });
        throw error;
      }
      await verify(part, p, result);
      await rename(part, ready);
      try {
        const stored = await deps.sink.onVerified(ready, {
          sha256: result.sha256,
          verified: p.sha256 !== null,
          name: p.name,
          fileName: fileNameFromUrl(url),
          sourceUrl: p.url,
          bytes: result.bytes,
        });
        return {
          file: stored.file,
          name: stored.name ?? p.name,
          sha256: result.sha256,
          verified: p.sha256 !== null,
          bytes: result.bytes,
          sourceUrl: p.url,
        };
      } finally {
        await rm(ready, { force: true });
      }
    },
  };
}

/** Size, then hash: a mismatch deletes the file and says what was expected and what came. */
async function verify(part: string, p: DownloadJobParams, got: { bytes: number; sha256: string }): Promise<void> {
  if (p.expectedBytes !== null && got.bytes !== p.expectedBytes) {
    await rm(part, { force: true });
    throw new PinholeError(
      'IMPORT_REJECTED',
      `The download is ${formatBytes(got.bytes)} (${got.bytes} bytes), not the expected ${p.expectedBytes} bytes; ` +
        `it was deleted. The file on the server may have changed.`,
    );
  }
  if (p.sha256 !== null && got.sha256 !== p.sha256) {
    await rm(part, { force: true });
    throw new PinholeError(
      'IMPORT_REJECTED',
      `The downloaded file's SHA-256 is ${got.sha256}, not the expected ${p.sha256}; it was deleted. ` +
        `Check the hash, or whether the file on the server changed.`,
    );
  }
}

/** Moves `from` to this job's `.part` (same volume), unless the `.part` already has bytes or `from` is missing. */
async function adoptPart(from: string, to: string): Promise<void> {
  const exists = async (file: string) => (await stat(file).catch(() => null)) !== null;
  if ((await exists(to)) || !(await exists(from))) return;
  await rename(from, to);
}

/**
 * A cancel is final: the `.part` goes. A pause (PauseRequest, a kind of cancel) or a shutdown
 * (INTERRUPTED) keeps it for the same job's next run.
 */
function isFinalCancel(signal: AbortSignal): boolean {
  const reason: unknown = signal.reason;
  return signal.aborted && reason instanceof CanceledError && !(reason instanceof PauseRequest);
}

function progressReporter(ctx: JobContext<null>, now: () => number): (p: TransferProgress) => void {
  let last = -Infinity;
  return (p) => {
    const at = now();
    const done = p.total !== null && p.bytes >= p.total;
    if (!done && at - last < PROGRESS_INTERVAL_MS) return;
    last = at;
    const total = p.total ?? p.bytes;
    const speed = `${formatBytes(p.bytesPerSecond)}/s`;
    ctx.progress({
      step: p.bytes,
      total,
      message:
        p.total !== null
          ? `${formatBytes(p.bytes)} of ${formatBytes(p.total)} · ${speed}`
          : `${formatBytes(p.bytes)} · ${speed}`,
      metrics: {
        bytes: p.bytes,
        ...(p.total !== null ? { totalBytes: p.total } : {}),
        bytesPerSecond: Math.round(p.bytesPerSecond),
        ...(p.etaMs !== null ? { etaMs: p.etaMs } : {}),
      },
    });
  };
}

/** The last path segment of a URL as a safe file name (`model.safetensors` when there is none). */
export function fileNameFromUrl(url: URL): string {
  let last = url.pathname.split('/').filter(Boolean).pop() ?? '';
  try {
    last = decodeURIComponent(last);
  } catch {
    // keep it encoded
  }
  const safe = last
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^\.+/, '')
    .slice(0, 120);
  return safe || 'model.safetensors';
}
