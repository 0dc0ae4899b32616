/**
 * `/media/inputs/<sha256>`: the init images and masks kept for img2img / inpainting re-runs, served by content
 * hash only — never a path from the caller, never a file outside `<data home>/inputs`, never a non-image.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeInlineImages } from '../../src-main/generation/inline-images';
import { startServer, type RunningServer } from '../../src-main/server';
import { createStudio, type Studio } from '../../src-main/studio';
import { storedInputSha } from '../../src-renderer/src/features/gallery/input-media';
import { makeTempDir } from '../helpers/temp-dir';

describe('input media route', () => {
  const tmp = makeTempDir('pinhole-input-media-');
  let studio: Studio;
  let server: RunningServer;
  let get: (p: string) => Promise<Response>;
  beforeAll(async () => {
    const renderer = path.join(tmp.dir, 'renderer');
    mkdirSync(renderer);
    writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>Pinhole</title>');
    studio = createStudio({ dataDir: path.join(tmp.dir, 'home'), mode: 'headless', version: 'test' });
    server = await startServer(studio, { host: '127.0.0.1', port: 0, token: null, rendererDir: renderer });
    get = (p) => fetch(`http://127.0.0.1:${server.port}${p}`);
  });
  afterAll(async () => {
    await server.close();
    await studio.dispose();
    tmp.cleanup();
  });

  it('serves an init image stored for a re-run, found from the stored request', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#3a7' } })
      .png()
      .toBuffer();
    const stored = await storeInlineImages(
      { model: 'm', prompt: 'p', initImage: { dataUrl: `data:image/png;base64,${png.toString('base64')}` } },
      studio.home.inputs,
      studio.home.tmp,
    );
    const sha = storedInputSha(stored.initImage);
    expect(sha).toBe(createHash('sha256').update(png).digest('hex'));
    const res = await get(`/media/inputs/${sha}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
  });

  it('answers 404 for bad hashes, traversal, missing files and stored bytes that are not an image', async () => {
    const text = Buffer.from('not an image at all');
    const sha = createHash('sha256').update(text).digest('hex');
    mkdirSync(path.join(studio.home.inputs, sha.slice(0, 2)), { recursive: true });
    writeFileSync(path.join(studio.home.inputs, sha.slice(0, 2), sha), text);
    writeFileSync(path.join(studio.home.root, 'secret.txt'), 'top secret');
    for (const p of [
      `/media/inputs/${sha}`,
      `/media/inputs/${'b'.repeat(64)}`,
      '/media/inputs/abc',
      '/media/inputs/../secret.txt',
      '/media/inputs/..%2f..%2fsecret.txt',
      `/media/inputs/${sha.slice(0, 2)}/${sha}`,
    ]) {
      expect((await get(p)).status, p).toBe(404);
    }
  });

  it('reads hashes only from paths inside an inputs folder', () => {
    const sha = 'ab' + 'c'.repeat(62);
    expect(storedInputSha({ path: `/home/u/.pinhole/inputs/ab/${sha}` })).toBe(sha);
    expect(storedInputSha({ path: `C:\\Users\\u\\pinhole\\inputs\\ab\\${sha}` })).toBe(sha);
    expect(storedInputSha({ path: `/home/u/.pinhole/inputs/cd/${sha}` })).toBeNull(); // wrong fan-out folder
    expect(storedInputSha({ path: `/home/u/photos/${sha}` })).toBeNull();
    expect(storedInputSha({ path: '/home/u/photo.png' })).toBeNull();
    expect(storedInputSha({ dataUrl: 'data:image/png;base64,AAAA' })).toBeNull();
    expect(storedInputSha(undefined)).toBeNull();
  });
});
