/**
 * `pinhole generate` on the sdxl-tiny fixture end to end (the built CLI, the engine in a child process):
 * diffusers' SDXL reference runs — one without a negative prompt (zero negative embeddings, as
 * `force_zeros_for_empty_prompt` asks), one not square — and determinism (same seed, same PNG bytes).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import {
  expectCliReferenceImage,
  generateArgs,
  readReferenceFile,
  type ReferenceRun,
} from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

const MODEL = fixture('sdxl-tiny');
const REF = fixture('sdxl-tiny/reference');
const cases = readReferenceFile<ReferenceRun>(path.join(REF, 'cases.json')).runs;

describe('pinhole generate on sdxl-tiny (diffusers SDXL reference runs)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-cli-sdxl-')));
  afterAll(() => tmp.cleanup());

  const generate = (run: ReferenceRun, out: string) =>
    runCli(generateArgs(run, { model: MODEL, out, dataDir: path.join(tmp.dir, 'home') }));

  it('has the two runs the fixture documents: one without a negative prompt, one not square', () => {
    expect(cases.some((r) => r.negative_prompt === null)).toBe(true);
    expect(cases.some((r) => r.width !== r.height)).toBe(true);
  });

  for (const run of cases) {
    const label = `${run.scheduler} ${run.steps} steps, seed ${run.seed}, ${run.width}×${run.height}${run.negative_prompt === null ? ', no negative prompt' : ''}`;
    it(`reproduces ${label} within 0.5/255`, async () => {
      const out = path.join(tmp.dir, `${run.scheduler}-${run.seed}.png`);
      const result = await generate(run, out);
      const text = await expectCliReferenceImage(result, out, run, path.join(REF, run.image_rgb8), `cli sdxl ${label}`);
      expect(text).toContain(run.prompt);
      if (run.negative_prompt === null) expect(text).not.toContain('Negative prompt:');
      else expect(text).toContain(`Negative prompt: ${run.negative_prompt}`);
      expect(text).toMatch(new RegExp(`Steps: ${run.steps}, .*Seed: ${run.seed}, Size: ${run.width}x${run.height}`));
    });
  }

  it('is deterministic: the same seed twice gives byte-identical PNGs', async () => {
    const run = cases[0]!;
    const files = [path.join(tmp.dir, 'again-1.png'), path.join(tmp.dir, 'again-2.png')];
    for (const file of files) {
      const result = await generate(run, file);
      expect(result.code, result.stderr).toBe(0);
    }
    const [a, b] = files.map((f) => readFileSync(f));
    expect(a!.length).toBeGreaterThan(0);
    expect(Buffer.compare(a!, b!)).toBe(0);
  });
});
