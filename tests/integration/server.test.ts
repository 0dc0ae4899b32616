import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../src-main/server';
import { createStudio, type Studio } from '../../src-main/studio';
import { writeNoiseImage } from '../helpers/images';
import { makeTempDir } from '../helpers/temp-dir';

/** A raw HTTP request, so tests control Host and Origin exactly as an attacker's browser would send them. */
function raw(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        setHost: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function upgrade(port: number, headers: Record<string, string>): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/events`, { headers, origin: headers['Origin'] });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => undefined);
  });
}

function multipart(files: { name: string; data: Buffer }[]): { body: Buffer; type: string } {
  const boundary = '----pinhole' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
    );
    parts.push(f.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

describe('headless server on loopback', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let studio: Studio;
  let server: RunningServer;
  let host: string;

  beforeAll(async () => {
    tmp = makeTempDir('pinhole-server-');
    const renderer = path.join(tmp.dir, 'renderer');
    mkdirSync(renderer);
    writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>Pinhole</title>');
    writeFileSync(path.join(tmp.dir, 'secret.txt'), 'top secret');
    studio = createStudio({ dataDir: path.join(tmp.dir, 'home'), mode: 'headless', version: 'test' });
    server = await startServer(studio, { host: '127.0.0.1', port: 0, token: null, rendererDir: renderer });
    host = `127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close();
    await studio.dispose();
    tmp.cleanup();
  });

  const call = (method: string, params: unknown, headers: Record<string, string> = {}) =>
    raw(server.port, {
      method: 'POST',
      path: `/api/call/${method}`,
      headers: { Host: host, 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(params),
    });

  it('answers API calls from the same origin and from non-browser clients', async () => {
    const info = await call('app.info', {});
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body)).toMatchObject({ ok: true, result: { mode: 'headless', version: 'test' } });
    const same = await call('datasets.list', {}, { Origin: `http://${host}` });
    expect(same.status).toBe(200);
    const viaLocalhost = await call(
      'datasets.list',
      {},
      { Host: `localhost:${server.port}`, Origin: `http://localhost:${server.port}` },
    );
    expect(viaLocalhost.status).toBe(200);
  });

  it('refuses DNS-rebinding hosts and foreign or null origins, for HTTP and WebSocket alike', async () => {
    expect((await call('datasets.list', {}, { Host: `evil.example:${server.port}` })).status).toBe(403);
    expect((await call('datasets.create', { name: 'x' }, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await call('datasets.create', { name: 'x' }, { Origin: 'null' })).status).toBe(403);
    expect((await raw(server.port, { path: '/', headers: { Host: 'rebind.attacker.com' } })).status).toBe(403);
    expect(await upgrade(server.port, { Host: host })).toBe('open');
    expect(await upgrade(server.port, { Host: host, Origin: `http://${host}` })).toBe('open');
    expect(await upgrade(server.port, { Host: 'evil.example' })).toBe(403);
    expect(await upgrade(server.port, { Host: host, Origin: 'http://evil.example' })).toBe(403);
    expect(await upgrade(server.port, { Host: host, Origin: 'null' })).toBe(403);
    // Nothing was created by the refused calls.
    expect(JSON.parse((await call('datasets.list', {})).body).result).toEqual([]);
  });

  it('rejects unknown methods, malformed params and non-JSON bodies with clear errors', async () => {
    const unknown = await call('system.exec', {});
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).error.code).toBe('UNKNOWN_METHOD');
    const bad = await call('datasets.create', { name: '', extra: 1 });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.message).toMatch(/Invalid params for datasets.create/);
    const form = await raw(server.port, {
      method: 'POST',
      path: '/api/call/datasets.list',
      headers: { Host: host, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'a=b',
    });
    expect(form.status).toBe(400);
  });

  it('serves no path outside its folders', async () => {
    for (const p of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/media/images/../../secret.txt',
      '/media/images/abc',
      '/media/x/' + 'a'.repeat(64),
    ]) {
      const res = await raw(server.port, { path: p, headers: { Host: host } });
      expect(res.body, p).not.toContain('top secret');
      expect([403, 404], p).toContain(res.status);
    }
    const index = await raw(server.port, { path: '/train', headers: { Host: host } });
    expect(index.status).toBe(200);
    expect(index.headers['content-security-policy']).toMatch(/default-src 'self'/);
  });

  it('streams uploads into an import job and serves the imported media', async () => {
    const photo = await writeNoiseImage(tmp.dir, 'up.jpg');
    const { body, type } = multipart([
      { name: 'up.jpg', data: (await import('node:fs')).readFileSync(photo) },
      { name: '../../evil.jpg', data: Buffer.from('not an image') },
    ]);
    const res = await raw(server.port, {
      method: 'POST',
      path: '/api/upload?dataset=Uploads',
      headers: { Host: host, 'Content-Type': type },
      body,
    });
    expect(res.status).toBe(200);
    const { jobId } = JSON.parse(res.body).result as { jobId: string };
    const job = await studio.waitForJob(jobId);
    expect(job.state).toBe('succeeded');
    const results = JSON.parse((await call('import.results', { jobId })).body).result as {
      file: string;
      status: string;
      sha256?: string;
    }[];
    expect(results.map((r) => [r.file, r.status])).toEqual([
      ['evil.jpg', 'rejected'],
      ['up.jpg', 'accepted'],
    ]);
    const thumb = await raw(server.port, { path: `/media/thumbs/${results[1]!.sha256!}`, headers: { Host: host } });
    expect(thumb.status).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/webp');
    // The upload batch is removed once its job has ended.
    expect(readdirSync(studio.home.uploads)).toEqual([]);
  });

  it('refuses an upload over the per-request limit before reading it', async () => {
    const res = await raw(server.port, {
      method: 'POST',
      path: '/api/upload?dataset=Big',
      headers: {
        Host: host,
        'Content-Type': 'multipart/form-data; boundary=x',
        'Content-Length': String(3 * 1024 ** 3),
      },
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('headless server off loopback', () => {
  it('refuses to start on another address without a token', async () => {
    const tmp = makeTempDir('pinhole-server-');
    const studio = createStudio({ dataDir: tmp.dir, mode: 'headless', version: 'test', runJobs: 'none' });
    await expect(
      startServer(studio, { host: '0.0.0.0', port: 0, token: null, rendererDir: tmp.dir }),
    ).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await studio.dispose();
    tmp.cleanup();
  });

  it('with a token, answers 401 to every request without it, HTTP and WebSocket', async () => {
    const tmp = makeTempDir('pinhole-server-');
    writeFileSync(path.join(tmp.dir, 'index.html'), '<!doctype html>');
    const studio = createStudio({
      dataDir: path.join(tmp.dir, 'home'),
      mode: 'headless',
      version: 'test',
      runJobs: 'none',
    });
    const server = await startServer(studio, { host: '0.0.0.0', port: 0, token: 'tok-123', rendererDir: tmp.dir });
    const host = `192.0.2.10:${server.port}`;
    const post = (headers: Record<string, string>) =>
      raw(server.port, {
        method: 'POST',
        path: '/api/call/app.info',
        headers: { Host: host, 'Content-Type': 'application/json', ...headers },
        body: '{}',
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ Authorization: 'Bearer nope' })).status).toBe(401);
    expect((await post({ Authorization: 'Bearer tok-123' })).status).toBe(200);
    expect((await raw(server.port, { path: '/', headers: { Host: host } })).status).toBe(401);
    expect((await raw(server.port, { path: `/media/thumbs/${'a'.repeat(64)}`, headers: { Host: host } })).status).toBe(
      401,
    );
    expect(await upgrade(server.port, { Host: host })).toBe(401);
    expect(await upgrade(server.port, { Host: host, Authorization: 'Bearer tok-123' })).toBe('open');
    // Opening the page with ?token= trades it for an HttpOnly cookie and drops it from the URL.
    const login = await raw(server.port, { path: '/?token=tok-123', headers: { Host: host } });
    expect(login.status).toBe(303);
    expect(login.headers['location']).toBe('/');
    expect(String(login.headers['set-cookie'])).toMatch(/pinhole_token=tok-123; HttpOnly; SameSite=Strict/);
    expect((await post({ Cookie: 'pinhole_token=tok-123' })).status).toBe(200);
    await server.close();
    await studio.dispose();
    tmp.cleanup();
  });
});
