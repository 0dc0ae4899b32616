/**
 * A real crash: the import runs in a child process that is SIGKILLed mid-import (twice),
 * then run again; the job must finish with every file recorded exactly once.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Library } from '../../src-main/library';
import { openDataHome } from '../../src-main/platform/data-home';
import { openDatabase } from '../../src-main/storage/database';
import { writeImage } from '../unit/library-fixtures';

const FILES = 30;
let dir: string;
let runner: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pinhole-crash-'));
  runner = path.join(dir, 'runner.cjs');
  // Bundled so the child runs plain JS; native modules stay external and resolve via NODE_PATH.
  await build({
    entryPoints: [path.join(import.meta.dirname, 'import-crash-runner.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: runner,
    external: ['better-sqlite3', 'sharp'],
    logLevel: 'silent',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs one attempt; with `killAfter`, SIGKILLs it once that many files were recorded. */
function attempt(args: string[], killAfter?: number): Promise<{ lines: string[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, ...args], {
      env: { ...process.env, NODE_PATH: path.join(import.meta.dirname, '..', '..', 'node_modules') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
      if (killAfter !== undefined && lines.filter((l) => l.startsWith('file ')).length >= killAfter)
        child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ lines, killed: true });
      else if (code === 0) resolve({ lines, killed: false });
      else reject(new Error(`runner exited ${code}: ${stderr}`));
    });
  });
}

it('finishes once, with no duplicate rows, after being SIGKILLed mid-import', async () => {
  const input = path.join(dir, 'in');
  const root = path.join(dir, 'home');
  mkdirSync(input, { recursive: true });
  for (let i = 0; i < FILES; i++) {
    await writeImage(input, `img${String(i).padStart(2, '0')}.jpg`, { width: 640, height: 480, seed: i + 1 });
  }
  // Two of them are the same picture: one accepted, one duplicate, whichever attempt sees them.
  await writeImage(input, 'img99-again.jpg', { width: 640, height: 480, seed: 1 });
  const args = [root, 'job_crash', JSON.stringify({ dataset: 'Rex', paths: [input] })];

  const first = await attempt(args, 5);
  const second = await attempt(args, 8);
  const last = await attempt(args);
  expect([first.killed, second.killed, last.killed]).toEqual([true, true, false]);
  const done = last.lines.find((l) => l.startsWith('done '));
  expect(JSON.parse(done!.slice(5))).toMatchObject({ accepted: FILES, duplicates: 1, rejected: 0 });

  const home = openDataHome(root);
  const db = openDatabase(home.database);
  const library = new Library({ db, home });
  try {
    const counts = db
      .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT idx) AS d, MAX(idx) AS m FROM import_results WHERE job_id = ?')
      .get('job_crash');
    expect(counts).toEqual({ n: FILES + 1, d: FILES + 1, m: FILES });
    expect(library.listDatasets().map((d) => [d.name, d.imageCount])).toEqual([['Rex', FILES]]);
    expect(library.galleryQuery({ limit: 1 }).total).toBe(FILES);
    const dupes = db
      .prepare(`SELECT COUNT(*) AS n FROM import_results WHERE job_id = ? AND status = 'duplicate'`)
      .get('job_crash');
    expect(dupes).toEqual({ n: 1 });
  } finally {
    db.close();
  }
});
