/**
 * The transfer loop: streams a URL into a `.part` file, hashing as it writes. It continues from
 * whatever the `.part` already holds (re-hashing that prefix first), resumes with a Range
 * request after a dropped connection, starts over when the server ignores the range, and gives
 * up with a clear error once its retry budget is spent. Whether the bytes are the right ones is
 * decided afterwards by the SHA-256, not by ETag or Last-Modified (many servers send neither).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { PinholeError } from '../../../src-shared/errors';
import { formatBytes } from './disk-space';
import { requestRange } from './range-request';
import { abortReason, backoffDelay, sleep, type RetryPolicy } from './retry-policy';
import { SpeedMeter } from './speed-meter';
import { RetryableTransferError } from './transfer-error';

export type TransferProgress = {
  bytes: number;
  total: number | null;
  bytesPerSecond: number;
  etaMs: number | null;
};

export type TransferOptions = {
  url: URL;
  partPath: string;
  signal: AbortSignal;
  tokenFor(host: string): Promise<string | null>;
  retry: RetryPolicy;
  /** Throws when the bytes still to come do not fit on the disk. */
  ensureSpace(bytesToCome: number): Promise<void>;
  /** Called as bytes arrive (the caller throttles). */
  onProgress(progress: TransferProgress): void;
  /** Attempts that had to restart or resume, for the caller's log. */
  onRetry?(info: { failures: number; delayMs: number; reason: string; resumeFrom: number }): void;
  now?: () => number;
  random?: () => number;
};

export type TransferResult = { bytes: number; sha256: string; finalUrl: string };

export async function transfer(options: TransferOptions): Promise<TransferResult> {
  const { signal } = options;
  const meter = new SpeedMeter(options.now);
  let hash = createHash('sha256');
  let have = await sizeOf(options.partPath);
  if (have > 0) await hashPrefix(options.partPath, have, hash, signal);
  let failures = 0;
  let restartNext = false;

  for (;;) {
    if (signal.aborted) throw abortReason(signal);
    if (restartNext) {
      await truncate(options.partPath);
      hash = createHash('sha256');
      have = 0;
      restartNext = false;
    }
    // Whether this attempt delivered any bytes: a failure after progress starts the budget afresh.
    let progressed = false;
    try {
      const response = await requestRange({
        url: options.url,
        from: have,
        signal,
        tokenFor: (host) => options.tokenFor(host),
        stallTimeoutMs: options.retry.stallTimeoutMs,
      });
      if (response.kind === 'complete') {
        return { bytes: have, sha256: hash.digest('hex'), finalUrl: response.finalUrl.href };
      }
      const total = response.total;
      const written = { bytes: have };
      try {
        if (response.start === 0 && have > 0) {
          // The server ignored our Range and sent everything: keep its bytes, drop ours.
          await truncate(options.partPath);
          hash = createHash('sha256');
          written.bytes = 0;
        }
        if (total !== null) await options.ensureSpace(total - written.bytes);
        await appendBody(response.body, options.partPath, hash, written, (bytes) => {
          progressed = true;
          const bytesPerSecond = meter.update(bytes);
          options.onProgress({ bytes, total, bytesPerSecond, etaMs: meter.eta(bytes, total) });
        });
      } catch (error) {
        // Nothing more is read from this response: release its connection.
        response.body.destroy();
        throw error;
      } finally {
        have = written.bytes;
      }
      if (total !== null && have < total) {
        throw new RetryableTransferError(`the connection closed after ${have} of ${total} bytes`);
      }
      if (total !== null && have > total) {
        throw new RetryableTransferError(`the server sent ${have - total} bytes more than it announced`, true);
      }
      return { bytes: have, sha256: hash.digest('hex'), finalUrl: response.finalUrl.href };
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      if (error instanceof PinholeError) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new PinholeError('DATA_HOME_UNAVAILABLE', 'The disk is full: free some space and resume the download.');
      }
      // Bytes that arrived before the drop are on disk and hashed; resume after them. Should the
      // file hold other than what was hashed (a failed write), hash it again from the start.
      const onDisk = await sizeOf(options.partPath);
      if (onDisk !== have) {
        hash = createHash('sha256');
        if (onDisk > 0) await hashPrefix(options.partPath, onDisk, hash, signal);
        have = onDisk;
      }
      failures = progressed ? 1 : failures + 1;
      const reason = error instanceof Error ? error.message : String(error);
      if (failures > options.retry.maxRetries) {
        throw new PinholeError(
          'UNAVAILABLE',
          `The download from ${options.url.host} failed ${failures} times in a row (last: ${reason}).` +
            (have > 0 ? ` The ${formatBytes(have)} received are kept: start the same download again to continue.` : ''),
          { cause: error },
        );
      }
      if (error instanceof RetryableTransferError && error.restart) restartNext = true;
      // A server that says when to come back (429, 503) is obeyed, within the longest backoff.
      const asked = error instanceof RetryableTransferError ? (error.retryAfterMs ?? 0) : 0;
      const delayMs = Math.max(
        backoffDelay(options.retry, failures, options.random),
        Math.min(asked, options.retry.maxDelayMs),
      );
      options.onRetry?.({ failures, delayMs, reason, resumeFrom: restartNext ? 0 : have });
      await sleep(delayMs, signal);
    }
  }
}

/**
 * Appends the body to the part file, hashing exactly the bytes written and counting them in
 * `written`, so after a drop the hash, the count and the file agree and the next attempt
 * continues all three from the same point.
 */
async function appendBody(
  body: AsyncIterable<Buffer>,
  partPath: string,
  hash: Hash,
  written: { bytes: number },
  onBytes: (bytes: number) => void,
): Promise<void> {
  const file = await open(partPath, 'a');
  try {
    for await (const chunk of body) {
      await file.write(chunk);
      hash.update(chunk);
      written.bytes += chunk.length;
      onBytes(written.bytes);
    }
  } finally {
    await file.close();
  }
}

async function hashPrefix(partPath: string, length: number, hash: Hash, signal: AbortSignal): Promise<void> {
  const stream = createReadStream(partPath, { start: 0, end: length - 1, signal });
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

async function truncate(file: string): Promise<void> {
  const handle = await open(file, 'w');
  await handle.close();
}
