/**
 * The engine process: generation through a forked child, cancel mid-run, SIGKILL mid-run (a clear error, then a
 * fresh child for the next request), errors across the boundary, file output, dispose.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient, forkLauncher } from '../../src-main/engine/host';
import { parseInfotext, readPngText } from '../../src-main/engine/image';
import { Engine, type GenerateRequest } from '../../src-main/engine/pipelines';
import { makeTempDir } from '../helpers/temp-dir';
import { FIXTURES } from '../helpers/fixtures';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SD15 = path.join(FIXTURES, 'sd15-tiny');

const temp = makeTempDir('pinhole-engine-host-');
let entry: string;
let client: EngineClient;

beforeAll(async () => {
  const built = path.join(REPO, 'dist', 'main', 'engine', 'host.js');
  const inBuild = readFileSync(path.join(REPO, 'scripts', 'build.mjs'), 'utf8').includes('engine/host');
  if (inBuild && existsSync(built)) {
    entry = built;
  } else {
    // Not in the build yet: bundle the entry on the fly. CommonJS so native packages resolve via NODE_PATH.
    entry = path.join(temp.dir, 'host.cjs');
    await build({
      entryPoints: [path.join(REPO, 'src-main', 'engine', 'host', 'host-main.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: entry,
      packages: 'external',
      logLevel: 'silent',
    });
  }
  client = new EngineClient({ launcher: launcher() });
});
afterAll(async () => {
  await client.dispose();
  temp.cleanup();
});

function launcher() {
  return forkLauncher(entry, {
    env: { ...process.env, NODE_PATH: path.join(REPO, 'node_modules'), PINHOLE_EP: 'cpu' },
  });
}

const request = (over: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model: SD15,
  prompt: 'a photo of an astronaut riding a horse on mars',
  negativePrompt: 'blurry, low quality',
  seed: 42n,
  sampler: 'euler',
  steps: 4,
  cfgScale: 7.5,
  width: 64,
  height: 64,
  ...over,
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('engine process', () => {
  it('generates the same PNG as the in-process engine', async () => {
    const progress: number[] = [];
    const result = await client.generate(request({ previewEvery: 2 }), { onProgress: (p) => progress.push(p.step) });
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(result.pid).toBeGreaterThan(0);
    expect(result.pid).not.toBe(process.pid);
    const image = result.images[0]!;
    expect(image.seed).toBe(42n);
    const local = new Engine({ provider: 'cpu' });
    try {
      const expected = await local.generate(request({ previewEvery: 2 }));
      expect(Buffer.from(image.png!).equals(Buffer.from(expected.images[0]!.png))).toBe(true);
    } finally {
      await local.dispose();
    }
    expect(parseInfotext(readPngText(image.png!)['parameters']!).params).toMatchObject({
      Steps: '4',
      Seed: '42',
      Sampler: 'Euler',
    });
    const info = await client.info();
    expect(info).toMatchObject({
      pid: result.pid,
      // Version 2: training events (caching, step, sample, checkpoint) replaced version 1's train progress.
      protocol: 2,
      provider: { provider: 'cpu', forced: true },
    });
  });

  it('writes PNGs to a folder when asked', async () => {
    const dir = path.join(temp.dir, 'out');
    const result = await client.generate(request({ steps: 2, batchSize: 2 }), { output: { kind: 'files', dir } });
    expect(result.images).toHaveLength(2);
    for (const image of result.images) {
      expect(image.png).toBeUndefined();
      expect(path.dirname(image.path!)).toBe(dir);
      expect(readPngText(readFileSync(image.path!))['parameters']).toBe(image.parameters);
    }
  });

  it('carries engine errors across the boundary with their codes', async () => {
    await expect(client.generate(request({ width: 60 }))).rejects.toMatchObject({
      name: 'PinholeError',
      code: 'INVALID_PARAMS',
      message: 'width: 60 is not a multiple of 8',
    });
    await expect(client.generate(request({ model: path.join(temp.dir, 'nope') }))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('cancels mid-run within a step, and the process keeps serving', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const pidBefore = client.pid;
    const run = client.generate(request({ steps: 60 }), {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.step);
        if (p.step === 2) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'CanceledError', code: 'CANCELED' });
    // The step running when the cancel arrived may finish; no further one starts.
    expect(seen.length).toBeLessThanOrEqual(3);
    const next = await client.generate(request({ steps: 1 }));
    expect(next.pid).toBe(pidBefore);
    await expect(client.generate(request(), { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'CANCELED',
    });
  });

  it('reports a killed process clearly and starts a fresh one for the next request', async () => {
    const pidBefore = client.pid!;
    const run = client.generate(request({ steps: 200 }), {
      onProgress: (p) => {
        if (p.step === 2) process.kill(pidBefore, 'SIGKILL');
      },
    });
    await expect(run).rejects.toMatchObject({
      name: 'EngineCrashedError',
      code: 'INTERRUPTED',
      message: expect.stringContaining('killed by SIGKILL'),
    });
    const next = await client.generate(request({ steps: 2 }));
    expect(next.images).toHaveLength(1);
    expect(next.pid).not.toBe(pidBefore);
    expect(alive(pidBefore)).toBe(false);
  });

  it('dispose stops the process and fails later calls', async () => {
    const own = new EngineClient({ launcher: launcher() });
    await own.info();
    const pid = own.pid!;
    expect(alive(pid)).toBe(true);
    await own.dispose();
    expect(alive(pid)).toBe(false);
    await expect(own.generate(request())).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
