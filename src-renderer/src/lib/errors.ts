/**
 * Errors as the UI sees them: whatever a call throws becomes a `PinholeError`, and what the
 * user reads is chosen by its `code` (never by parsing message text).
 */
import { PinholeError, type ErrorCode } from '../../../src-shared/errors';

/** Any thrown value → a `PinholeError`; unknown errors keep their message as INTERNAL. */
export function toPinholeError(error: unknown): PinholeError {
  if (error instanceof PinholeError) return error;
  if (error instanceof Error) return new PinholeError('INTERNAL', error.message, { cause: error });
  return new PinholeError('INTERNAL', String(error));
}

// Codes whose server message is already written for people (it names the field or the file).
const SHOW_AS_IS: ReadonlySet<ErrorCode> = new Set(['INVALID_PARAMS', 'CONFLICT', 'IMPORT_REJECTED', 'CANCELED']);

const FIXED_MESSAGES: Partial<Record<ErrorCode, string>> = {
  NOT_FOUND: 'That item no longer exists. It may have been removed in another window.',
  UNAUTHORIZED: 'This browser session is not signed in. Open the studio again with the link that includes its token.',
  FORBIDDEN: 'The studio refused this request from this page.',
  PAYLOAD_TOO_LARGE: 'That upload is larger than the studio accepts. Try fewer or smaller files.',
  NOT_IMPLEMENTED: 'Not available in this build yet.',
  UNAVAILABLE: 'Cannot reach the Pinhole studio core. It may have stopped; retrying when it is back.',
  DATA_HOME_TOO_NEW: 'This data folder was written by a newer Pinhole Studio. Update the app to open it.',
  DATA_HOME_UNAVAILABLE: 'The data folder cannot be opened or written. Check that the disk is available.',
  INTERRUPTED: 'The studio stopped while this was running; it will be retried.',
};

/** The sentence to show a person for an error, chosen by its code. */
export function userMessage(error: unknown): string {
  const e = toPinholeError(error);
  if (SHOW_AS_IS.has(e.code)) return e.message;
  const fixed = FIXED_MESSAGES[e.code];
  if (fixed) return fixed;
  // INTERNAL and UNKNOWN_METHOD are bugs: say so, and keep the detail for the report.
  return `Something went wrong inside Pinhole (this is a bug): ${e.message}`;
}
