/**
 * Headless mode's transport: the built renderer, the API (POST /api/call/<method>), uploads
 * (POST /api/upload), library media (GET /media/…) and events (WebSocket /api/events), all
 * behind the request guard. The same contract and dispatcher as the Electron IPC bridge.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { DatasetName, dispatchCall, MODEL_UPLOAD_LIMITS, ModelName, type CallResponse } from '../../src-shared/api';
import { PinholeError, serializeError } from '../../src-shared/errors';
import type { Studio } from '../studio';
import { checkRequest, isLoopbackAddress, TOKEN_COOKIE, type GuardPolicy } from './request-guard';
import { contentTypeOf, resolveStaticPath, sendFile } from './static-files';
import { receiveUpload } from './upload';

export type ServerOptions = {
  host: string;
  port: number;
  token: string | null;
  /** The built renderer (dist/renderer). */
  rendererDir: string;
};

export type RunningServer = {
  url: string;
  port: number;
  close(): Promise<void>;
};

// Big enough for an inline init image and mask (the contract caps each at 48 M characters).
const MAX_JSON_BYTES = 100 * 1024 * 1024;
const SHA = /^[0-9a-f]{64}$/;

/** Content Security Policy for the served renderer. */
export const SERVER_CSP =
  "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; " +
  "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const SECURITY_HEADERS = {
  'Content-Security-Policy': SERVER_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export async function startServer(studio: Studio, options: ServerOptions): Promise<RunningServer> {
  const loopback = isLoopbackAddress(options.host);
  if (!loopback && !options.token) {
    throw new PinholeError(
      'UNAUTHORIZED',
      `Refusing to listen on ${options.host} without an access token: anyone on the network could use this studio. ` +
        'Pass --token (or set PINHOLE_TOKEN), or listen on 127.0.0.1.',
    );
  }
  const policy: GuardPolicy = { port: options.port, token: options.token, loopback };
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const offEvents = studio.onEvent((message) => {
    const frame = JSON.stringify(message);
    for (const socket of sockets) if (socket.readyState === socket.OPEN) socket.send(frame);
  });

  const guard = (req: IncomingMessage, url: URL) =>
    checkRequest(
      {
        host: req.headers.host,
        origin: req.headers.origin,
        authorization: req.headers.authorization,
        cookie: req.headers.cookie,
        queryToken: url.searchParams.get('token'),
      },
      policy,
    );

  const server: Server = createServer((req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: serializeError(error) });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const verdict = guard(req, url);
    if (!verdict.ok) {
      sendJson(res, verdict.status, {
        ok: false,
        error: {
          name: 'PinholeError',
          code: verdict.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN',
          message: `Refused: ${verdict.reason}`,
        },
      });
      return;
    }
    if (verdict.viaQueryToken) {
      // Trade the token in the address bar for an HttpOnly cookie and drop it from the URL.
      res.setHeader(
        'Set-Cookie',
        `${TOKEN_COOKIE}=${encodeURIComponent(options.token ?? '')}; HttpOnly; SameSite=Strict; Path=/`,
      );
      url.searchParams.delete('token');
      res.writeHead(303, { Location: url.pathname + url.search }).end();
      return;
    }
    const { pathname } = url;
    if (pathname.startsWith('/api/call/')) {
      if (req.method !== 'POST') return methodNotAllowed(res);
      const method = decodeURIComponent(pathname.slice('/api/call/'.length));
      let params: unknown;
      try {
        params = await readJson(req);
      } catch (error) {
        sendJson(res, 400, { ok: false, error: serializeError(error) });
        return;
      }
      const response = await dispatchCall(studio.api, method, params);
      sendJson(res, statusFor(response), response);
      return;
    }
    if (pathname === '/api/upload' && url.searchParams.get('target') === 'models') {
      if (req.method !== 'POST') return methodNotAllowed(res);
      await receiveModelUpload(req, res, url);
      return;
    }
    if (pathname === '/api/upload') {
      if (req.method !== 'POST') return methodNotAllowed(res);
      const dataset = DatasetName.safeParse(url.searchParams.get('dataset') ?? '');
      if (!dataset.success) {
        req.resume();
        sendJson(res, 400, {
          ok: false,
          error: { name: 'PinholeError', code: 'INVALID_PARAMS', message: 'Upload needs ?dataset=NAME' },
        });
        return;
      }
      try {
        const { folder } = await receiveUpload(req, studio.home.uploads);
        sendJson(res, 200, { ok: true, result: studio.importUploads(dataset.data, folder) });
      } catch (error) {
        const wire = serializeError(error);
        sendJson(res, wire.code === 'PAYLOAD_TOO_LARGE' ? 413 : 400, { ok: false, error: wire });
      }
      return;
    }
    if (pathname.startsWith('/media/training/')) {
      // /media/training/<job id>/<sample-i | checkpoint-step>: resolved from the job's artifacts.
      const [, , , jobId, name, extra] = pathname.split('/');
      if (!jobId || !name || extra !== undefined || !/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) return notFound(res);
      const media = studio.trainingMedia(jobId, name);
      if (!media) return notFound(res);
      // Checkpoints are overwritten in place on a resumed run: no long-lived caching.
      sendFile(res, media.path, media.contentType, 'private, no-cache');
      return;
    }
    if (pathname.startsWith('/media/')) {
      const [, , kind, sha] = pathname.split('/');
      if ((kind !== 'images' && kind !== 'thumbs' && kind !== 'inputs') || !sha || !SHA.test(sha)) return notFound(res);
      const media = studio.mediaFile(kind, sha);
      if (!media) return notFound(res);
      sendFile(res, media.path, media.contentType, 'private, max-age=31536000, immutable');
      return;
    }
    if (pathname.startsWith('/api/')) return notFound(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res);
    const file = resolveStaticPath(options.rendererDir, pathname);
    if (!file) return notFound(res);
    sendFile(res, file, contentTypeOf(file), file.endsWith('.html') ? 'no-cache' : 'public, max-age=3600');
  }

  /** POST /api/upload?target=models[&name=N]: model files into the models library (multi-gigabyte limits). */
  async function receiveModelUpload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const rawName = url.searchParams.get('name');
    const name = rawName === null ? undefined : ModelName.safeParse(rawName);
    if (name !== undefined && !name.success) {
      req.resume();
      sendJson(res, 400, {
        ok: false,
        error: { name: 'PinholeError', code: 'INVALID_PARAMS', message: `name: ${name.error.issues[0]?.message}` },
      });
      return;
    }
    try {
      const { folder } = await receiveUpload(req, studio.home.uploads, MODEL_UPLOAD_LIMITS);
      sendJson(res, 200, { ok: true, result: studio.importModelUploads(folder, name?.data) });
    } catch (error) {
      const wire = serializeError(error);
      sendJson(res, wire.code === 'PAYLOAD_TOO_LARGE' ? 413 : 400, { ok: false, error: wire });
    }
  }

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const verdict = guard(req, url);
    if (!verdict.ok || url.pathname !== '/api/events') {
      const status = verdict.ok ? '404 Not Found' : verdict.status === 401 ? '401 Unauthorized' : '403 Forbidden';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      // Events flow one way; anything the page sends is ignored.
      ws.on('message', () => undefined);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  policy.port = port;
  const displayHost = options.host.includes(':') ? `[${options.host}]` : options.host;

  return {
    url: `http://${displayHost}:${port}/`,
    port,
    close: async () => {
      offEvents();
      for (const socket of sockets) socket.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function statusFor(response: CallResponse): number {
  if (response.ok) return 200;
  switch (response.error.code) {
    case 'INVALID_PARAMS':
    case 'UNKNOWN_METHOD':
      return 400;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'INTERNAL':
      return 500;
    default:
      return 422;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function notFound(res: ServerResponse): void {
  sendJson(res, 404, { ok: false, error: { name: 'PinholeError', code: 'NOT_FOUND', message: 'Not found' } });
}

function methodNotAllowed(res: ServerResponse): void {
  sendJson(res, 405, {
    ok: false,
    error: { name: 'PinholeError', code: 'INVALID_PARAMS', message: 'Method not allowed' },
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) {
    // Only JSON: a form post from a foreign page cannot become an API call.
    throw new PinholeError('INVALID_PARAMS', 'API calls must be sent as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) throw new PinholeError('PAYLOAD_TOO_LARGE', 'Request body over 100 MB');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new PinholeError('INVALID_PARAMS', 'Request body is not valid JSON');
  }
}
