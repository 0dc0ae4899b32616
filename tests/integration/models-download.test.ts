/**
 * The download job against a local HTTP server (in-process): resume after dropped connections,
 * servers without validators or Range support, verification, redirects and tokens, cancel and
 * pause. The job's own SHA-256 is never trusted: every file is compared with the served bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CanceledError, PinholeError } from '../../src-shared/errors';
import {
  createDownloadJobHandler,
  type DownloadJobParams,
  MemoryTokenStore,
  type DownloadJobDeps,
} from '../../src-main/models/download';
import { PauseRequest } from '../../src-main/queue/job-queue';
import { folderSink, pseudoRandomBytes, startDownloadServer, type DownloadServer } from '../helpers/download-server';
import { makeTempDir } from '../helpers/temp-dir';

const FILE = pseudoRandomBytes(600_000, 7);
const SHA = createHash('sha256').update(FILE).digest('hex');
const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 20, maxRetries: 3, stallTimeoutMs: 5000 };

let temp: ReturnType<typeof makeTempDir>;
let downloads: string;
let models: string;
let servers: DownloadServer[];

beforeEach(() => {
  temp = makeTempDir('pinhole-download-');
  downloads = path.join(temp.dir, 'downloads');
  models = path.join(temp.dir, 'models');
  servers = [];
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  temp.cleanup();
});

async function server(routes: Parameters<typeof startDownloadServer>[0]): Promise<DownloadServer> {
  const s = await startDownloadServer(routes);
  servers.push(s);
  return s;
}

function jobId(): string {
  return `job_${randomBytes(10).toString('hex')}`;
}

type RunOptions = {
  id?: string;
  controller?: AbortController;
  deps?: Partial<DownloadJobDeps>;
  onProgress?: (bytes: number) => void;
};

/** Runs one attempt of the job the way the queue does (params validated by the kind's schema). */
async function runJob(params: Partial<DownloadJobParams> & { url: string }, options: RunOptions = {}) {
  const handler = createDownloadJobHandler({
    home: { downloads },
    tokens: new MemoryTokenStore({}),
    sink: folderSink(models),
    retry: FAST_RETRY,
    ...options.deps,
  });
  const parsed = handler.params.parse({ sha256: null, name: null, expectedBytes: null, adoptPartOf: null, ...params });
  const controller = options.controller ?? new AbortController();
  const progress: { step: number; total: number; metrics?: Record<string, number> | undefined }[] = [];
  const result = await handler.run(
    {
      jobId: options.id ?? jobId(),
      attempt: 1,
      signal: controller.signal,
      throwIfCanceled: () => {
        if (controller.signal.aborted) throw controller.signal.reason as Error;
      },
      progress: (p) => {
        progress.push(p);
        options.onProgress?.(p.step);
      },
      checkpoint: null,
      saveCheckpoint: () => {},
    },
    parsed,
  );
  return { result, progress };
}

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('download job', () => {
  it('resumes with Range requests after dropped connections, with no ETag or Last-Modified, byte-identical', async () => {
    const s = await server({
      '/m.safetensors': { type: 'file', body: FILE, dropAfter: (i) => (i === 0 ? 150_000 : i === 1 ? 200_000 : null) },
    });
    const { result, progress } = await runJob({ url: `${s.origin}/m.safetensors`, sha256: SHA });

    const ranges = s.requests.map((r) => r.range);
    expect(ranges[0]).toBeNull();
    expect(ranges).toHaveLength(3);
    const resumedAt = ranges.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r!)![1]));
    // Each retry asks for what is not on disk yet: never more than the server sent before the cut
    // (bytes still in flight when a socket is destroyed may be lost), never from the start again.
    expect(resumedAt[0]).toBeGreaterThan(0);
    expect(resumedAt[0]).toBeLessThanOrEqual(150_000);
    expect(resumedAt[1]).toBeGreaterThanOrEqual(resumedAt[0]!);
    expect(resumedAt[1]).toBeLessThanOrEqual(resumedAt[0]! + 200_000);

    expect(result).toMatchObject({ sha256: SHA, verified: true, bytes: FILE.length });
    expect(path.dirname(result.file)).toBe(models);
    expect(readFileSync(result.file).equals(FILE)).toBe(true);
    expect(readdirSync(downloads)).toEqual([]);
    const last = progress.at(-1)!;
    expect(last.metrics).toMatchObject({ bytes: FILE.length, totalBytes: FILE.length });
    expect(last.step).toBe(last.total);
  });

  it('starts over when a server ignores Range and answers 200, and the hash still matches', async () => {
    const s = await server({
      '/m.bin': { type: 'file', body: FILE, ignoreRange: true, dropAfter: (i) => (i === 0 ? 250_000 : null) },
    });
    const { result } = await runJob({ url: `${s.origin}/m.bin`, sha256: SHA });
    expect(s.requests[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(result.sha256).toBe(SHA);
    expect(sha256Of(result.file)).toBe(SHA);
    expect(readFileSync(result.file).equals(FILE)).toBe(true);
  });

  it('continues a .part left by an earlier run (re-hashing its prefix), and handles 416 for a complete one', async () => {
    const s = await server({ '/m.bin': { type: 'file', body: FILE } });
    const id = jobId();
    mkdirSync(downloads, { recursive: true });
    writeFileSync(path.join(downloads, `${id}.part`), FILE.subarray(0, 333_333));
    const first = await runJob({ url: `${s.origin}/m.bin`, sha256: SHA }, { id });
    expect(s.requests[0]!.range).toBe('bytes=333333-');
    expect(readFileSync(first.result.file).equals(FILE)).toBe(true);

    // A run that stopped between verifying and handing the file over left it renamed: taken back, not re-fetched.
    const id2 = jobId();
    writeFileSync(path.join(downloads, `${id2}-m.bin`), FILE);
    const second = await runJob({ url: `${s.origin}/m.bin`, sha256: SHA, name: 'again' }, { id: id2 });
    expect(s.requests[1]!.range).toBe(`bytes=${FILE.length}-`);
    expect(readFileSync(second.result.file).equals(FILE)).toBe(true);
  });

  it('drops a stalled connection after the stall timeout and resumes where the bytes stopped', async () => {
    const s = await server({ '/m.bin': { type: 'file', body: FILE, stallAfter: (i) => (i === 0 ? 100_000 : null) } });
    const { result } = await runJob(
      { url: `${s.origin}/m.bin`, sha256: SHA },
      { deps: { retry: { ...FAST_RETRY, stallTimeoutMs: 300 } } },
    );
    expect(s.requests.map((r) => r.range)).toEqual([null, 'bytes=100000-']);
    expect(readFileSync(result.file).equals(FILE)).toBe(true);
  });

  it('reports bytes, total, a smoothed speed and an ETA', async () => {
    const body = pseudoRandomBytes(450_000, 5);
    const s = await server({ '/m.bin': { type: 'file', body, bytesPerSecond: 300_000 } });
    const { progress } = await runJob({ url: `${s.origin}/m.bin` });
    const middle = progress.filter((p) => p.step > 150_000 && p.step < 400_000);
    expect(middle.length).toBeGreaterThan(2);
    for (const p of middle) {
      expect(p.total).toBe(body.length);
      expect(p.metrics!['bytesPerSecond']).toBeGreaterThan(100_000);
      expect(p.metrics!['bytesPerSecond']).toBeLessThan(900_000);
      // ETA from the smoothed speed: roughly the bytes left at ~300 kB/s.
      const expected = ((body.length - p.step) / 300_000) * 1000;
      expect(p.metrics!['etaMs']).toBeGreaterThan(expected / 3);
      expect(p.metrics!['etaMs']).toBeLessThan(expected * 3);
    }
  });

  it('rejects a wrong hash and removes the file', async () => {
    const s = await server({ '/m.bin': { type: 'file', body: FILE } });
    const wrong = createHash('sha256').update('something else').digest('hex');
    const error = await runJob({ url: `${s.origin}/m.bin`, sha256: wrong }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PinholeError);
    expect((error as PinholeError).code).toBe('IMPORT_REJECTED');
    expect((error as PinholeError).message).toContain(SHA);
    expect((error as PinholeError).message).toContain('deleted');
    expect(readdirSync(downloads)).toEqual([]);
    expect(existsSync(models) ? readdirSync(models) : []).toEqual([]);
  });

  it('rejects a size other than the expected one and removes the file', async () => {
    const s = await server({ '/m.bin': { type: 'file', body: FILE } });
    const error = await runJob({ url: `${s.origin}/m.bin`, expectedBytes: FILE.length + 1 }).catch((e: unknown) => e);
    expect((error as PinholeError).code).toBe('IMPORT_REJECTED');
    expect(readdirSync(downloads)).toEqual([]);
  });

  it('downloads without a hash as unverified and reports the SHA-256 it computed', async () => {
    const s = await server({ '/dir/My%20Model.safetensors': { type: 'file', body: FILE } });
    const { result } = await runJob({ url: `${s.origin}/dir/My%20Model.safetensors` });
    expect(result).toMatchObject({ sha256: SHA, verified: false });
    expect(path.basename(result.file)).toBe('0-My_Model.safetensors');
  });

  it('gives up after its retry budget with a clear error, keeping the bytes for a resume', async () => {
    const s = await server({ '/m.bin': { type: 'file', body: FILE, dropAfter: (i) => (i === 0 ? 100_000 : 0) } });
    const error = await runJob({ url: `${s.origin}/m.bin`, sha256: SHA }).catch((e: unknown) => e);
    expect((error as PinholeError).code).toBe('UNAVAILABLE');
    expect((error as PinholeError).message).toMatch(/failed \d+ times in a row/);
    // The first request (bytes arrived, so the budget starts afresh) and maxRetries retries without progress.
    expect(s.requests.length).toBe(1 + FAST_RETRY.maxRetries);
    const parts = readdirSync(downloads);
    expect(parts).toHaveLength(1);
    expect(readFileSync(path.join(downloads, parts[0]!)).equals(FILE.subarray(0, 100_000))).toBe(true);
  });

  it('retries 503 and maps 404 and 403 to clear errors', async () => {
    const s = await server({
      '/busy': { type: 'status', status: 503 },
      '/gone': { type: 'status', status: 404 },
      '/gated': { type: 'status', status: 403 },
    });
    const busy = (await runJob({ url: `${s.origin}/busy` }).catch((e: unknown) => e)) as PinholeError;
    expect(busy.code).toBe('UNAVAILABLE');
    expect(s.requests.filter((r) => r.path === '/busy')).toHaveLength(FAST_RETRY.maxRetries + 1);
    const gone = (await runJob({ url: `${s.origin}/gone` }).catch((e: unknown) => e)) as PinholeError;
    expect(gone.code).toBe('NOT_FOUND');
    const gated = (await runJob({ url: `${s.origin}/gated` }).catch((e: unknown) => e)) as PinholeError;
    expect(gated.code).toBe('UNAUTHORIZED');
    expect(gated.message).toMatch(/token/);
  });

  it('waits as long as a 429 Retry-After asks (within the longest backoff), then continues', async () => {
    const s = await server({
      '/m.bin': {
        type: 'file',
        body: FILE,
        failWith: (i) => (i === 0 ? { status: 429, headers: { 'Retry-After': '1' } } : null),
      },
    });
    const started = Date.now();
    const { result } = await runJob(
      { url: `${s.origin}/m.bin`, sha256: SHA },
      { deps: { retry: { ...FAST_RETRY, baseDelayMs: 1, maxDelayMs: 5000 } } },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(s.requests).toHaveLength(2);
    expect(readFileSync(result.file).equals(FILE)).toBe(true);
  });

  it('requires HTTPS off loopback, for the URL and for every redirect', async () => {
    const handler = createDownloadJobHandler({
      home: { downloads },
      tokens: new MemoryTokenStore({}),
      sink: folderSink(models),
    });
    const base = { sha256: null, name: null, expectedBytes: null, adoptPartOf: null };
    const refused = handler.params.safeParse({ ...base, url: 'http://example.com/m.safetensors' });
    expect(refused.success).toBe(false);
    expect(JSON.stringify(refused.error?.issues)).toMatch(/HTTPS/);
    for (const url of ['https://example.com/m', 'http://localhost:8/m', 'http://127.0.0.9/m', 'http://[::1]:80/m']) {
      expect(handler.params.safeParse({ ...base, url }).success).toBe(true);
    }
    expect(handler.params.safeParse({ ...base, url: 'ftp://example.com/m' }).success).toBe(false);

    const s = await server({ '/hop': { type: 'redirect', location: 'http://example.invalid/m.bin' } });
    const error = (await runJob({ url: `${s.origin}/hop` }).catch((e: unknown) => e)) as PinholeError;
    expect(error.code).toBe('INVALID_PARAMS');
    expect(error.message).toMatch(/HTTPS/);
  });

  it('sends the token only to its own host: not across a redirect to another host', async () => {
    const cdn = await server({ '/blob': { type: 'file', body: FILE } });
    const hub = await server({
      '/resolve': { type: 'redirect', location: '/resolve2' },
      // Same server, another host name: a different host as far as tokens go.
      '/resolve2': { type: 'redirect', location: `http://localhost:${cdn.port}/blob`, status: 307 },
    });
    const tokens = new MemoryTokenStore({});
    await tokens.set('127.0.0.1', 'secret-token');
    const { result } = await runJob({ url: `${hub.origin}/resolve`, sha256: SHA }, { deps: { tokens } });
    expect(readFileSync(result.file).equals(FILE)).toBe(true);
    expect(hub.requests.map((r) => r.authorization)).toEqual(['Bearer secret-token', 'Bearer secret-token']);
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0]!.host).toBe(`localhost:${cdn.port}`);
    expect(cdn.requests[0]!.authorization).toBeNull();
  });

  it('deletes the .part on cancel and keeps it on pause or shutdown', async () => {
    const body = pseudoRandomBytes(400_000, 3);
    const s = await server({ '/slow': { type: 'file', body, bytesPerSecond: 400_000 } });
    const attempt = async (reason: Error) => {
      const controller = new AbortController();
      const id = jobId();
      const error = await runJob(
        { url: `${s.origin}/slow` },
        { id, controller, onProgress: (bytes) => bytes > 50_000 && controller.abort(reason) },
      ).catch((e: unknown) => e);
      return { error, part: path.join(downloads, `${id}.part`) };
    };
    const canceled = await attempt(new CanceledError());
    expect(canceled.error).toBeInstanceOf(CanceledError);
    expect(existsSync(canceled.part)).toBe(false);

    const paused = await attempt(new PauseRequest());
    expect(paused.error).toBeInstanceOf(PauseRequest);
    const kept = readFileSync(paused.part);
    expect(kept.length).toBeGreaterThan(50_000);
    expect(kept.equals(body.subarray(0, kept.length))).toBe(true);

    const shutdown = await attempt(new PinholeError('INTERRUPTED', 'Shutting down'));
    expect((shutdown.error as PinholeError).code).toBe('INTERRUPTED');
    expect(existsSync(shutdown.part)).toBe(true);
  });

  it('checks free disk space against the size the server announces before writing', async () => {
    const s = await server({ '/m.bin': { type: 'file', body: FILE } });
    const error = (await runJob(
      { url: `${s.origin}/m.bin` },
      { deps: { freeBytes: () => Promise.resolve(1000) } },
    ).catch((e: unknown) => e)) as PinholeError;
    expect(error.code).toBe('DATA_HOME_UNAVAILABLE');
    expect(error.message).toMatch(/free disk space/);
    expect(readdirSync(downloads)).toEqual([]);
  });
});
