/**
 * One error shape for every process boundary (IPC, HTTP, WebSocket, CLI).
 *
 * Errors cross processes as `SerializedError` and are rebuilt as `PinholeError`
 * on the other side; UIs choose what to show by `code`, never by parsing text.
 */

/** Stable codes a user (or a script) can act on. Never rename one once released. */
export const ERROR_CODES = [
  /** Parameters failed validation; the message names the field. */
  'INVALID_PARAMS',
  /** The request names a method or event the contract does not know. */
  'UNKNOWN_METHOD',
  /** A job, dataset or image that does not exist. */
  'NOT_FOUND',
  /** The action conflicts with current state (e.g. a dataset name already taken). */
  'CONFLICT',
  /** Cancelled by the user; not a failure. */
  'CANCELED',
  /** The data home was written by a newer Pinhole; refusing to downgrade it. */
  'DATA_HOME_TOO_NEW',
  /** The data home cannot be opened or written. */
  'DATA_HOME_UNAVAILABLE',
  /** Missing or wrong access token. */
  'UNAUTHORIZED',
  /** Request refused by the origin / host policy. */
  'FORBIDDEN',
  /** An upload or a file over the size limit. */
  'PAYLOAD_TOO_LARGE',
  /** The process running the job died; the job was re-queued. */
  'INTERRUPTED',
  /** A file that could not be imported (the reason says why). */
  'IMPORT_REJECTED',
  /** A capability whose engine is not built yet. */
  'NOT_IMPLEMENTED',
  /** The server or the engine could not be reached. */
  'UNAVAILABLE',
  /** A bug: something that should never happen. */
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** expected: bad input or state, shown as is; bug: report it; cancelled: not a failure. */
export type ErrorIntent = 'expected' | 'bug' | 'cancelled';

export type SerializedError = {
  name: string;
  code: ErrorCode;
  message: string;
  cause?: SerializedError | undefined;
};

export class PinholeError extends Error {
  override readonly name: string = 'PinholeError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get intent(): ErrorIntent {
    if (this.code === 'CANCELED') return 'cancelled';
    if (this.code === 'INTERNAL') return 'bug';
    return 'expected';
  }
}

/** Thrown by cooperative cancellation checks. */
export class CanceledError extends PinholeError {
  override readonly name = 'CanceledError';
  constructor(message = 'Canceled') {
    super('CANCELED', message);
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Any thrown value → the wire shape. Unknown errors become INTERNAL with their message kept. */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (error instanceof PinholeError) {
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      cause: error.cause !== undefined && depth < 4 ? serializeError(error.cause, depth + 1) : undefined,
    };
  }
  if (error instanceof Error) {
    return { name: error.name, code: 'INTERNAL', message: error.message };
  }
  return { name: 'Error', code: 'INTERNAL', message: String(error) };
}

/** The wire shape → a `PinholeError` (or `CanceledError`) with its cause chain rebuilt. */
export function deserializeError(wire: SerializedError): PinholeError {
  const cause = wire.cause ? deserializeError(wire.cause) : undefined;
  if (wire.code === 'CANCELED') return new CanceledError(wire.message);
  const error = new PinholeError(isErrorCode(wire.code) ? wire.code : 'INTERNAL', wire.message, { cause });
  return error;
}
