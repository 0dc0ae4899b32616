/**
 * The Electron transport: calls and events go through the preload's `window.pinhole`, which
 * main validates again. The event stream never drops, so the status is `open` from the start.
 */
import type { PinholeDesktopBridge } from '../../../src-shared/api/bridge';
import type { EventMessage, MethodName, ParamsOf, ResultOf } from '../../../src-shared/api/contract';
import { parseEvent } from '../../../src-shared/api/dispatch';
import { PinholeError } from '../../../src-shared/errors';
import { decodeCallResponse } from './call-response';
import type { ConnectionStatus, StudioClient } from './studio-client';

declare global {
  interface Window {
    /** Present only inside the desktop app (exposed by the preload via contextBridge). */
    pinhole?: PinholeDesktopBridge;
  }
}

/** Wraps the preload bridge as a `StudioClient`. */
export function createDesktopClient(bridge: PinholeDesktopBridge): StudioClient {
  return {
    async call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
      let raw: unknown;
      try {
        raw = await bridge.call(method, params ?? {});
      } catch (error) {
        // IPC itself failing means main is gone or restarting.
        throw new PinholeError('UNAVAILABLE', `The studio core did not answer ${method}.`, { cause: error });
      }
      return decodeCallResponse(method, raw);
    },
    onEvent(listener: (message: EventMessage) => void) {
      return bridge.onEvent((raw) => {
        const message = parseEvent(raw);
        if (message) listener(message);
      });
    },
    status: 'open' satisfies ConnectionStatus,
    // IPC has no connection to lose, so there is never a status change to report.
    onStatus: () => () => undefined,
    close: () => undefined,
  };
}
