/**
 * A transfer failure worth retrying (a dropped connection, a stall, a 5xx or 429). `restart`
 * asks for the next attempt to start from byte zero (the server's range did not match ours);
 * `retryAfterMs` is the wait the server asked for (Retry-After). Never leaves the download
 * module: a retry budget running out becomes a PinholeError.
 */
export class RetryableTransferError extends Error {
  override readonly name = 'RetryableTransferError';
  constructor(
    message: string,
    readonly restart = false,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}
