import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src-main/library';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pinhole-expand-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function touch(...parts: string[]): string {
  const file = path.join(dir, ...parts);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, 'x');
  return file;
}

const summary = (entries: Awaited<ReturnType<typeof expandPaths>>) =>
  entries.map((e) => (e.reason ? `${e.file} ✗ ${e.reason}` : e.file));

describe('expandPaths', () => {
  it('walks folders recursively in natural name order, skipping hidden and non-image files', async () => {
    touch('set', 'img10.jpg');
    touch('set', 'img2.png');
    touch('set', 'img2.txt'); // a caption sidecar, not an import
    touch('set', 'notes.md');
    touch('set', '.hidden.jpg');
    touch('set', '.git', 'inside.jpg');
    touch('set', 'sub', 'a.WEBP');
    touch('set', 'B.jpeg');
    expect(summary(await expandPaths([path.join(dir, 'set')]))).toEqual([
      'B.jpeg',
      'img2.png',
      'img10.jpg',
      'sub/a.WEBP',
    ]);
  });

  it('keeps the given order of paths, shows files as given, and rejects a missing path', async () => {
    const b = touch('b.jpg');
    touch('set', 'x.jpg');
    const entries = await expandPaths([b, path.join(dir, 'missing.jpg'), path.join(dir, 'set'), b]);
    expect(summary(entries)).toEqual([b, `${path.join(dir, 'missing.jpg')} ✗ not found`, 'x.jpg', b]);
  });

  it('tries a file given directly whatever its name', async () => {
    const odd = touch('photo');
    expect(summary(await expandPaths([odd]))).toEqual([odd]);
  });

  it('rejects a link that points outside the import folder', async () => {
    const outside = touch('outside', 'secret.jpg');
    touch('set', 'ok.jpg');
    symlinkSync(outside, path.join(dir, 'set', 'escape.jpg'));
    symlinkSync(path.join(dir, 'outside'), path.join(dir, 'set', 'escape-dir'));
    expect(summary(await expandPaths([path.join(dir, 'set')]))).toEqual([
      'escape-dir ✗ link points outside the import folder',
      'escape.jpg ✗ link points outside the import folder',
      'ok.jpg',
    ]);
  });

  it('follows links that stay inside the folder, reading the target', async () => {
    const target = touch('set', 'real', 'a.jpg');
    symlinkSync(target, path.join(dir, 'set', 'alias.jpg'));
    const entries = await expandPaths([path.join(dir, 'set')]);
    expect(summary(entries)).toEqual(['alias.jpg', 'real/a.jpg']);
    expect(entries[0]).toMatchObject({ path: path.join(dir, 'set', 'alias.jpg'), real: target });
  });

  it('handles link loops: a self-link and a link back to an ancestor', async () => {
    touch('set', 'sub', 'a.jpg');
    symlinkSync(path.join(dir, 'set'), path.join(dir, 'set', 'sub', 'up'));
    symlinkSync(path.join(dir, 'set', 'self.jpg'), path.join(dir, 'set', 'self.jpg'));
    expect(summary(await expandPaths([path.join(dir, 'set')]))).toEqual([
      'self.jpg ✗ link forms a loop',
      'sub/a.jpg',
      'sub/up ✗ link forms a loop',
    ]);
  });

  it('walks a folder reached twice only once', async () => {
    touch('set', 'b', 'x.jpg');
    symlinkSync(path.join(dir, 'set', 'b'), path.join(dir, 'set', 'a'));
    expect(summary(await expandPaths([path.join(dir, 'set')]))).toEqual(['a/x.jpg']);
  });

  it('shows uploads by file name and reports every uploaded file but sidecars', async () => {
    const uploads = path.join(dir, 'uploads', 'upload_1');
    touch('uploads', 'upload_1', 'Rex at the beach.jpg');
    touch('uploads', 'upload_1', 'Rex at the beach.txt');
    touch('uploads', 'upload_1', 'document.pdf');
    const entries = await expandPaths([uploads], { uploadRoot: uploads });
    expect(summary(entries)).toEqual(['document.pdf', 'Rex at the beach.jpg']);
  });
});
