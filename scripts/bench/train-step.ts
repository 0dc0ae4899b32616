/**
 * One training-bench configuration, run in its own process so its peak RSS is its own: a `LoraTrainer`
 * step (forward + backward + optimizer update) on the sd15-tiny fixture or on the engine bench's mid-size
 * SD-1.x-shaped UNet (random weights, 256 px → 32 × 32 latents), timed over several steps after a warm-up.
 * The backend wraps onnxruntime-node's and times every `session.run`, so "outside" is everything else a
 * step does in JS (drawing noise and timesteps as the reference loop does, feeds, gradient clipping,
 * AdamW) — no engine code is instrumented.
 * Usage (bundled into dist/bench): `node train-step.mjs '<json TrainBenchConfig>'` → one line
 * `TRAIN_BENCH_RESULT=<json>`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createLora, unetLoraTargets } from '../../src-main/engine/lora';
import { safetensorsWeights, type UNetConfig, type WeightSource } from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
import { type ExecutionProviderName, type InferenceBackend, type RawSession } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { AdamW, LoraTrainer, type StepBatch } from '../../src-main/engine/training';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { SD15_UNET_CONFIG } from '../../tests/helpers/diffusers-state-dicts';
import { MID_UNET_CONFIG } from './engine-build';
import { randomWeights, unetShapes } from './engine-weights';

export type TrainBenchConfig = {
  /** sd15: SD 1.5's UNet architecture at full width (860 M parameters) with random weights, 256 px. */
  model: 'tiny' | 'mid' | 'sd15';
  fixtures: string;
  provider: ExecutionProviderName;
  rank: number;
  batch: number;
  steps: number;
  gradientCheckpointing: boolean;
  /** Frozen base weights' dtype (default: the trainer's 'auto', float32 on the CPU). */
  baseWeights?: 'float32' | 'float16';
};

export type TrainBenchResult = TrainBenchConfig & {
  /** Session build (graph + differentiate + encode + ORT load), ms. */
  createMs: number;
  /** The first step (ORT's first run allocates and, on WebGPU, compiles shaders), ms. */
  firstStepMs: number;
  /** Median ms per warm step, and the mean share of a step's wall time outside `session.run`. */
  msPerStep: number;
  outsideShare: number;
  loraParams: number;
  peakRssMb: number;
};

/** onnxruntime-node's backend with the time spent inside `run` summed. */
function timedBackend(): { backend: InferenceBackend; inside: () => number } {
  const base = createOrtBackend();
  let inside = 0;
  const backend: InferenceBackend = {
    listProviders: () => base.listProviders(),
    async createSession(model, options): Promise<RawSession> {
      const raw = await base.createSession(model, options);
      return {
        inputs: raw.inputs,
        outputs: raw.outputs,
        async run(feeds, fetches, deviceFeeds) {
          const t = performance.now();
          try {
            return deviceFeeds ? await raw.run(feeds, fetches, deviceFeeds) : await raw.run(feeds, fetches);
          } finally {
            inside += performance.now() - t;
          }
        },
        release: () => raw.release(),
      };
    },
  };
  return { backend, inside: () => inside };
}

async function unetOf(
  config: TrainBenchConfig,
): Promise<{ unet: UNetConfig; weights: WeightSource; close(): Promise<void> }> {
  if (config.model === 'mid')
    return { unet: MID_UNET_CONFIG, weights: randomWeights(unetShapes(MID_UNET_CONFIG), 2), close: async () => {} };
  if (config.model === 'sd15') {
    const unet = { ...SD15_UNET_CONFIG, sample_size: 32 };
    return { unet, weights: randomWeights(unetShapes(unet), 2), close: async () => {} };
  }
  const dir = path.join(config.fixtures, 'sd15-tiny', 'unet');
  const unet = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as UNetConfig;
  const file = await SafetensorsFile.open(path.join(dir, 'diffusion_pytorch_model.safetensors'));
  return { unet, weights: safetensorsWeights(file), close: () => file.close() };
}

/** A reference-loop batch: noise and timesteps from the generator, noised latents, ε target. */
function drawBatch(
  g: TorchGenerator,
  latents: Float32Array,
  cond: Float32Array,
  batch: number,
  dims: [number, number, number],
  condDims: [number, number],
): StepBatch {
  const per = dims[0] * dims[1] * dims[2];
  const noise = g.randn([batch, ...dims]);
  const timesteps = g.randint(0, 1000, batch);
  const sample = new Float32Array(batch * per);
  for (let j = 0; j < batch; j++) {
    const a = 1 - timesteps[j]! / 1000;
    const [sa, sb] = [Math.sqrt(a), Math.sqrt(1 - a)];
    for (let i = 0; i < per; i++) sample[j * per + i] = sa * latents[i]! + sb * noise[j * per + i]!;
  }
  const conds = new Float32Array(batch * cond.length);
  for (let j = 0; j < batch; j++) conds.set(cond, j * cond.length);
  return { sample, timesteps, cond: conds, target: noise, latentDims: dims, condDims };
}

export async function runTrainBench(config: TrainBenchConfig): Promise<TrainBenchResult> {
  const { backend, inside } = timedBackend();
  const source = await unetOf(config);
  const { unet, weights } = source;
  try {
    const g = new TorchGenerator(0n);
    const lora = createLora(unetLoraTargets(unet, weights), { rank: config.rank, generator: g });
    for (const m of lora.modules.values()) m.up.fill(1e-3);
    const crossDim = (unet['cross_attention_dim'] as number | undefined) ?? 768;
    const dims: [number, number, number] = [4, 32, 32];
    const condDims: [number, number] = [77, crossDim];
    const latents = g.randn(dims);
    const cond = g.randn(condDims);
    const t0 = performance.now();
    const trainer = await LoraTrainer.create(
      unet,
      weights,
      lora,
      new AdamW({ lr: 1e-4 }),
      { batch: config.batch, height: dims[1], width: dims[2], sequence: condDims[0] },
      backend,
      {
        provider: config.provider,
        gradientCheckpointing: config.gradientCheckpointing,
        ...(config.baseWeights ? { baseWeights: config.baseWeights } : {}),
      },
    );
    const createMs = performance.now() - t0;
    try {
      let t = performance.now();
      await trainer.step(drawBatch(g, latents, cond, config.batch, dims, condDims));
      const firstStepMs = performance.now() - t;
      const times: number[] = [];
      let wall = 0;
      const before = inside();
      for (let s = 0; s < config.steps; s++) {
        t = performance.now();
        await trainer.step(drawBatch(g, latents, cond, config.batch, dims, condDims));
        const ms = performance.now() - t;
        times.push(ms);
        wall += ms;
      }
      const sorted = [...times].sort((a, b) => a - b);
      return {
        ...config,
        createMs,
        firstStepMs,
        msPerStep: sorted[Math.floor(sorted.length / 2)]!,
        outsideShare: (wall - (inside() - before)) / wall,
        loraParams: [...lora.modules.values()].reduce((n, m) => n + m.down.length + m.up.length, 0),
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      };
    } finally {
      await trainer.release();
    }
  } finally {
    await source.close();
  }
}

const [arg] = process.argv.slice(2);
if (arg?.startsWith('{')) {
  const result = await runTrainBench(JSON.parse(arg) as TrainBenchConfig);
  process.stdout.write(`TRAIN_BENCH_RESULT=${JSON.stringify(result)}\n`);
}
