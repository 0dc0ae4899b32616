/**
 * The headless transport: calls are `POST /api/call/<method>` on the page's own origin,
 * events come from the `/api/events` WebSocket. Auth is the HttpOnly cookie the server set
 * when the page was opened with `?token=…`, so nothing here handles credentials.
 */
import type { EventMessage, MethodName, ParamsOf, ResultOf } from '../../../src-shared/api/contract';
import { PinholeError } from '../../../src-shared/errors';
import { decodeCallResponse } from './call-response';
import { EventSocket } from './event-socket';
import { Listeners } from './listeners';
import type { ConnectionStatus, StudioClient } from './studio-client';

/** Status → code for answers that are not JSON (a proxy, a crash page, a refused token). */
function codeForStatus(status: number): PinholeError['code'] {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'UNKNOWN_METHOD';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  return 'UNAVAILABLE';
}

/**
 * Reads a JSON `CallResponse` from a fetch answer. Servers answer errors with a JSON body
 * too (any status), so the body is tried first and the status is only the fallback.
 */
export async function readCallResponse(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new PinholeError(
      codeForStatus(response.status),
      `${what} answered HTTP ${response.status} ${response.statusText}`.trim(),
    );
  }
}

/** POSTs to a same-origin endpoint; a network failure becomes UNAVAILABLE. */
export async function postSameOrigin(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, method: 'POST', credentials: 'same-origin' });
  } catch (error) {
    throw new PinholeError('UNAVAILABLE', 'Cannot reach the Pinhole server.', { cause: error });
  }
}

/** The WebSocket URL for events on the page's own host (wss: under https). */
export function eventsUrl(location: Location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/events`;
}

/** Creates the HTTP + WebSocket client and starts connecting the event stream. */
export function createHttpClient(location: Location = window.location): StudioClient {
  const events = new Listeners<EventMessage>();
  const statuses = new Listeners<ConnectionStatus>();
  const socket = new EventSocket(eventsUrl(location), {
    onEvent: (message) => events.emit(message),
    onStatus: (status) => statuses.emit(status),
  });

  return {
    async call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
      const response = await postSameOrigin(`/api/call/${encodeURIComponent(method)}`, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params ?? {}),
      });
      return decodeCallResponse(method, await readCallResponse(response, method));
    },
    onEvent: (listener) => events.add(listener),
    get status() {
      return socket.status;
    },
    onStatus: (listener) => statuses.add(listener),
    close: () => socket.close(),
  };
}
