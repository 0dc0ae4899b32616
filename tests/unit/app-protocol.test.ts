import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const electron = vi.hoisted(() => ({
  handlers: new Map<string, (request: Request) => Response | Promise<Response>>(),
  privileged: [] as unknown[],
  fetch: vi.fn<(url: string) => Promise<Response>>(),
}));

vi.mock('electron', () => ({
  protocol: {
    registerSchemesAsPrivileged: (schemes: unknown[]) => electron.privileged.push(...schemes),
    handle: (scheme: string, handler: (request: Request) => Response | Promise<Response>) =>
      electron.handlers.set(scheme, handler),
  },
  net: { fetch: electron.fetch },
}));

import {
  contentTypeOf,
  handleProtocols,
  registerPrivilegedSchemes,
  resolveAppAsset,
  resolveMedia,
  resolveTrainingMedia,
  type MediaSource,
} from '../../src-main/app/protocol';
import { CONTENT_SECURITY_POLICY } from '../../src-main/app/security';

const root = path.resolve('/opt/pinhole/dist/renderer');
const SHA = 'a'.repeat(64);

describe('resolveAppAsset', () => {
  it('serves files inside the renderer folder', () => {
    expect(resolveAppAsset(root, 'pinhole-app://app/index.html')).toBe(path.join(root, 'index.html'));
    expect(resolveAppAsset(root, 'pinhole-app://app/assets/main-abc.js')).toBe(
      path.join(root, 'assets', 'main-abc.js'),
    );
    expect(resolveAppAsset(root, 'pinhole-app://app/assets/a%20b.css?v=1#x')).toBe(
      path.join(root, 'assets', 'a b.css'),
    );
  });

  it('falls back to index.html for routes without a dot', () => {
    for (const url of [
      'pinhole-app://app',
      'pinhole-app://app/',
      'pinhole-app://app/gallery',
      'pinhole-app://app/datasets/42/',
    ]) {
      expect(resolveAppAsset(root, url)).toBe(path.join(root, 'index.html'));
    }
  });

  it.each([
    'pinhole-app://app/../secret.txt',
    'pinhole-app://app/assets/../../secret.txt',
    'pinhole-app://app/%2e%2e/secret.txt',
    'pinhole-app://app/%2E%2E/%2e%2e/etc/passwd.txt',
    'pinhole-app://app/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
    'pinhole-app://app/..%2f..%2fsecret.txt',
    'pinhole-app://app/..%5c..%5csecret.txt',
    'pinhole-app://app/assets\\..\\..\\secret.txt',
    'pinhole-app://app//etc/passwd.txt',
    'pinhole-app://app/%2fetc/passwd.txt',
    'pinhole-app://app/C:/Windows/win.ini',
    'pinhole-app://app/C%3A%5CWindows%5Cwin.ini',
    'pinhole-app://app/./index.html',
    'pinhole-app://app/.env',
    'pinhole-app://app/a%00.js',
    'pinhole-app://app/%E0%A4%A.js',
  ])('refuses %s', (url) => {
    expect(resolveAppAsset(root, url)).toBeNull();
  });

  it('refuses other schemes and hosts', () => {
    for (const url of [
      'file:///etc/passwd',
      'https://app/index.html',
      'pinhole-media://app/index.html',
      'pinhole-app://apple/index.html',
      'pinhole-app://evil/index.html',
      'pinhole-app://app@evil/index.html',
      'pinhole-app://app:8080/index.html',
    ]) {
      expect(resolveAppAsset(root, url)).toBeNull();
    }
  });

  it('never resolves outside the folder, whatever the input', () => {
    const samples = ['a', '..', '%2e', '%2f', '/', '\\', '.', 'b.js', '%5c', '%252e'];
    for (const a of samples) {
      for (const b of samples) {
        for (const c of samples) {
          const file = resolveAppAsset(root, `pinhole-app://app/${a}${b}/${c}`);
          if (file !== null) expect(file.startsWith(root + path.sep)).toBe(true);
        }
      }
    }
  });

  it('types renderer assets by extension', () => {
    expect(contentTypeOf('/x/index.html')).toBe('text/html; charset=utf-8');
    expect(contentTypeOf('/x/main.JS')).toBe('text/javascript; charset=utf-8');
    expect(contentTypeOf('/x/a.woff2')).toBe('font/woff2');
    expect(contentTypeOf('/x/blob.bin')).toBe('application/octet-stream');
  });
});

describe('resolveMedia', () => {
  const studio: MediaSource & { mediaFile: ReturnType<typeof vi.fn> } = {
    mediaFile: vi.fn((kind: string, sha: string) => ({ path: `/data/${kind}/${sha}`, contentType: 'image/webp' })),
    trainingMedia: () => null,
  };
  beforeEach(() => studio.mediaFile.mockClear());

  it('accepts images and thumbs by lowercase sha256', () => {
    expect(resolveMedia(studio, `pinhole-media://images/${SHA}`)).toEqual({
      path: `/data/images/${SHA}`,
      contentType: 'image/webp',
    });
    expect(resolveMedia(studio, `pinhole-media://thumbs/${SHA}`)?.path).toBe(`/data/thumbs/${SHA}`);
    expect(studio.mediaFile).toHaveBeenCalledWith('thumbs', SHA);
    expect(resolveMedia(studio, `pinhole-media://inputs/${SHA}`)?.path).toBe(`/data/inputs/${SHA}`);
  });

  it.each([
    `pinhole-media://images/${'A'.repeat(64)}`,
    `pinhole-media://images/${'a'.repeat(63)}`,
    `pinhole-media://images/${'a'.repeat(65)}`,
    `pinhole-media://images/${'g'.repeat(64)}`,
    `pinhole-media://images/${SHA}/`,
    `pinhole-media://images/${SHA}?x=1`,
    `pinhole-media://images/../${SHA}`,
    `pinhole-media://images/%2e%2e/${SHA}`,
    `pinhole-media://uploads/${SHA}`,
    `pinhole-media://images/sub/${SHA}`,
    `pinhole-media://evil@images/${SHA}`,
    `pinhole-app://images/${SHA}`,
    `file:///data/images/${SHA}`,
  ])('refuses %s without asking the studio', (url) => {
    expect(resolveMedia(studio, url)).toBeNull();
    expect(studio.mediaFile).not.toHaveBeenCalled();
  });

  it('answers null when the studio has no such media', () => {
    expect(
      resolveMedia({ mediaFile: () => null, trainingMedia: () => null }, `pinhole-media://images/${SHA}`),
    ).toBeNull();
  });
});

describe('resolveTrainingMedia', () => {
  const trainingMedia = vi.fn((job: string, name: string) => ({
    path: `/runs/${job}/${name}.png`,
    contentType: 'image/png',
  }));
  const studio: MediaSource = { mediaFile: () => null, trainingMedia };
  beforeEach(() => trainingMedia.mockClear());

  it('asks the studio by job id and artifact name only', () => {
    expect(resolveTrainingMedia(studio, 'pinhole-media://training/job_42/sample-3')?.path).toBe(
      '/runs/job_42/sample-3.png',
    );
    expect(resolveTrainingMedia(studio, 'pinhole-media://training/job_42/checkpoint-200')).not.toBeNull();
    expect(trainingMedia).toHaveBeenLastCalledWith('job_42', 'checkpoint-200');
  });

  it.each([
    'pinhole-media://training/job_42/../secret',
    'pinhole-media://training/job_42/%2e%2e',
    'pinhole-media://training/../job/sample-1',
    'pinhole-media://training/job_42/sample-1/extra',
    'pinhole-media://training/job_42/latents-1',
    'pinhole-media://training/job_42/sample-1?x=1',
    'pinhole-media://training/job.42/sample-1',
  ])('refuses %s without asking the studio', (url) => {
    expect(resolveTrainingMedia(studio, url)).toBeNull();
    expect(trainingMedia).not.toHaveBeenCalled();
  });
});

describe('protocol registration', () => {
  it('registers both schemes as standard and secure, without bypassing CSP', () => {
    registerPrivilegedSchemes();
    expect(electron.privileged).toEqual([
      {
        scheme: 'pinhole-app',
        privileges: expect.objectContaining({ standard: true, secure: true, supportFetchAPI: true }),
      },
      { scheme: 'pinhole-media', privileges: expect.objectContaining({ standard: true, secure: true }) },
    ]);
    for (const entry of electron.privileged as { privileges: Record<string, unknown> }[]) {
      expect(entry.privileges['bypassCSP']).toBeUndefined();
    }
  });

  it('serves app files with the CSP header and 404s what it refuses', async () => {
    electron.fetch.mockImplementation(async () => new Response('<html></html>', { headers: { 'X-From-Disk': '1' } }));
    handleProtocols({ rendererDir: root, studio: { mediaFile: () => null, trainingMedia: () => null } });
    const serve = electron.handlers.get('pinhole-app')!;

    const ok = await serve(new Request('pinhole-app://app/gallery'));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(ok.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(ok.headers.get('x-from-disk')).toBeNull();
    expect(await ok.text()).toBe('<html></html>');
    expect(electron.fetch).toHaveBeenCalledWith(pathToFileURL(path.join(root, 'index.html')).toString());

    electron.fetch.mockClear();
    // (URL parsing already folds `%2e%2e/`; an encoded slash survives it and must be refused here.)
    const refused = await serve(new Request('pinhole-app://app/..%2f..%2fsecret.txt'));
    expect(refused.status).toBe(404);
    expect(refused.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(electron.fetch).not.toHaveBeenCalled();

    electron.fetch.mockRejectedValueOnce(new Error('net::ERR_FILE_NOT_FOUND'));
    expect((await serve(new Request('pinhole-app://app/missing.js'))).status).toBe(404);

    expect((await serve(new Request('pinhole-app://app/index.html', { method: 'POST', body: 'x' }))).status).toBe(405);
  });

  it('serves media only through the studio, cacheable forever', async () => {
    electron.fetch.mockImplementation(async () => new Response('webp-bytes'));
    const mediaFile = vi.fn((kind: string, sha: string) =>
      sha === SHA ? { path: `/data/${kind}/${sha}.webp`, contentType: 'image/webp' } : null,
    );
    const trainingMedia = vi.fn((job: string, name: string) =>
      job === 'job_1' ? { path: `/runs/${job}/${name}.png`, contentType: 'image/png' } : null,
    );
    handleProtocols({ rendererDir: root, studio: { mediaFile, trainingMedia } });
    const serve = electron.handlers.get('pinhole-media')!;

    const ok = await serve(new Request(`pinhole-media://thumbs/${SHA}`));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/webp');
    expect(ok.headers.get('cache-control')).toContain('immutable');
    expect(electron.fetch).toHaveBeenLastCalledWith(pathToFileURL(`/data/thumbs/${SHA}.webp`).toString());

    expect((await serve(new Request(`pinhole-media://thumbs/${'b'.repeat(64)}`))).status).toBe(404);
    expect((await serve(new Request('pinhole-media://thumbs/not-a-sha'))).status).toBe(404);

    // A training run's sample: looked up by job and name, never cached for long (resumes rewrite it).
    const sample = await serve(new Request('pinhole-media://training/job_1/sample-0'));
    expect(sample.status).toBe(200);
    expect(sample.headers.get('cache-control')).toBe('private, no-cache');
    expect(electron.fetch).toHaveBeenLastCalledWith(pathToFileURL('/runs/job_1/sample-0.png').toString());
    expect((await serve(new Request('pinhole-media://training/job_2/sample-0'))).status).toBe(404);
  });
});
