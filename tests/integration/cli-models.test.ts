/**
 * `pinhole models …` through the built CLI, standalone and through a running server: import
 * with one JSON line per file (exit 0 with rejections), list, rename, default, remove saying
 * what used the model; `generate --model NAME` records the checkpoint's A1111 short hash (the
 * first 10 hex digits of its SHA-256, computed here independently) in the PNG's parameters;
 * a browser-style upload to `/api/upload?target=models`.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src-main/engine/image/png-text';
import { jsonLines, runCli, startServe } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const CHECKPOINT = fixture('sd15-single', 'tiny-sd15-public.safetensors');
const SHA = createHash('sha256').update(readFileSync(CHECKPOINT)).digest('hex');

describe('pinhole models', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let home: string;
  let model: string;
  const cli = (...args: string[]) => runCli([...args, '--data-dir', home]);

  beforeAll(() => {
    tmp = makeTempDir('pinhole-cli-models-');
    home = path.join(tmp.dir, 'home');
    model = path.join(tmp.dir, 'Tiny SD.safetensors');
    copyFileSync(CHECKPOINT, model);
  });
  afterAll(() => tmp.cleanup());

  it('imports with one JSON line per file and exits 0 when every file was processed', async () => {
    const corrupt = path.join(tmp.dir, 'corrupt.ckpt');
    writeFileSync(corrupt, 'not a pickle at all');
    const notes = path.join(tmp.dir, 'notes.txt');
    writeFileSync(notes, 'hello');
    const result = await cli('models', 'import', model, corrupt, notes, model, '--json');
    expect(result.code, result.stderr).toBe(0);
    const lines = jsonLines(result.stdout);
    expect(lines.map((l) => [l['file'], l['status']])).toEqual([
      [model, 'imported'],
      [corrupt, 'rejected'],
      [notes, 'rejected'],
      [model, 'duplicate'],
    ]);
    expect(lines[0]).toEqual({ file: model, status: 'imported', name: 'Tiny SD', kind: 'checkpoint' });
    expect(lines[1]!['reason']).toMatch(/corrupt\.ckpt/);
    expect(lines[2]!['reason']).toMatch(/not a model file/);

    const list = await cli('models', 'list', '--json');
    expect(list.code, list.stderr).toBe(0);
    const [entry] = jsonLines(list.stdout);
    expect(entry).toMatchObject({
      name: 'Tiny SD',
      kind: 'checkpoint',
      family: 'sd1',
      sha256: SHA,
      shortHash: SHA.slice(0, 10),
      sizeBytes: readFileSync(CHECKPOINT).length,
      source: 'file',
      origin: model,
    });
    expect(
      createHash('sha256')
        .update(readFileSync(entry!['path'] as string))
        .digest('hex'),
    ).toBe(SHA);
  });

  it('refuses --name with several files, and bad command lines, with exit 2', async () => {
    expect((await cli('models', 'import', model, model, '--name', 'x')).code).toBe(2);
    expect((await cli('models', 'frobnicate')).code).toBe(2);
    expect((await cli('models', 'list', '--kind', 'controlnet')).code).toBe(2);
    expect((await cli('models', 'remove', 'no such model')).code).toBe(4);
  });

  it('generates with a library name and records the model hash in the PNG parameters', async () => {
    const out = path.join(tmp.dir, 'out.png');
    const result = await cli(
      'generate',
      '--model',
      'tiny sd',
      '--prompt',
      'a red ball',
      '--steps',
      '2',
      '--width',
      '64',
      '--height',
      '64',
      '--seed',
      '7',
      '--out',
      out,
      '--json',
    );
    expect(result.code, result.stderr).toBe(0);
    const parameters = readPngText(readFileSync(out))['parameters']!;
    expect(parameters).toMatch(new RegExp(`Model hash: ${SHA.slice(0, 10)}, Model: Tiny SD(,|$)`, 'm'));
    const [entry] = jsonLines((await cli('models', 'list', '--json')).stdout);
    expect(entry!['lastUsedAt']).toEqual(expect.any(Number));
  });

  it('renames, makes default and removes, saying what used the model', async () => {
    const renamed = await cli('models', 'rename', 'Tiny SD', 'base', '--json');
    expect(renamed.code, renamed.stderr).toBe(0);
    const file = jsonLines(renamed.stdout)[0]!['path'] as string;
    expect(path.basename(file)).toBe('base.safetensors');
    expect(existsSync(file)).toBe(true);

    const made = await cli('models', 'default', 'base', '--json');
    expect(jsonLines(made.stdout)[0]).toMatchObject({ name: 'base', isDefault: true });

    const removed = await cli('models', 'remove', 'base', '--json');
    expect(removed.code, removed.stderr).toBe(0);
    expect(jsonLines(removed.stdout)).toEqual([
      {
        name: 'base',
        kind: 'checkpoint',
        removed: true,
        // The image generated above records its hash in its parameters.
        usedBy: ['the default checkpoint', '1 generated image in the gallery'],
      },
    ]);
    expect(existsSync(file)).toBe(false);
    expect(jsonLines((await cli('models', 'list', '--json')).stdout)).toEqual([]);
  });

  it('imports through a running server, and from a browser upload', async () => {
    const serverHome = path.join(tmp.dir, 'served');
    const server = await startServe(serverHome);
    try {
      const result = await runCli(['models', 'import', model, '--json', '--data-dir', serverHome]);
      expect(result.code, result.stderr).toBe(0);
      expect(jsonLines(result.stdout)).toEqual([
        { file: model, status: 'imported', name: 'Tiny SD', kind: 'checkpoint' },
      ]);

      const form = new FormData();
      form.append('files', new Blob([readFileSync(CHECKPOINT)]), 'uploaded.safetensors');
      form.append('files', new Blob([Buffer.from('junk')]), 'junk.safetensors');
      const res = await fetch(new URL('api/upload?target=models', server.url), { method: 'POST', body: form });
      expect(res.status).toBe(200);
      const { jobId } = ((await res.json()) as { result: { jobId: string } }).result;
      type Job = { state: string; result: { files: { file: string; status: string }[] } | null };
      const getJob = async (): Promise<Job> => {
        const answer = await fetch(new URL('api/call/jobs.get', server.url), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ jobId }),
        });
        return ((await answer.json()) as { result: Job }).result;
      };
      await expect.poll(async () => (await getJob()).state, { timeout: 20_000 }).toBe('succeeded');
      const job = await getJob();
      expect(job.result?.files.map((f) => [f.file, f.status])).toEqual([
        ['junk.safetensors', 'rejected'],
        ['uploaded.safetensors', 'duplicate'],
      ]);
    } finally {
      await server.stop();
    }
  });
});
