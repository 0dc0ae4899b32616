import { PinholeError } from '../../../src-shared/errors';

/**
 * A graph wired wrongly: mismatched shapes or dtypes, unknown values, cycles. A bug in the code
 * that builds the graph, so INTERNAL; the message names the node (and its op) at fault.
 */
export class GraphError extends PinholeError {
  override readonly name = 'GraphError';
  /** The node at fault, when there is one. */
  readonly node: string | undefined;

  constructor(message: string, options?: { node?: string; cause?: unknown }) {
    super('INTERNAL', message, options);
    this.node = options?.node;
  }
}

/**
 * A model or weights file that cannot be read: truncated, corrupt or using something the
 * engine does not support. Expected (the user picked the file); the message names the file and,
 * where it can, the tensor.
 */
export class ModelFormatError extends PinholeError {
  override readonly name = 'ModelFormatError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('IMPORT_REJECTED', message, options);
  }
}
