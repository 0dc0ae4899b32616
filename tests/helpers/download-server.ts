/**
 * A local HTTP file server for download tests, with the misbehaviour real servers show:
 * connections dropped part-way, Range ignored (200 every time), throttled bodies, redirects to
 * another host, errors. It never sends ETag or Last-Modified, and records every request.
 */
import { mkdir, rename } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { DownloadedModelSink } from '../../src-main/models/download';

export type ServedFile = {
  body: Buffer;
  /** Per request index (0-based): cut the connection after sending this many body bytes. */
  dropAfter?: (requestIndex: number) => number | null;
  /** Per request index: send this many body bytes, then nothing more (the connection stays open). */
  stallAfter?: (requestIndex: number) => number | null;
  /** Per request index: answer with this status (and headers) and no body instead of the file. */
  failWith?: (requestIndex: number) => { status: number; headers?: Record<string, string> } | null;
  /** Answer 200 with the whole file even to a Range request. */
  ignoreRange?: boolean;
  /** Body bytes per second (in 16 KiB chunks); unthrottled when absent. */
  bytesPerSecond?: number;
};

export type Route =
  | ({ type: 'file' } & ServedFile)
  | { type: 'redirect'; location: string; status?: number }
  | { type: 'status'; status: number };

export type RecordedRequest = { path: string; host: string; range: string | null; authorization: string | null };

export type DownloadServer = {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  requests: RecordedRequest[];
  routes: Map<string, Route>;
  close(): Promise<void>;
};

const CHUNK = 16 * 1024;

export async function startDownloadServer(routes: Record<string, Route> = {}): Promise<DownloadServer> {
  const table = new Map(Object.entries(routes));
  const requests: RecordedRequest[] = [];
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const pathOnly = (req.url ?? '/').split('?')[0]!;
    requests.push({
      path: pathOnly,
      host: req.headers.host ?? '',
      range: req.headers.range ?? null,
      authorization: req.headers.authorization ?? null,
    });
    const index = counts.get(pathOnly) ?? 0;
    counts.set(pathOnly, index + 1);
    const route = table.get(pathOnly);
    if (!route) return void res.writeHead(404).end();
    if (route.type === 'status') return void res.writeHead(route.status).end();
    if (route.type === 'redirect') return void res.writeHead(route.status ?? 302, { Location: route.location }).end();
    void serveFile(req, res, route, index);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    routes: table,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function serveFile(req: IncomingMessage, res: ServerResponse, file: ServedFile, index: number): Promise<void> {
  const failure = file.failWith?.(index) ?? null;
  if (failure) {
    res.writeHead(failure.status, failure.headers ?? {}).end();
    return;
  }
  const size = file.body.length;
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  let start = 0;
  if (match && !file.ignoreRange) {
    start = Number(match[1]);
    if (start >= size) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, {
      'Content-Range': `bytes ${start}-${size - 1}/${size}`,
      'Content-Length': String(size - start),
      'Accept-Ranges': 'bytes',
    });
  } else {
    res.writeHead(200, { 'Content-Length': String(size), 'Accept-Ranges': file.ignoreRange ? 'none' : 'bytes' });
  }
  const dropAt = file.dropAfter?.(index) ?? null;
  const stallAt = file.stallAfter?.(index) ?? null;
  let sent = 0;
  for (let at = start; at < size; at += CHUNK) {
    if (res.destroyed) return;
    let chunk = file.body.subarray(at, Math.min(size, at + CHUNK));
    if (stallAt !== null && sent + chunk.length > stallAt) {
      chunk = chunk.subarray(0, Math.max(0, stallAt - sent));
      if (chunk.length > 0) res.write(chunk);
      // Silent until the client gives up on us.
      return;
    }
    if (dropAt !== null && sent + chunk.length > dropAt) {
      chunk = chunk.subarray(0, Math.max(0, dropAt - sent));
      if (chunk.length > 0) await new Promise<void>((r) => res.write(chunk, () => r()));
      // Give the bytes a moment to leave, then cut the connection mid-body.
      await new Promise((r) => setTimeout(r, 20));
      req.socket.destroy();
      return;
    }
    const flushed = new Promise<void>((r) => res.write(chunk, () => r()));
    sent += chunk.length;
    await flushed;
    if (file.bytesPerSecond) await new Promise((r) => setTimeout(r, (chunk.length / file.bytesPerSecond!) * 1000));
  }
  res.end();
}

/** Deterministic pseudo-random bytes (xorshift), so a test file is the same on every run. */
export function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A small LoRA file in kohya's naming (safetensors, F32 tensors of pseudo-random bytes): the
 * library recognises it as a model from its header, and its size is whatever the test needs.
 */
export function tinyLoraFile(approxBytes: number, seed = 1): Buffer {
  const columns = Math.max(1, Math.floor(approxBytes / 2 / 4 / 4));
  const tensorBytes = 4 * columns * 4;
  const header: Record<string, unknown> = {
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': {
      dtype: 'F32',
      shape: [4, columns],
      data_offsets: [0, tensorBytes],
    },
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': {
      dtype: 'F32',
      shape: [columns, 4],
      data_offsets: [tensorBytes, 2 * tensorBytes],
    },
  };
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  // Small finite floats rather than raw random bits: a reader that looks at values sees no NaNs.
  const values = new Float32Array(4 * columns * 2);
  const noise = pseudoRandomBytes(values.length, seed);
  for (let i = 0; i < values.length; i++) values[i] = (noise[i]! - 128) / 4096;
  return Buffer.concat([prefix, Buffer.from(json, 'utf8'), Buffer.from(values.buffer)]);
}

/** A stand-in for the models library: moves each verified download into `dir` under its URL's file name. */
export function folderSink(dir: string): DownloadedModelSink & { received: string[] } {
  const received: string[] = [];
  return {
    received,
    onVerified: async (file, info) => {
      await mkdir(dir, { recursive: true });
      const target = path.join(dir, `${received.length}-${info.fileName}`);
      await rename(file, target);
      received.push(target);
      return { file: target };
    },
  };
}
