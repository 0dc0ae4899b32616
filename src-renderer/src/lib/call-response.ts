/**
 * Turns a wire `CallResponse` into the method's result or a thrown `PinholeError`. Shared by
 * both transports so a contract break looks the same whichever one carried it.
 */
import { describeIssues } from '../../../src-shared/api/dispatch';
import { CallResponse, methods, type MethodName, type ResultOf } from '../../../src-shared/api/contract';
import { deserializeError, PinholeError, type SerializedError } from '../../../src-shared/errors';

/** Validates the envelope and the result against the contract; throws the rebuilt error on `ok: false`. */
export function decodeCallResponse<M extends MethodName>(method: M, raw: unknown): ResultOf<M> {
  const envelope = CallResponse.safeParse(raw);
  if (!envelope.success) {
    throw new PinholeError(
      'INTERNAL',
      `The answer to ${method} is not a call response: ${describeIssues(envelope.error)}`,
    );
  }
  if (!envelope.data.ok) throw deserializeError(envelope.data.error as SerializedError);
  // Re-checking the result catches a core and a renderer built from different contracts.
  const result = methods[method].result.safeParse(envelope.data.result);
  if (!result.success) {
    throw new PinholeError('INTERNAL', `The result of ${method} broke the contract: ${describeIssues(result.error)}`);
  }
  return result.data as ResultOf<M>;
}
