/**
 * A training job killed with SIGKILL mid-run (the built CLI, sd15-tiny at 64 px, AdamW, shuffled
 * batches, a checkpoint every 2 steps) and continued as the README says — the same command with
 * `--resume`, or `pinhole jobs run` on the same data home — ends with exactly the LoRA (max abs
 * difference 0) and the per-step losses of an uninterrupted run with the same seed. The kill waits
 * for a `checkpoint` line (never for a step line), and the resume waits until the killed command's
 * engine process is gone, so the timing of a slow or fast machine changes nothing.
 *
 * The uninterrupted run also checks `--json`: one step line per optimizer step, in order, each with
 * every field, and every checkpoint line after its step's line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKohyaLora } from '../../src-main/engine/lora';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { jsonLines, runCli, spawnCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const STEPS = 8;
const STEP_FIELDS = ['step', 'totalSteps', 'loss', 'smoothLoss', 'lr', 'gradNorm', 'stepsPerSec', 'etaMs'];

type Line = Record<string, unknown>;

/** The process ids of `pid`'s children (Linux /proc; empty elsewhere, where the resume waits a while instead). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitUntil(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The largest |a − b| over every tensor of two LoRA files (Infinity when their modules differ). */
async function maxAbsDiff(a: string, b: string): Promise<number> {
  const [x, y] = [await readKohyaLora(a), await readKohyaLora(b)];
  if ([...x.modules.keys()].sort().join() !== [...y.modules.keys()].sort().join()) return Infinity;
  let worst = 0;
  for (const [name, m] of x.modules) {
    const o = y.modules.get(name)!;
    for (const [p, q] of [
      [m.down, o.down],
      [m.up, o.up],
    ] as const) {
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
    }
    worst = Math.max(worst, Math.abs(m.alpha - o.alpha));
  }
  return worst;
}

async function metadataOf(file: string): Promise<Record<string, string>> {
  const f = await SafetensorsFile.open(file);
  try {
    return { ...f.metadata };
  } finally {
    await f.close();
  }
}

const steps = (lines: Line[]) => lines.filter((l) => l['event'] === 'step');

describe('a training job killed with SIGKILL', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  const env = () => ({ PINHOLE_ENGINE_CACHE: path.join(tmp.dir, 'engine-cache') });
  const args = (home: string, out: string) => [
    'train',
    '--data-dir',
    home,
    '--model',
    fixture('sd15-tiny'),
    '--images',
    fixture('sd15-tiny/training/images'),
    '--out',
    out,
    '--steps',
    String(STEPS),
    '--save-every',
    '2',
    '--resolution',
    '64',
    '--seed',
    '7',
    '--json',
  ];
  let reference: { out: string; lines: Line[] };

  /**
   * Starts the run, SIGKILLs it once a checkpoint line is out (the checkpoint is on disk by then) and
   * waits for its engine process to end. Resolves with the lines it printed.
   */
  async function killAfterCheckpoint(home: string, out: string): Promise<Line[]> {
    const child = spawnCli(args(home, out), env());
    let stdout = '';
    let engines: number[] = [];
    const killed = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (child.killed || !/"event":"checkpoint"/.test(stdout)) return;
        engines = childrenOf(child.pid!);
        child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`the run ended (${code}) before a checkpoint`)),
      );
    });
    await killed;
    // The engine stops when its parent is gone; a resume must not race its last writes.
    if (engines.length > 0) await waitUntil(() => !engines.some(alive), 60_000, 'the engine process to exit');
    else await new Promise((r) => setTimeout(r, 3000));
    return jsonLines(stdout.slice(0, stdout.lastIndexOf('\n') + 1));
  }

  /** The killed run's step losses up to its newest checkpoint, then the continuing run's: the whole run's losses. */
  function joinedLosses(killedLines: Line[], resumedLines: Line[]): number[] {
    const resumedFrom = (steps(resumedLines)[0]!['step'] as number) - 1;
    const before = steps(killedLines).filter((l) => (l['step'] as number) <= resumedFrom);
    return [...before, ...steps(resumedLines)].map((l) => l['loss'] as number);
  }

  beforeAll(async () => {
    tmp = makeTempDir('pinhole-train-kill-');
    const out = path.join(tmp.dir, 'reference.safetensors');
    const result = await runCli(args(path.join(tmp.dir, 'home-ref'), out), env());
    expect(result.code, result.stderr).toBe(0);
    reference = { out, lines: jsonLines(result.stdout) };
  }, 180_000);
  afterAll(() => tmp.cleanup());

  it('--json: exactly one step line per step, in order, with every field; checkpoints after their step', () => {
    const { lines } = reference;
    const stepLines = steps(lines);
    expect(stepLines).toHaveLength(STEPS);
    expect(stepLines.map((l) => l['step'])).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    for (const line of stepLines) {
      for (const field of STEP_FIELDS) expect(line, `step ${String(line['step'])}`).toHaveProperty(field);
      expect(line['smoothLoss']).toEqual(expect.any(Number));
      expect(line['gradNorm']).toEqual(expect.any(Number));
      // A rate and an ETA need two steps to measure.
      if ((line['step'] as number) > 1) {
        expect(line['stepsPerSec']).toBeGreaterThan(0);
        expect(line['etaMs']).toBeGreaterThanOrEqual(0);
      }
    }
    const checkpoints = lines.filter((l) => l['event'] === 'checkpoint');
    expect(checkpoints.map((l) => l['step'])).toEqual([2, 4, 6, 8]);
    for (const c of checkpoints) {
      const stepAt = lines.findIndex((l) => l['event'] === 'step' && l['step'] === c['step']);
      const nextStep = lines.findIndex((l) => l['event'] === 'step' && l['step'] === (c['step'] as number) + 1);
      expect(lines.indexOf(c)).toBeGreaterThan(stepAt);
      if (nextStep >= 0) expect(lines.indexOf(c)).toBeLessThan(nextStep);
    }
    expect(lines.at(-1)).toMatchObject({ event: 'done', steps: STEPS });
  });

  it('the same command with --resume ends with the uninterrupted LoRA and losses', async () => {
    const home = path.join(tmp.dir, 'home-resume');
    const out = path.join(tmp.dir, 'resumed.safetensors');
    const killed = await killAfterCheckpoint(home, out);
    expect(killed.some((l) => l['event'] === 'done')).toBe(false);
    expect(steps(killed).length).toBeLessThan(STEPS);

    const result = await runCli([...args(home, out), '--resume'], env());
    expect(result.code, result.stderr).toBe(0);
    const resumed = jsonLines(result.stdout);
    const first = steps(resumed)[0]!['step'] as number;
    // It continued from a checkpoint (an even step), not from the start.
    expect(first).toBeGreaterThan(2);
    expect((first - 1) % 2).toBe(0);
    expect(steps(resumed).map((l) => l['step'])).toEqual(
      Array.from({ length: STEPS - first + 1 }, (_, i) => first + i),
    );

    expect(await maxAbsDiff(out, reference.out)).toBe(0);
    expect(await metadataOf(out)).toEqual(await metadataOf(reference.out));
    expect(joinedLosses(killed, resumed)).toEqual(steps(reference.lines).map((l) => l['loss']));
  }, 240_000);

  it('`pinhole jobs run` continues the interrupted job to the uninterrupted LoRA', async () => {
    const home = path.join(tmp.dir, 'home-jobs-run');
    const out = path.join(tmp.dir, 'recovered.safetensors');
    const killed = await killAfterCheckpoint(home, out);
    expect(killed.some((l) => l['event'] === 'done')).toBe(false);

    const run = await runCli(['jobs', 'run', '--data-dir', home], env());
    expect(run.code, run.stderr).toBe(0);
    const jobs = await runCli(['jobs', '--data-dir', home, '--json']);
    const [job] = jsonLines(jobs.stdout).filter((j) => j['kind'] === 'train');
    expect(job).toMatchObject({ state: 'succeeded', attempts: 2 });
    const result = job!['result'] as { losses: number[]; resumedFrom?: number };
    // Resumed from a checkpoint of the killed attempt.
    expect(result.resumedFrom).toBeGreaterThanOrEqual(2);
    expect(await maxAbsDiff(out, reference.out)).toBe(0);
    expect(result.losses).toEqual(steps(reference.lines).map((l) => l['loss']));
  }, 240_000);
});
