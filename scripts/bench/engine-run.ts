/**
 * Engine figures for one model folder, measured from outside the engine: the runtime is given a backend that
 * wraps onnxruntime-node's and timestamps every `session.run`, so everything else `Engine.generate` does
 * (tokenize, schedule, noise, CFG arithmetic, previews, tensor → PNG, …) is the wall time between those runs.
 * The gaps are bucketed by where they fall in the run sequence (before the text encoder, between UNet steps,
 * after the VAE) — the overhead's profile by phase — and an optional V8 CPU profile of a few more
 * generations names the JavaScript functions that take the time.
 */
import { Session, type Profiler } from 'node:inspector/promises';
import path from 'node:path';
import { Engine, type GenerateRequest, type GenerateResult } from '../../src-main/engine/pipelines';
import { hasGpuDevice, type InferenceBackend, type RawSession } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';

type Span = { readonly component: string; readonly start: number; readonly end: number };

/** Every session.run and session creation of the process, and the progress callbacks, in order. */
class Recorder {
  runs: Span[] = [];
  progress: { at: number; preview: boolean }[] = [];
  readonly created: Span[] = [];

  reset(): void {
    this.runs = [];
    this.progress = [];
  }
}

/** `inner` with each session's `run` timed (the engine's runtime sees an ordinary backend). */
function timedBackend(inner: InferenceBackend, rec: Recorder): InferenceBackend {
  return {
    listProviders: () => inner.listProviders(),
    // Device residency passes through untimed: an upload is once per generation, not a step.
    ...(inner.keepsTensorsOnDevice ? { keepsTensorsOnDevice: (p) => inner.keepsTensorsOnDevice?.(p) ?? false } : {}),
    ...(inner.upload ? { upload: (t, o) => inner.upload!(t, o) } : {}),
    async createSession(model, options): Promise<RawSession> {
      const component = typeof model === 'string' ? path.basename(path.dirname(model)) : 'probe';
      const start = performance.now();
      const raw = await inner.createSession(model, options);
      rec.created.push({ component, start, end: performance.now() });
      return {
        inputs: raw.inputs,
        outputs: raw.outputs,
        async run(feeds, fetches, deviceFeeds) {
          const s = performance.now();
          try {
            return await raw.run(feeds, fetches, deviceFeeds);
          } finally {
            rec.runs.push({ component, start: s, end: performance.now() });
          }
        },
        release: () => raw.release(),
      };
    },
  };
}

/** Overhead buckets: wall time outside session.run, by where it falls. */
export const BUCKETS = {
  prepare: 'request, session lookup, tokenize (before the first text-encoder run)',
  text: 'between text-encoder runs, conditioning, scheduler setup, initial noise (until the first UNet run)',
  stepUpdate: 'UNet output → progress callback: CFG combine, scheduler step, ancestral noise',
  stepPreview: 'the same on preview steps, plus latent → RGB → PNG data URL',
  stepInput: 'progress callback → next UNet run: yield, scale input, CFG doubling, feeds',
  final: 'last UNet run → VAE run: last step, VAE input',
  decode: 'after the VAE run: tensor → RGB, PNG encode, infotext',
} as const;
export type Bucket = keyof typeof BUCKETS;

export interface RunBreakdown {
  readonly wallMs: number;
  /** Wall time inside session.run, by component (text_encoder, unet, vae_decoder). */
  readonly runMs: Record<string, number>;
  readonly runCalls: Record<string, number>;
  readonly insideRunMs: number;
  readonly outsideRunMs: number;
  readonly buckets: Record<Bucket, number>;
  readonly timings: GenerateResult['timings'];
}

function breakdown(rec: Recorder, start: number, end: number, timings: GenerateResult['timings']): RunBreakdown {
  const runMs: Record<string, number> = {};
  const runCalls: Record<string, number> = {};
  for (const r of rec.runs) {
    runMs[r.component] = (runMs[r.component] ?? 0) + (r.end - r.start);
    runCalls[r.component] = (runCalls[r.component] ?? 0) + 1;
  }
  const insideRunMs = Object.values(runMs).reduce((a, b) => a + b, 0);
  const buckets: Record<Bucket, number> = {
    prepare: 0,
    text: 0,
    stepUpdate: 0,
    stepPreview: 0,
    stepInput: 0,
    final: 0,
    decode: 0,
  };
  const { runs, progress } = rec;
  const firstUnet = runs.findIndex((r) => r.component === 'unet');
  const lastUnet = runs.findLastIndex((r) => r.component === 'unet');
  let prevEnd = start;
  for (let i = 0; i <= runs.length; i++) {
    const next = runs[i];
    const gapEnd = next ? next.start : end;
    const gap = gapEnd - prevEnd;
    if (i === 0) buckets.prepare += gap;
    else if (i <= firstUnet) buckets.text += gap;
    else if (i <= lastUnet) {
      // Between two UNet runs: split at the progress callback of the step that just ended.
      const p = progress.find((e) => e.at >= prevEnd && e.at <= gapEnd);
      if (p) {
        buckets[p.preview ? 'stepPreview' : 'stepUpdate'] += p.at - prevEnd;
        buckets.stepInput += gapEnd - p.at;
      } else buckets.stepUpdate += gap;
    } else if (next) buckets.final += gap;
    else buckets.decode += gap;
    if (next) prevEnd = next.end;
  }
  const wallMs = end - start;
  return { wallMs, runMs, runCalls, insideRunMs, outsideRunMs: wallMs - insideRunMs, buckets, timings };
}

/** Sampled time per generation: ORT's run, idle (waiting on the thread pool), GC, and the top JS functions. */
export interface CpuProfileSummary {
  readonly generations: number;
  readonly sampledMs: number;
  readonly ortRunMs: number;
  readonly idleMs: number;
  readonly gcMs: number;
  readonly otherNativeMs: number;
  /** Self time of the JavaScript functions outside ORT, most first (per generation). */
  readonly topFunctions: { name: string; ms: number }[];
}

function summarizeProfile(profile: Profiler.Profile, generations: number): CpuProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inOrt = new Map<number, boolean>();
  const isOrt = (id: number): boolean => {
    const known = inOrt.get(id);
    if (known !== undefined) return known;
    const url = nodes.get(id)!.callFrame.url;
    const up = parent.get(id);
    const result = /onnxruntime-(node|common)/.test(url) || (up !== undefined && isOrt(up));
    inOrt.set(id, result);
    return result;
  };
  let sampled = 0;
  let ortRun = 0;
  let idle = 0;
  let gc = 0;
  let otherNative = 0;
  const self = new Map<string, number>();
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => {
    // A sample's delta is the time since the previous one: it belongs to the previous sample's stack.
    const ms = (deltas[i + 1] ?? 0) / 1000;
    sampled += ms;
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === '(idle)') idle += ms;
    else if (frame.functionName === '(garbage collector)') gc += ms;
    else if (isOrt(id)) ortRun += ms;
    else if (frame.functionName === '(program)' || frame.url === '') otherNative += ms;
    else {
      const name = `${frame.functionName || '(anonymous)'} (${path.basename(frame.url)})`;
      self.set(name, (self.get(name) ?? 0) + ms);
    }
  });
  const per = (ms: number) => ms / generations;
  return {
    generations,
    sampledMs: per(sampled),
    ortRunMs: per(ortRun),
    idleMs: per(idle),
    gcMs: per(gc),
    otherNativeMs: per(otherNative),
    topFunctions: [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([name, ms]) => ({ name, ms: per(ms) })),
  };
}

export interface EngineBenchOptions {
  readonly modelDir: string;
  readonly steps: number;
  /** Measured generations after the first (cold) one, called as the app's engine host calls it. */
  readonly runs: number;
  /** Measured generations with no signal, no progress callback and no previews. */
  readonly bareRuns: number;
  /** Generations under the V8 sampling profiler (after the measured ones; 0 = no profile). */
  readonly profileRuns: number;
  /** ORT intra-op threads; ORT's default (the physical cores) when absent. */
  readonly threads?: number | undefined;
  /** Whether ORT's intra-op threads spin; the engine's default when absent. */
  readonly spinning?: boolean | undefined;
  /** The execution provider; `PINHOLE_EP`, else `cpu`, when absent. */
  readonly provider?: string | undefined;
}

export interface EngineBenchResult {
  readonly provider: string;
  readonly providerForced: boolean;
  readonly request: { sampler: string; steps: number; cfgScale: number; width: number; height: number };
  readonly sessionCreateMs: Record<string, number>;
  readonly cold: RunBreakdown;
  readonly runs: RunBreakdown[];
  readonly bare: RunBreakdown[];
  readonly profile: CpuProfileSummary | undefined;
  readonly peakRssMb: number;
  /** Whether the machine has a GPU device node (false: a WebGPU adapter is a software rasterizer). */
  readonly gpuDevicePresent: boolean;
  /** Host → device traffic of the whole process (device residency; zero on the CPU provider). */
  readonly device: { uploads: number; uploadedBytes: number; deviceFeeds: number; live: number };
}

/** Runs the engine on one model folder and returns the raw measurements (summarised by the caller). */
export async function benchEngine(options: EngineBenchOptions): Promise<EngineBenchResult> {
  const rec = new Recorder();
  const engine = new Engine({
    backend: timedBackend(createOrtBackend(), rec),
    provider: options.provider ?? process.env['PINHOLE_EP'] ?? 'cpu',
    sessionDefaults: {
      ...(options.threads !== undefined ? { intraOpNumThreads: options.threads } : {}),
      ...(options.spinning !== undefined ? { intraOpSpinning: options.spinning } : {}),
    },
  });
  try {
    const selection = await engine.provider();
    const pipeline = await engine.pipeline(options.modelDir);
    const request: GenerateRequest = {
      model: options.modelDir,
      prompt: 'a photograph of an astronaut riding a horse on the moon, (highly detailed:1.2), sharp focus',
      negativePrompt: 'blurry, low quality, watermark',
      seed: 42n,
      steps: options.steps,
    };
    // App-like: the engine host passes a signal and a progress callback, and previews default to every 4 steps.
    const generate = async (appLike: boolean): Promise<RunBreakdown> => {
      rec.reset();
      const controller = new AbortController();
      const start = performance.now();
      const result = await engine.generate(
        appLike ? request : { ...request, previewEvery: 0 },
        appLike
          ? {
              signal: controller.signal,
              onProgress: (p) => {
                rec.progress.push({ at: performance.now(), preview: p.preview !== undefined });
              },
            }
          : {},
      );
      const end = performance.now();
      if (result.images.length !== 1 || result.timesteps.length !== options.steps) {
        throw new Error(`unexpected result: ${result.images.length} images, ${result.timesteps.length} steps`);
      }
      return breakdown(rec, start, end, result.timings);
    };

    const cold = await generate(true);
    const runs: RunBreakdown[] = [];
    for (let i = 0; i < options.runs; i++) runs.push(await generate(true));
    const bare: RunBreakdown[] = [];
    for (let i = 0; i < options.bareRuns; i++) bare.push(await generate(false));
    const peakRssMb = process.resourceUsage().maxRSS / 1024;

    let profile: CpuProfileSummary | undefined;
    if (options.profileRuns > 0) {
      const inspector = new Session();
      inspector.connect();
      try {
        await inspector.post('Profiler.enable');
        await inspector.post('Profiler.setSamplingInterval', { interval: 250 });
        await inspector.post('Profiler.start');
        for (let i = 0; i < options.profileRuns; i++) await generate(true);
        const { profile: raw } = await inspector.post('Profiler.stop');
        profile = summarizeProfile(raw, options.profileRuns);
      } finally {
        inspector.disconnect();
      }
    }

    const sessionCreateMs: Record<string, number> = {};
    for (const c of rec.created) sessionCreateMs[c.component] = (sessionCreateMs[c.component] ?? 0) + (c.end - c.start);
    const recommended = pipeline.model.traits.recommended;
    return {
      provider: selection.provider,
      providerForced: selection.forced,
      request: {
        sampler: recommended.sampler,
        steps: options.steps,
        cfgScale: recommended.cfgScale,
        width: pipeline.model.defaultSize,
        height: pipeline.model.defaultSize,
      },
      sessionCreateMs,
      cold,
      runs,
      bare,
      profile,
      peakRssMb,
      gpuDevicePresent: hasGpuDevice(),
      device: { ...engine.runtime.deviceCounters },
    };
  } finally {
    await engine.dispose();
  }
}
