import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli, spawnCli } from '../helpers/cli';
import { writeNoiseImage } from '../helpers/images';
import { makeTempDir } from '../helpers/temp-dir';

describe('pinhole CLI', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-cli-')));
  afterAll(() => tmp.cleanup());

  it('imports a folder with --json: one line per file, exit 0 even with rejections', async () => {
    const photos = path.join(tmp.dir, 'photos');
    mkdirSync(photos);
    await writeNoiseImage(photos, 'a.jpg');
    await writeNoiseImage(photos, 'b.png', { format: 'png' });
    writeFileSync(path.join(photos, 'notes.jpg'), 'this is not an image');
    writeFileSync(path.join(photos, 'empty.png'), '');
    const home = path.join(tmp.dir, 'home1');
    const result = await runCli(['import', photos, '--dataset', 'Rex', '--json', '--data-dir', home]);
    expect(result.code, result.stderr).toBe(0);
    const lines = jsonLines(result.stdout);
    expect(lines.map((l) => [l['file'], l['status']])).toEqual([
      ['a.jpg', 'accepted'],
      ['b.png', 'accepted'],
      ['empty.png', 'rejected'],
      ['notes.jpg', 'rejected'],
    ]);
    expect(lines[2]!['reason']).toMatch(/empty/i);
    expect(Object.keys(lines[0]!).sort()).toEqual(['file', 'status']);

    const again = await runCli([
      'import',
      path.join(photos, 'a.jpg'),
      '--dataset',
      'rex',
      '--json',
      '--data-dir',
      home,
    ]);
    expect(again.code).toBe(0);
    expect(jsonLines(again.stdout)).toEqual([{ file: path.join(photos, 'a.jpg'), status: 'duplicate' }]);

    const jobs = await runCli(['jobs', '--json', '--data-dir', home]);
    expect(jobs.code).toBe(0);
    expect(jsonLines(jobs.stdout).map((j) => j['state'])).toEqual(['succeeded', 'succeeded']);
  });

  it('fails with exit codes a script can rely on', async () => {
    const home = path.join(tmp.dir, 'home2');
    expect((await runCli(['import', tmp.dir, '--data-dir', home])).code).toBe(2); // no --dataset
    expect((await runCli(['frobnicate', '--data-dir', home])).code).toBe(2);
    expect((await runCli(['import', '--bogus', '--data-dir', home])).code).toBe(2);
    const missing = await runCli(['jobs', 'cancel', 'job_nope', '--json', '--data-dir', home]);
    expect(missing.code).toBe(4);
    expect(jsonLines(missing.stdout)[0]).toMatchObject({ error: { code: 'NOT_FOUND' } });
    // A data home written by a newer version is refused, not downgraded.
    const db = new BetterSqlite3(path.join(home, 'pinhole.db'));
    db.pragma('user_version = 999');
    db.close();
    const tooNew = await runCli(['jobs', '--data-dir', home]);
    expect(tooNew.code).toBe(3);
    expect(tooNew.stderr).toMatch(/newer Pinhole Studio/);
  });

  it('recovers an import killed with SIGKILL: re-queued, finished once, no duplicate rows', async () => {
    const photos = path.join(tmp.dir, 'many');
    mkdirSync(photos);
    const count = 40;
    for (let i = 0; i < count; i++) {
      await writeNoiseImage(photos, `img-${String(i).padStart(2, '0')}.jpg`, { width: 1024, height: 768 });
    }
    const home = path.join(tmp.dir, 'home3');
    const child = spawnCli(['import', photos, '--dataset', 'Crash', '--json', '--data-dir', home]);
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        seen += d.toString().split('\n').filter(Boolean).length;
        if (seen >= 5) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error('import finished before it could be killed')));
    });
    await new Promise((r) => child.on('exit', r));

    const peek = new BetterSqlite3(path.join(home, 'pinhole.db'), { readonly: true });
    const stale = peek.prepare(`SELECT state, attempts FROM jobs`).get() as { state: string; attempts: number };
    const doneBefore = (peek.prepare('SELECT COUNT(*) n FROM import_results').get() as { n: number }).n;
    peek.close();
    expect(stale).toEqual({ state: 'running', attempts: 1 });
    expect(doneBefore).toBeGreaterThanOrEqual(5);
    expect(doneBefore).toBeLessThan(count);

    const resumed = await runCli(['jobs', 'run', '--data-dir', home]);
    expect(resumed.code, resumed.stderr).toBe(0);

    const db = new BetterSqlite3(path.join(home, 'pinhole.db'), { readonly: true });
    const job = db.prepare('SELECT state, attempts FROM jobs').get();
    const results = db.prepare('SELECT idx, status FROM import_results ORDER BY idx').all() as {
      idx: number;
      status: string;
    }[];
    const images = (db.prepare('SELECT COUNT(*) n FROM images').get() as { n: number }).n;
    const members = (db.prepare('SELECT COUNT(*) n FROM dataset_images').get() as { n: number }).n;
    db.close();
    expect(job).toEqual({ state: 'succeeded', attempts: 2 });
    expect(results.map((r) => r.idx)).toEqual([...Array(count).keys()]);
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    expect(images).toBe(count);
    expect(members).toBe(count);
  });
});

describe('pinhole tokenize', () => {
  it('prints the raw CLIP ids of the literal text, as the reference tokenizer does', async () => {
    const { readFileSync } = await import('node:fs');
    const { fixture } = await import('../helpers/fixtures');
    const tmp = makeTempDir('pinhole-tok-');
    const model = fixture('sd15-tiny');
    const cases = JSON.parse(readFileSync(fixture('sd15-tiny/reference/cases.json'), 'utf8')) as {
      prompt: string;
      prompt_ids: number[];
    };
    const result = await runCli(['tokenize', '--model', model, '--json', cases.prompt, '--data-dir', tmp.dir]);
    expect(result.code, result.stderr).toBe(0);
    // The reference ids are padded to 77 with start and end tokens; the command prints the text's own.
    const eos = cases.prompt_ids.indexOf(49407);
    const expected = cases.prompt_ids.slice(1, eos);
    expect(jsonLines(result.stdout)).toEqual([{ ids: expected, count: expected.length }]);

    const empty = await runCli(['tokenize', '--model', model, '--json', '', '--data-dir', tmp.dir]);
    expect(jsonLines(empty.stdout)).toEqual([{ ids: [], count: 0 }]);
    const noModel = await runCli(['tokenize', '--model', tmp.dir, '--json', 'a cat', '--data-dir', tmp.dir]);
    expect(noModel.code).toBe(4);
    tmp.cleanup();
  });
});
