/**
 * A CLI command talks to the core in one of two ways, behind one interface:
 * remote — a server already runs on this data home, so the command goes through its API
 * (the server owns the queue); local — the command opens the data home itself and runs
 * its own jobs in this process.
 */
import WebSocket from 'ws';
import {
  dispatchCall,
  parseEvent,
  type EventMessage,
  type MethodName,
  type ParamsOf,
  type PinholeClient,
  type ResultOf,
} from '../../src-shared/api';
import { deserializeError, PinholeError } from '../../src-shared/errors';
import { Emitter } from '../platform/emitter';
import { openDataHome } from '../platform/data-home';
import { readServerRecord } from '../server';
import { createStudio } from '../studio';

export interface CoreConnection extends PinholeClient {
  readonly kind: 'local' | 'remote';
  close(): Promise<void>;
}

export type ConnectOptions = {
  dataDir: string;
  version: string;
  runJobs: 'all' | 'own' | 'none';
  token: string | null;
  /** Whether the command needs events (a WebSocket for remote connections). */
  events: boolean;
};

export async function connect(options: ConnectOptions): Promise<CoreConnection> {
  const home = openDataHome(options.dataDir);
  const record = readServerRecord(home.runtime);
  if (record) return connectRemote(record.url, options.token, options.events);
  return connectLocal(options);
}

function connectLocal(options: ConnectOptions): CoreConnection {
  const studio = createStudio({
    dataDir: options.dataDir,
    mode: 'headless',
    version: options.version,
    runJobs: options.runJobs,
  });
  return {
    kind: 'local',
    call: async <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => {
      const response = await dispatchCall(studio.api, method, params);
      if (!response.ok) throw deserializeError(response.error);
      return response.result as ResultOf<M>;
    },
    onEvent: (listener) => studio.onEvent(listener),
    close: () => studio.dispose(),
  };
}

async function connectRemote(baseUrl: string, token: string | null, wantEvents: boolean): Promise<CoreConnection> {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const events = new Emitter<EventMessage>();
  let socket: WebSocket | null = null;
  if (wantEvents) {
    const wsUrl = new URL('api/events', baseUrl.replace(/^http/, 'ws'));
    socket = await new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) =>
        reject(
          res.statusCode === 401
            ? new PinholeError(
                'UNAUTHORIZED',
                'The server on this data home needs its access token: set PINHOLE_TOKEN.',
              )
            : new PinholeError(
                'UNAVAILABLE',
                `The server on this data home refused the event stream (${res.statusCode}).`,
              ),
        ),
      );
      ws.once('error', (error) =>
        reject(new PinholeError('UNAVAILABLE', `Cannot reach the server at ${baseUrl}: ${error.message}`)),
      );
    });
    socket.on('message', (data) => {
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      try {
        const message = parseEvent(JSON.parse(bytes.toString('utf8')) as unknown);
        if (message) events.fire(message);
      } catch {
        // a malformed frame is dropped; followJob polls as a safety net
      }
    });
  }
  return {
    kind: 'remote',
    call: async <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => {
      let res: Response;
      try {
        res = await fetch(new URL(`api/call/${method}`, baseUrl), {
          method: 'POST',
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: JSON.stringify(params),
        });
      } catch (error) {
        throw new PinholeError('UNAVAILABLE', `Cannot reach the server at ${baseUrl}: ${(error as Error).message}`);
      }
      const body = (await res.json().catch(() => null)) as { ok: boolean; result?: unknown; error?: never } | null;
      if (!body)
        throw new PinholeError('UNAVAILABLE', `The server at ${baseUrl} answered ${res.status} without a body`);
      if (!body.ok) {
        if (res.status === 401)
          throw new PinholeError(
            'UNAUTHORIZED',
            'The server on this data home needs its access token: set PINHOLE_TOKEN.',
          );
        throw deserializeError(body.error!);
      }
      return body.result as ResultOf<M>;
    },
    onEvent: (listener) => events.on(listener),
    close: () => {
      socket?.close();
      events.clear();
      return Promise.resolve();
    },
  };
}

/** `connect` for a command: its data home and version, the token from the environment. */
export function connectForCommand(
  ctx: { dataDir: string; version: string },
  options: { runJobs: ConnectOptions['runJobs']; events: boolean },
): Promise<CoreConnection> {
  return connect({
    dataDir: ctx.dataDir,
    version: ctx.version,
    runJobs: options.runJobs,
    token: process.env['PINHOLE_TOKEN'] ?? null,
    events: options.events,
  });
}
