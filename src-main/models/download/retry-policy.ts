/**
 * When to retry a dropped transfer and how long to wait: exponential backoff with full jitter
 * (so many clients dropped at once do not come back in lockstep), and a budget of consecutive
 * failures that made no progress — a connection that keeps delivering bytes keeps its budget.
 */

export type RetryPolicy = {
  /** Consecutive failed attempts without new bytes before the download gives up. */
  maxRetries: number;
  /** The first backoff ceiling; doubles on each consecutive failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A response that sends nothing for this long is dropped and retried. */
  stallTimeoutMs: number;
};

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 6,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  stallTimeoutMs: 30_000,
};

/** The wait before retry number `failures` (1-based): uniform in [0, min(max, base·2^(failures−1))]. */
export function backoffDelay(policy: RetryPolicy, failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(random() * ceiling);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
