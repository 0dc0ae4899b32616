/**
 * The training figures of `npm run bench`: one child process per configuration (scripts/bench/train-step.ts,
 * bundled beside this file), so each peak RSS is that configuration's alone.
 *   - CPU: the sd15-tiny fixture (rank 4) and the mid-size SD-1.x-shaped UNet (rank 16, 256 px), each with
 *     and without gradient checkpointing: ms per step, peak RSS, share of a step outside `session.run`
 *   - CPU: SD 1.5's UNet architecture at full width with random weights (256 px, rank 16): past protobuf's
 *     2 GiB, so the training graph loads from a temporary file with external data
 *   - WebGPU: the tiny model, labelled as software rendering (Mesa's lavapipe runs the shaders on the CPU
 *     here: a check that the GPU path works, not a GPU speed figure)
 * Knobs: BENCH_TRAIN_STEPS (tiny, default 10), BENCH_TRAIN_MID_STEPS (default 3), BENCH_TRAIN_WEBGPU=0 skips
 * the WebGPU run, BENCH_TRAIN_MID=0 skips the mid-size model, BENCH_TRAIN_SD15=0 the SD 1.5-size one
 * (BENCH_TRAIN_SD15_STEPS, default 2).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TrainBenchConfig, type TrainBenchResult } from './train-step';

const RESULT_PREFIX = 'TRAIN_BENCH_RESULT=';

function runChild(script: string, config: TrainBenchConfig): Promise<TrainBenchResult> {
  const env = process.env['XDG_RUNTIME_DIR']
    ? process.env
    : { ...process.env, XDG_RUNTIME_DIR: mkdtempSync(path.join(tmpdir(), 'pinhole-xdg-')) };
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) reject(new Error(`train bench child exited ${code}: ${stderr.slice(-1500)}`));
      else resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as TrainBenchResult);
    });
  });
}

const envNumber = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

function line(r: TrainBenchResult, label: string): string {
  const ckpt = r.gradientCheckpointing ? 'checkpointing' : 'stored activations';
  return (
    `  train step ${label.padEnd(32)} ${r.msPerStep.toFixed(0)} ms/step (first ${r.firstStepMs.toFixed(0)}), ` +
    `outside session.run ${(100 * r.outsideShare).toFixed(2)} %, peak RSS ${r.peakRssMb.toFixed(0)} MB, ${ckpt}`
  );
}

/** Runs the configurations one after the other; returns the figures and the printed lines. */
export async function benchTrainingFigures(
  distDir: string,
  fixtures: string,
): Promise<{ figures: TrainBenchResult[]; lines: string[] }> {
  const script = path.join(distDir, 'train-step.mjs');
  const base = { fixtures, batch: 1, gradientCheckpointing: false } as const;
  const runs: { label: string; config: TrainBenchConfig }[] = [];
  for (const ckpt of [false, true]) {
    const tiny = {
      ...base,
      model: 'tiny',
      provider: 'cpu',
      rank: 4,
      steps: envNumber('BENCH_TRAIN_STEPS', 10),
    } as const;
    runs.push({ label: 'tiny, CPU, rank 4', config: { ...tiny, gradientCheckpointing: ckpt } });
  }
  if (process.env['BENCH_TRAIN_MID'] !== '0') {
    for (const ckpt of [false, true]) {
      const mid = {
        ...base,
        model: 'mid',
        provider: 'cpu',
        rank: 16,
        steps: envNumber('BENCH_TRAIN_MID_STEPS', 3),
      } as const;
      runs.push({ label: 'mid-size 256 px, CPU, rank 16', config: { ...mid, gradientCheckpointing: ckpt } });
    }
  }
  if (process.env['BENCH_TRAIN_SD15'] !== '0') {
    // Past protobuf's 2 GiB: the float32 training graph reaches onnxruntime as a file with external data.
    runs.push({
      label: "SD 1.5's UNet (860 M, random weights) 256 px, CPU, rank 16",
      config: { ...base, model: 'sd15', provider: 'cpu', rank: 16, steps: envNumber('BENCH_TRAIN_SD15_STEPS', 2) },
    });
  }
  if (process.env['BENCH_TRAIN_WEBGPU'] !== '0') {
    runs.push({
      label: 'tiny, WebGPU (software Vulkan)',
      config: { ...base, model: 'tiny', provider: 'webgpu', rank: 4, steps: 3 },
    });
  }
  const figures: TrainBenchResult[] = [];
  const lines: string[] = [];
  for (const { label, config } of runs) {
    try {
      const r = await runChild(script, config);
      figures.push(r);
      lines.push(line(r, label));
    } catch (error) {
      lines.push(`  train step ${label}: FAILED — ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { figures, lines };
}
