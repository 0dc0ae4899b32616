/**
 * `pinhole generate --model FILE.safetensors` converts the checkpoint in the CLI's process and says so:
 * stage lines on stderr (not a terminal, so no bar), `{"event":"converting"}` lines ahead of the image
 * line with --json (stdout stays JSON lines only), nothing on a cache hit; Ctrl-C during the conversion
 * cancels it (exit 130); a file that cannot be converted fails with exit 1 and a message naming it. Neither
 * leaves a temporary folder behind.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli, spawnCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const CHECKPOINT = fixture('sd15-single/tiny-sd15-public.safetensors');

describe('pinhole generate: conversion progress of a single-file checkpoint', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-convert-progress-')));
  afterAll(() => tmp.cleanup());
  const generate = (home: string, model: string, ...extra: string[]) =>
    runCli([
      'generate',
      '--model',
      model,
      '--prompt',
      'a red cube',
      '--steps',
      '1',
      '--width',
      '64',
      '--height',
      '64',
      '--seed',
      '1',
      '--data-dir',
      path.join(tmp.dir, home),
      ...extra,
    ]);

  it('prints the stages on stderr, up to 100%', async () => {
    const result = await generate('plain', CHECKPOINT, '--out', path.join(tmp.dir, 'plain.png'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`Converting ${CHECKPOINT}`);
    const percents = [...result.stderr.matchAll(/^Converting the model: (.+) (\d+)%$/gm)].map((m) => ({
      stage: m[1]!,
      percent: Number(m[2]),
    }));
    expect(percents.length).toBeGreaterThan(2);
    expect(percents.map((p) => p.stage)).toContain('unet graph');
    expect(percents.map((p) => p.percent)).toEqual(percents.map((p) => p.percent).sort((a, b) => a - b));
    expect(percents.at(-1)!.percent).toBe(100);
    expect(result.stdout).not.toContain('Converting');
  }, 120_000);

  it('with --json: converting lines first, then the image; none on a cache hit', async () => {
    const out = path.join(tmp.dir, 'json.png');
    const result = await generate('json', CHECKPOINT, '--out', out, '--json');
    expect(result.code, result.stderr).toBe(0);
    const lines = jsonLines(result.stdout); // throws if any stdout line is not JSON
    const converting = lines.filter((l) => l['event'] === 'converting');
    expect(converting.length).toBeGreaterThan(2);
    for (const l of converting) {
      expect(Object.keys(l).sort()).toEqual(['event', 'fraction', 'stage']);
      expect(typeof l['stage']).toBe('string');
    }
    const fractions = converting.map((l) => l['fraction'] as number);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(lines.slice(converting.length)).toEqual([expect.objectContaining({ file: out, width: 64, height: 64 })]);

    const again = await generate('json', CHECKPOINT, '--out', out, '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(jsonLines(again.stdout).map((l) => l['event'])).toEqual([undefined]);
    expect(again.stderr).not.toContain('Converting');
  }, 120_000);

  it('pinhole train --json: the job converts the checkpoint, converting lines come before the step lines', async () => {
    const result = await runCli([
      'train',
      '--model',
      CHECKPOINT,
      '--images',
      fixture('sd15-tiny/training/images'),
      '--out',
      path.join(tmp.dir, 'train-json.safetensors'),
      '--steps',
      '1',
      '--resolution',
      '64',
      '--json',
      '--data-dir',
      path.join(tmp.dir, 'train-json'),
    ]);
    expect(result.code, result.stderr).toBe(0);
    const events = jsonLines(result.stdout).map((l) => l['event']);
    const converting = jsonLines(result.stdout).filter((l) => l['event'] === 'converting');
    expect(converting.length).toBeGreaterThan(0);
    for (const l of converting) expect(Object.keys(l).sort()).toEqual(['event', 'fraction', 'stage']);
    const fractions = converting.map((l) => l['fraction'] as number);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(events.lastIndexOf('converting')).toBeLessThan(events.indexOf('step'));
    expect(events.at(-1)).toBe('done');
  }, 180_000);

  it('Ctrl-C during the conversion cancels it: exit 130, nothing left in the cache', async () => {
    const child = spawnCli([
      'generate',
      '--model',
      CHECKPOINT,
      '--prompt',
      'x',
      '--data-dir',
      path.join(tmp.dir, 'int'),
    ]);
    let stderr = '';
    let interrupted = false;
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      // The first stage line: the conversion is under way (and far from done, for this is its first stage).
      // One Ctrl-C only: a second one would end the process as a terminal's would, without cleaning up.
      if (!interrupted && /^Converting the model: /m.test(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/^pinhole: .*cancel/im);
    const cache = path.join(tmp.dir, 'int', 'cache', 'engine', 'checkpoints');
    expect(readdirSync(cache).filter((n) => n !== 'hashes')).toEqual([]);
  });

  it('a file that is not a checkpoint: exit 1, a message naming it, nothing left in the cache', async () => {
    const broken = path.join(tmp.dir, 'broken.safetensors');
    writeFileSync(broken, Buffer.from('this is not a safetensors file at all'));
    const result = await generate('broken', broken, '--json');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^pinhole: .*broken\.safetensors/m);
    // The file is hashed first (its hash keys the cache), so progress lines may precede the error line.
    const lines = jsonLines(result.stdout);
    expect(lines.at(-1)).toEqual({ error: expect.objectContaining({ code: 'IMPORT_REJECTED' }) });
    expect(lines.slice(0, -1).every((l) => l['event'] === 'converting' && l['stage'] === 'hashing')).toBe(true);
    const cache = path.join(tmp.dir, 'broken', 'cache', 'engine', 'checkpoints');
    expect(readdirSync(cache).filter((n) => n !== 'hashes')).toEqual([]);
  });
});
