import { describe, expect, it } from 'vitest';
import { checkRequest, isLoopbackAddress, isLoopbackHost } from '../../src-main/server';
import { resolveStaticPath } from '../../src-main/server/static-files';
import { safeFileName } from '../../src-main/server/upload';
import { makeTempDir } from '../helpers/temp-dir';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const loopback = { port: 7860, token: null, loopback: true };
const req = (over: Partial<Parameters<typeof checkRequest>[0]>) => ({
  host: '127.0.0.1:7860',
  origin: undefined,
  authorization: undefined,
  cookie: undefined,
  queryToken: null,
  ...over,
});

describe('request guard', () => {
  it('knows the loopback names, with and without ports', () => {
    for (const h of [
      'localhost',
      'localhost:7860',
      '127.0.0.1',
      '127.0.0.1:1',
      '127.45.6.7:80',
      '[::1]',
      '[::1]:7860',
      'LOCALHOST',
    ])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of [
      'evil.com',
      'localhost.evil.com',
      '127.0.0.1.evil.com',
      '128.0.0.1',
      '0.0.0.0',
      '[::2]',
      '127.0.0.256',
      '10.0.0.1:7860',
    ])
      expect(isLoopbackHost(h), h).toBe(false);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('0.0.0.0')).toBe(false);
  });

  it('refuses a foreign Host on loopback (DNS rebinding)', () => {
    expect(checkRequest(req({ host: 'attacker.example:7860' }), loopback)).toMatchObject({ ok: false, status: 403 });
    expect(checkRequest(req({ host: undefined }), loopback)).toMatchObject({ ok: false, status: 403 });
  });

  it('refuses foreign and null Origins (CSRF), accepts same-origin and no Origin', () => {
    expect(checkRequest(req({}), loopback)).toMatchObject({ ok: true });
    expect(checkRequest(req({ origin: 'http://127.0.0.1:7860' }), loopback)).toMatchObject({ ok: true });
    expect(checkRequest(req({ host: 'localhost:7860', origin: 'http://localhost:7860' }), loopback)).toMatchObject({
      ok: true,
    });
    for (const origin of [
      'null',
      'http://evil.com',
      'http://127.0.0.1:9999',
      'http://localhost:7860',
      'file://',
      'chrome-extension://abc',
      'garbage',
    ])
      expect(checkRequest(req({ origin }), loopback), origin).toMatchObject({ ok: false, status: 403 });
  });

  it('requires the token when one is set: bearer, cookie, or the query once', () => {
    const policy = { port: 7860, token: 's3cret', loopback: false };
    const off = (o: Partial<Parameters<typeof checkRequest>[0]>) => req({ host: '192.168.1.5:7860', ...o });
    expect(checkRequest(off({}), policy)).toMatchObject({ ok: false, status: 401 });
    expect(checkRequest(off({ authorization: 'Bearer wrong' }), policy)).toMatchObject({ ok: false, status: 401 });
    expect(checkRequest(off({ authorization: 'Bearer s3cret' }), policy)).toMatchObject({
      ok: true,
      viaQueryToken: false,
    });
    expect(checkRequest(off({ cookie: 'a=b; pinhole_token=s3cret' }), policy)).toMatchObject({ ok: true });
    expect(checkRequest(off({ queryToken: 's3cret' }), policy)).toMatchObject({ ok: true, viaQueryToken: true });
    expect(checkRequest(off({ authorization: 'Bearer s3cret', origin: 'http://evil.com' }), policy)).toMatchObject({
      ok: false,
      status: 403,
    });
  });
});

describe('static files', () => {
  it('never serves a path outside the renderer folder', () => {
    const { dir, cleanup } = makeTempDir();
    const root = path.join(dir, 'renderer');
    mkdirSync(path.join(root, 'assets'), { recursive: true });
    writeFileSync(path.join(root, 'index.html'), '<html>');
    writeFileSync(path.join(root, 'assets', 'a.js'), '1');
    writeFileSync(path.join(dir, 'secret.txt'), 'no');
    expect(resolveStaticPath(root, '/')).toBe(path.join(root, 'index.html'));
    expect(resolveStaticPath(root, '/assets/a.js')).toBe(path.join(root, 'assets', 'a.js'));
    expect(resolveStaticPath(root, '/gallery')).toBe(path.join(root, 'index.html'));
    for (const bad of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..\\secret.txt',
      '/%00',
      '/missing.js',
      '/%E0%A4%A',
    ])
      expect(resolveStaticPath(root, bad), bad).toBeNull();
    cleanup();
  });

  it('makes upload names safe and unique', () => {
    const taken = new Set<string>();
    expect(safeFileName('../../etc/passwd', taken)).toBe('passwd');
    expect(safeFileName('passwd', taken)).toBe('passwd (2)');
    expect(safeFileName('C:\\photos\\a.jpg', taken)).toBe('a.jpg');
    expect(safeFileName('..', taken)).toBe('upload');
    expect(safeFileName('a\u0001b.png', taken)).toBe('a_b.png');
  });
});
