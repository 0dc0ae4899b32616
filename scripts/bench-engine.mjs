// The inference engine's figures for `npm run bench` (also runnable alone: `node scripts/bench-engine.mjs`).
//   - engine overhead: the share of a 20-step txt2img's wall time spent outside `session.run` (tokenize,
//     schedule, noise, CFG arithmetic, previews, decode to PNG…), with where that time goes
//   - steps per second and the generating process's peak RSS
// for the sd15-tiny fixture and for a mid-size SD-1.x-shaped model built here by the engine's own builders
// from random weights. Each model runs in its own child process, so its peak RSS is that process's.
// How: the engine's runtime gets a backend wrapping onnxruntime-node's whose sessions timestamp every `run`
// (scripts/bench/engine-run.ts); no engine code is instrumented. "Outside session.run" is the generate call's
// wall time minus the time inside those runs, split by where each gap falls (before the text encoder, between
// UNet steps, after the VAE), plus a V8 CPU profile of the main thread naming the JavaScript that runs there.
// Generations are called as the app's engine host calls them (abort signal, progress callback, a latent
// preview every 4 steps); the tiny model is also timed bare (no signal, callback or previews). The first
// generation of each process (session loads) is reported apart from the warm ones.
// The TypeScript side is scripts/bench/engine-*.ts, bundled into dist/bench. Knobs: BENCH_ENGINE_RUNS,
// BENCH_ENGINE_MID_RUNS, BENCH_ENGINE_THREADS, BENCH_ENGINE_SPINNING, BENCH_ENGINE_WEBGPU, PINHOLE_EP (see
// benchEngineFigures).
// WebGPU: the tiny model also runs on onnxruntime-node's WebGPU provider (forced), labelled as software
// rendering when the machine has no GPU device (Mesa's lavapipe then runs the shaders on the CPU: a check that
// the GPU path works, not a GPU speed figure), and ORT's verbose log of node placements lists the nodes of
// each model that WebGPU leaves to the CPU.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const self = fileURLToPath(import.meta.url);
const DIST = path.join(root, 'dist/bench');
const STEPS = 20;
const RESULT_PREFIX = 'ENGINE_BENCH_RESULT=';

/** The shared fixtures folder, found as the integration tests find it; undefined when absent. */
export function findFixtures() {
  return [process.env.PINHOLE_FIXTURES, path.join(root, 'shared/fixtures'), path.join(root, '../shared/fixtures')].find(
    (dir) => dir !== undefined && existsSync(path.join(dir, 'sd15-tiny', 'model_index.json')),
  );
}

async function bundle() {
  await build({
    entryPoints: {
      'engine-build': path.join(root, 'scripts/bench/engine-build.ts'),
      'engine-run': path.join(root, 'scripts/bench/engine-run.ts'),
    },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    outdir: DIST,
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
}

/** Dawn wants a private runtime folder (it warns on every session without one). */
function childEnv() {
  if (process.env.XDG_RUNTIME_DIR) return process.env;
  return { ...process.env, XDG_RUNTIME_DIR: mkdtempSync(path.join(tmpdir(), 'pinhole-xdg-')) };
}

/**
 * Runs this script as a child (`--child <mode> <arg>`) and returns the JSON it prints. With `stderrFile`, the
 * child's stderr goes to that file instead of a pipe: Node makes its pipes non-blocking, and ORT's native log
 * stream gives up for good at the first full pipe, so a long verbose log only survives whole in a file.
 */
function child(mode, arg, stderrFile) {
  return new Promise((resolve, reject) => {
    const errFd = stderrFile ? openSync(stderrFile, 'w') : undefined;
    const proc = spawn(process.execPath, [self, '--child', mode, arg], {
      stdio: ['ignore', 'pipe', errFd ?? 'pipe'],
      env: childEnv(),
    });
    if (errFd !== undefined) closeSync(errFd);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr?.on('data', (d) => (stderr += d));
    proc.on('error', reject);
    // 'close', not 'exit': the process may exit before its pipes are drained.
    proc.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) {
        const tail = stderrFile ? readFileSync(stderrFile, 'utf8') : stderr;
        reject(new Error(`engine bench child (${mode}) exited ${code}: ${tail.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)));
    });
  });
}

const MODEL_MARK = 'ENGINE_BENCH_MODEL=';

/** Child: creates a WebGPU session for each model with ORT's verbose log on (placements go to stderr). */
async function logPlacements(models) {
  const { default: ort } = await import('onnxruntime-node');
  ort.env.logLevel = 'verbose';
  for (const { name, file } of models) {
    process.stderr.write(`${MODEL_MARK}${name}\n`);
    const session = await ort.InferenceSession.create(file, {
      executionProviders: ['webgpu'],
      logSeverityLevel: 0,
    });
    await session.release();
  }
  return { models: models.map((m) => m.name) };
}

/**
 * ORT's "Node placements" log per model: nodes per execution provider, and the CPU's nodes by op type. ORT puts
 * shape arithmetic (int64 Shape/Gather/Concat/Unsqueeze… feeding Reshape) on the CPU on purpose; the rest are
 * ops the WebGPU provider has no kernel for.
 */
export function parsePlacements(stderr) {
  const out = {};
  let model;
  let provider;
  for (const line of stderr.split('\n')) {
    if (line.startsWith(MODEL_MARK)) {
      model = line.slice(MODEL_MARK.length).trim();
      out[model] = { nodes: {}, cpuOps: {}, cpuNodes: [] };
      continue;
    }
    if (!model) continue;
    const placed = /Node\(s\) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(line);
    if (placed) {
      provider = placed[1].replace('ExecutionProvider', '');
      out[model].nodes[provider] = Number(placed[2]);
      continue;
    }
    const node = /VerifyEachNodeIsAssignedToAnEp\]\s{3}(\S+) \((.*)\)\s*$/.exec(line);
    if (node && provider === 'CPU') {
      out[model].cpuOps[node[1]] = (out[model].cpuOps[node[1]] ?? 0) + 1;
      out[model].cpuNodes.push(`${node[1]} ${node[2]}`);
    }
  }
  return out;
}

/** WebGPU placements of some model files (a child process, so ORT's native log can be read). */
export async function webgpuPlacements(models) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pinhole-bench-ort-log-'));
  try {
    const log = path.join(dir, 'stderr.log');
    await child('placements', JSON.stringify(models), log);
    return parsePlacements(readFileSync(log, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function childMain(mode, arg) {
  let result;
  if (mode === 'placements') {
    result = await logPlacements(JSON.parse(arg));
  } else if (mode === 'build') {
    const { dir, fixture } = JSON.parse(arg);
    const { buildMidModel } = await import(pathToFileURL(path.join(DIST, 'engine-build.mjs')).href);
    result = await buildMidModel(dir, fixture);
  } else {
    const { benchEngine } = await import(pathToFileURL(path.join(DIST, 'engine-run.mjs')).href);
    result = await benchEngine(JSON.parse(arg));
  }
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
}

/** Parameters in a folder's safetensors files (header only). */
function safetensorsParams(dir) {
  let n = 0;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.safetensors'))) {
    const fd = openSync(path.join(dir, name), 'r');
    try {
      const len = Buffer.alloc(8);
      readSync(fd, len, 0, 8, 0);
      const header = Buffer.alloc(Number(len.readBigUInt64LE(0)));
      readSync(fd, header, 0, header.length, 8);
      for (const [key, t] of Object.entries(JSON.parse(header.toString('utf8')))) {
        if (key !== '__metadata__') n += t.shape.reduce((a, b) => a * b, 1);
      }
    } finally {
      closeSync(fd);
    }
  }
  return n;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const share = (r) => (100 * r.outsideRunMs) / r.wallMs;

/** The figures of one model from its child's raw measurements. */
function summarize(name, raw, parameters) {
  const { runs, bare } = raw;
  const sum = (key) => runs.reduce((a, r) => a + r[key], 0);
  const meanOf = (pick) => {
    const keys = new Set(runs.flatMap((r) => Object.keys(pick(r))));
    return Object.fromEntries([...keys].map((k) => [k, mean(runs.map((r) => pick(r)[k] ?? 0))]));
  };
  const unetMs = median(runs.map((r) => (r.runMs.unet ?? 0) / STEPS));
  return {
    model: name,
    parameters,
    provider: raw.provider,
    request: raw.request,
    overhead: {
      // Σ outside / Σ wall over the measured (warm, app-like) runs; per-run median and range beside it.
      sharePct: (100 * sum('outsideRunMs')) / sum('wallMs'),
      medianPct: median(runs.map(share)),
      minPct: Math.min(...runs.map(share)),
      maxPct: Math.max(...runs.map(share)),
      outsideMsPerImage: mean(runs.map((r) => r.outsideRunMs)),
      perStepMs: mean(runs.map((r) => r.buckets.stepUpdate + r.buckets.stepPreview + r.buckets.stepInput)) / STEPS,
      bareSharePct: bare.length
        ? (100 * mean(bare.map((r) => r.outsideRunMs))) / mean(bare.map((r) => r.wallMs))
        : null,
      bareOutsideMsPerImage: bare.length ? mean(bare.map((r) => r.outsideRunMs)) : null,
      coldSharePct: share(raw.cold),
      runs: runs.length,
      bareRuns: bare.length,
    },
    wallMsMedian: median(runs.map((r) => r.wallMs)),
    coldWallMs: raw.cold.wallMs,
    stepsPerSecond: median(runs.map((r) => r.timings.stepsPerSecond)),
    unetMsPerStep: unetMs,
    insideRunMsPerImage: meanOf((r) => r.runMs),
    runCallsPerImage: runs[0]?.runCalls,
    overheadMsPerImage: meanOf((r) => r.buckets),
    sessionCreateMs: raw.sessionCreateMs,
    cpuProfile: raw.profile ?? null,
    peakRssMb: raw.peakRssMb,
  };
}

const f1 = (n) => n.toFixed(1);
const f2 = (n) => n.toFixed(2);
const mParams = (n) => `${(n / 1e6).toFixed(1)} M`;

const BUCKET_LABELS = {
  stepPreview: 'preview steps (update + latent PNG)',
  stepUpdate: 'step update (CFG, scheduler, noise)',
  stepInput: 'step input (yield, scale, CFG batch)',
  decode: 'after VAE (RGB, PNG)',
  text: 'text/scheduler setup',
  prepare: 'prepare/tokenize',
  final: 'last step → VAE',
};

function lines(fig, heading) {
  const o = fig.overhead;
  const sessionLoadMs = Object.values(fig.sessionCreateMs).reduce((a, b) => a + b, 0);
  const row = (label, text) => `    ${label.padEnd(36)} ${text}`;
  const out = [`  ${heading}`];
  if (fig.architecture) out.push(row('architecture', fig.architecture));
  out.push(
    row(
      'outside session.run',
      `${f2(o.sharePct)} % of ${f2(fig.wallMsMedian / 1000)} s/image (${o.runs} runs: ${f2(o.minPct)}–${f2(o.maxPct)} %)` +
        (o.bareSharePct === null ? '' : `; no previews/callbacks ${f2(o.bareSharePct)} %`) +
        `; cold first image ${f1(o.coldSharePct)} % of ${f2(fig.coldWallMs / 1000)} s (session loads ${f2(sessionLoadMs / 1000)} s)`,
    ),
  );
  out.push(
    row(
      'speed, memory',
      `${f2(fig.stepsPerSecond)} steps/s on ${fig.provider} (UNet ${f1(fig.unetMsPerStep)} ms/step at CFG batch 2), peak RSS ${f1(fig.peakRssMb)} MB`,
    ),
  );
  const buckets = Object.entries(fig.overheadMsPerImage)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${BUCKET_LABELS[k] ?? k} ${f1(v)}`)
    .join(' · ');
  out.push(row('outside session.run, ms/image', `${f1(o.outsideMsPerImage)} = ${buckets}`));
  const p = fig.cpuProfile;
  if (p) {
    const top = p.topFunctions
      .slice(0, 6)
      .map((t) => `${t.name.replace(' (engine-run.mjs)', '')} ${f1(t.ms)}`)
      .join(' · ');
    out.push(
      row(
        'main-thread CPU profile, ms/image',
        `${f1(p.sampledMs - p.ortRunMs)} of ${f1(p.sampledMs)} sampled outside ORT ` +
          `(${f2((100 * (p.sampledMs - p.ortRunMs)) / p.sampledMs)} %, ${p.generations} images): ` +
          `JS ${top} · GC ${f1(p.gcMs)} · other native ${f1(p.otherNativeMs)} · idle ${f1(p.idleMs)}`,
      ),
    );
  }
  return out;
}

/** Spinning on vs off (the engine's default), same model and request, one run. */
function spinningLines(off, on) {
  const row = (fig) =>
    `${f2(fig.overhead.sharePct)} % outside session.run, ${f2(fig.wallMsMedian / 1000)} s/image, UNet ${f1(fig.unetMsPerStep)} ms/step`;
  return [
    `    ${'intra-op spinning off (default)'.padEnd(36)} ${row(off)}`,
    `    ${'intra-op spinning on (ORT default)'.padEnd(36)} ${row(on)}`,
  ];
}

/** The WebGPU figures, named and labelled as software rendering where they are. */
function webgpuLines(w, request) {
  if (!w.overhead) return [`  engine on WebGPU: skipped — ${w.skipped}`];
  const how = w.softwareRendering
    ? 'SOFTWARE RENDERING: no GPU on this machine, Mesa lavapipe (Vulkan on the CPU) runs the shaders — proves the GPU path, not GPU speed'
    : 'GPU adapter';
  const perImage = (n) => f1(n / (w.overhead.runs + 1));
  const out = [
    `  engine on the webgpu execution provider (${how}), sd15-tiny ${request.width}×${request.height}, ${STEPS} steps:`,
    `    ${'speed, memory'.padEnd(36)} ${f2(w.stepsPerSecond)} steps/s (UNet ${f1(w.unetMsPerStep)} ms/step), peak RSS ${f1(w.peakRssMb)} MB, outside session.run ${f2(w.overhead.sharePct)} %`,
    `    ${'device residency'.padEnd(36)} ${perImage(w.device.uploads)} conditioning uploads and ${perImage(w.device.deviceFeeds)} device feeds per image (${STEPS} steps), ${w.device.live} device tensors left`,
  ];
  for (const [model, p] of Object.entries(w.placements ?? {})) {
    const ops = Object.entries(p.cpuOps)
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    out.push(
      `    ${`placement: ${model}`.padEnd(36)} ${p.nodes.WebGpu ?? 0} nodes on WebGPU, ${p.nodes.CPU ?? 0} on CPU${ops ? ` (${ops})` : ''}`,
    );
  }
  if (w.midPlacementError) out.push(`    placement of the mid-size model failed: ${w.midPlacementError}`);
  return out;
}

/**
 * Builds the mid-size model in `work`, runs both models in child processes and returns the figures and the
 * table lines. Knobs: BENCH_ENGINE_RUNS (tiny, default 5), BENCH_ENGINE_MID_RUNS (default 2),
 * BENCH_ENGINE_THREADS (ORT intra-op threads; ORT's default otherwise), PINHOLE_EP (default cpu).
 */
export async function benchEngineFigures(work, log = (m) => process.stderr.write(`bench: ${m}\n`)) {
  const fixtures = findFixtures();
  if (!fixtures) return { figures: { skipped: 'shared/fixtures not found (set PINHOLE_FIXTURES)' }, lines: [] };
  const tinyDir = path.join(fixtures, 'sd15-tiny');
  const threads = process.env.BENCH_ENGINE_THREADS ? Number(process.env.BENCH_ENGINE_THREADS) : undefined;
  const spinning = process.env.BENCH_ENGINE_SPINNING ? process.env.BENCH_ENGINE_SPINNING === '1' : undefined;
  const loadBefore = loadavg()[0];
  const started = performance.now();
  await bundle();

  log('engine: sd15-tiny, 20-step txt2img…');
  const tinyRun = (extra) =>
    child(
      'run',
      JSON.stringify({
        modelDir: tinyDir,
        steps: STEPS,
        runs: Math.max(1, Number(process.env.BENCH_ENGINE_RUNS ?? 5)),
        bareRuns: 3,
        profileRuns: 3,
        threads,
        spinning,
        ...extra,
      }),
    );
  const tinyRaw = await tinyRun({});
  // The same with ORT's intra-op threads spinning (ORT's own default), for the ratio within this run.
  log('engine: sd15-tiny again with intra-op spinning on…');
  const spinRaw = await tinyRun({ spinning: !(spinning ?? false), bareRuns: 0, profileRuns: 0, runs: 3 });

  let webgpu = { skipped: 'BENCH_ENGINE_WEBGPU=0' };
  if (process.env.BENCH_ENGINE_WEBGPU !== '0') {
    log('engine: sd15-tiny on WebGPU…');
    try {
      const raw = await tinyRun({ provider: 'webgpu', runs: 2, bareRuns: 0, profileRuns: 0 });
      const components = ['text_encoder', 'unet', 'vae_decoder'];
      const placements = await webgpuPlacements(
        components.map((c) => ({ name: `sd15-tiny ${c}`, file: path.join(tinyDir, c, 'model.onnx') })),
      );
      webgpu = { raw, placements };
    } catch (error) {
      webgpu = { skipped: String(error?.message ?? error).split('\n')[0] };
    }
  }
  const tinyParams = {
    unet: safetensorsParams(path.join(tinyDir, 'unet')),
    textEncoder: safetensorsParams(path.join(tinyDir, 'text_encoder')),
    vae: safetensorsParams(path.join(tinyDir, 'vae')),
  };
  tinyParams.total = tinyParams.unet + tinyParams.textEncoder + tinyParams.vae;

  log('engine: building the mid-size model (random weights)…');
  const midDir = path.join(work, 'engine-mid-model');
  const built = await child('build', JSON.stringify({ dir: midDir, fixture: tinyDir }));
  log('engine: mid-size model, 20-step txt2img…');
  const midRaw = await child(
    'run',
    JSON.stringify({
      modelDir: midDir,
      steps: STEPS,
      runs: Math.max(1, Number(process.env.BENCH_ENGINE_MID_RUNS ?? 2)),
      bareRuns: 0,
      profileRuns: 0,
      threads,
      spinning,
    }),
  );
  if (webgpu.placements) {
    // The mid-size model is built by the engine's own builders: where WebGPU leaves its nodes matters most.
    try {
      Object.assign(
        webgpu.placements,
        await webgpuPlacements(
          ['text_encoder', 'unet', 'vae_decoder'].map((c) => ({
            name: `mid-size (our builder) ${c}`,
            file: path.join(midDir, c, 'model.onnx'),
          })),
        ),
      );
    } catch (error) {
      webgpu.midPlacementError = String(error?.message ?? error).split('\n')[0];
    }
  }
  rmSync(midDir, { recursive: true, force: true });

  const tiny = summarize('sd15-tiny', tinyRaw, tinyParams);
  const spin = summarize('sd15-tiny, intra-op spinning on', spinRaw, tinyParams);
  const gpu = webgpu.raw ? summarize('sd15-tiny on WebGPU', webgpu.raw, tinyParams) : null;
  const mid = summarize('mid-size SD-1.x (random weights)', midRaw, built.parameters);
  mid.architecture =
    'UNet block_out_channels [128,256,256,256], 2 layers/block, cross_attention_dim 768, 8 heads; ' +
    'CLIP text 768 wide × 4 layers (ViT-L/14 text config, 12 → 4 layers); VAE [32,64,128,128], 1 layer/block';
  mid.modelBytesOnDisk = built.bytesOnDisk;
  mid.buildMs = built.buildMs;
  const ortVersion = JSON.parse(
    readFileSync(path.join(root, 'node_modules/onnxruntime-node/package.json'), 'utf8'),
  ).version;
  const figures = {
    executionProvider: tinyRaw.provider,
    onnxruntimeNode: ortVersion,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    intraOpThreads: threads ?? 'ORT default',
    intraOpSpinning: spinning ?? false,
    tinySpinningOn: spin,
    webgpu: gpu
      ? {
          ...gpu,
          softwareRendering: !webgpu.raw.gpuDevicePresent,
          device: webgpu.raw.device,
          placements: webgpu.placements,
          ...(webgpu.midPlacementError ? { midPlacementError: webgpu.midPlacementError } : {}),
        }
      : webgpu,
    loadAverage1m: { before: loadBefore, after: loadavg()[0] },
    steps: STEPS,
    tiny,
    mid,
    seconds: (performance.now() - started) / 1000,
  };
  const r = tiny.request;
  const out = [
    `  engine: ${STEPS}-step txt2img (${r.sampler}, CFG ${r.cfgScale}, 1 image) on the ${figures.executionProvider} execution provider, onnxruntime-node ${ortVersion}, ${figures.cpus} CPUs, load avg ${f1(loadBefore)} → ${f1(figures.loadAverage1m.after)}`,
    ...lines(
      tiny,
      `sd15-tiny fixture, ${r.width}×${r.height}: ${mParams(tinyParams.total)} params (UNet ${mParams(tinyParams.unet)}, text ${mParams(tinyParams.textEncoder)}, VAE ${mParams(tinyParams.vae)})`,
    ),
    ...spinningLines(tiny, spin),
    ...webgpuLines(figures.webgpu, r),
    ...lines(
      mid,
      `mid-size SD-1.x, random weights, ${mid.request.width}×${mid.request.height}: ${mParams(built.parameters.total)} params (UNet ${mParams(built.parameters.unet)}, text ${mParams(built.parameters.textEncoder)}, VAE ${mParams(built.parameters.vae)})`,
    ),
  ];
  return { figures, lines: out };
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === self;
if (isMain && process.argv[2] === '--child') {
  await childMain(process.argv[3], process.argv[4]);
} else if (isMain) {
  const work = mkdtempSync(path.join(tmpdir(), 'pinhole-bench-engine-'));
  try {
    const { figures, lines: out } = await benchEngineFigures(work);
    console.log('Pinhole Studio — engine bench');
    for (const l of out) console.log(l);
    console.log(JSON.stringify({ engine: figures }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
