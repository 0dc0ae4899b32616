/**
 * Validation and dispatch shared by both transports: a raw (method, params) pair from
 * IPC or HTTP goes through `dispatchCall`, which rejects unknown methods and malformed
 * params with a clear error and validates what the handler returns.
 */
import type { z } from 'zod';
import { PinholeError, serializeError } from '../errors';
import {
  events,
  isEventName,
  isMethodName,
  methods,
  type ApiHandlers,
  type CallResponse,
  type EventMessage,
  type MethodName,
  type ParsedParamsOf,
} from './contract';

/** Formats zod issues as `field: problem; field: problem`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(params)'}: ${issue.message}`)
    .join('; ');
}

export function parseParams<M extends MethodName>(method: M, raw: unknown): ParsedParamsOf<M> {
  const parsed = methods[method].params.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new PinholeError('INVALID_PARAMS', `Invalid params for ${method}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data as ParsedParamsOf<M>;
}

/** Runs one call against the handlers; never throws, always answers in the wire shape. */
export async function dispatchCall(handlers: ApiHandlers, method: unknown, raw: unknown): Promise<CallResponse> {
  try {
    if (!isMethodName(method)) {
      throw new PinholeError('UNKNOWN_METHOD', `Unknown method: ${String(method).slice(0, 100)}`);
    }
    const params = parseParams(method, raw);
    const handler = handlers[method] as (p: unknown) => unknown;
    const result = await handler(params);
    const checked = methods[method].result.safeParse(result);
    if (!checked.success) {
      throw new PinholeError('INTERNAL', `Result of ${method} broke the contract: ${describeIssues(checked.error)}`);
    }
    return { ok: true, result: checked.data };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  }
}

/** Validates an incoming event message (renderer side); returns null for unknown or malformed ones. */
export function parseEvent(raw: unknown): EventMessage | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const { event, payload } = raw as { event?: unknown; payload?: unknown };
  if (!isEventName(event)) return null;
  const parsed = events[event].safeParse(payload);
  return parsed.success ? ({ event, payload: parsed.data } as EventMessage) : null;
}
