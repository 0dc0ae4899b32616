import type { ErrorCode } from '../../src-shared/errors';

/** Exit codes a script can rely on. Never renumber one once released. */
export const EXIT = {
  OK: 0,
  /** The command ran but its work failed (a job failed, an internal error). */
  FAILED: 1,
  /** Bad command line or invalid parameters. */
  USAGE: 2,
  /** The data home cannot be used (unwritable, or written by a newer version). */
  DATA_HOME: 3,
  /** A job, dataset or image that does not exist. */
  NOT_FOUND: 4,
  /** A server refused us (token) or could not be reached. */
  UNAVAILABLE: 5,
  /** The job was cancelled (Ctrl-C, or a cancel from elsewhere). */
  CANCELED: 130,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_PARAMS':
    case 'UNKNOWN_METHOD':
    case 'CONFLICT':
    case 'PAYLOAD_TOO_LARGE':
      return EXIT.USAGE;
    case 'DATA_HOME_TOO_NEW':
    case 'DATA_HOME_UNAVAILABLE':
      return EXIT.DATA_HOME;
    case 'NOT_FOUND':
      return EXIT.NOT_FOUND;
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
    case 'UNAVAILABLE':
      return EXIT.UNAVAILABLE;
    case 'CANCELED':
      return EXIT.CANCELED;
    case 'INTERRUPTED':
    case 'IMPORT_REJECTED':
    case 'NOT_IMPLEMENTED':
    case 'INTERNAL':
      return EXIT.FAILED;
  }
}
