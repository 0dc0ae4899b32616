// `npm run bench`: the foundation's figures, printed as a table and as one JSON line.
//   - cold start of `pinhole serve` to its first API answer (ms)
//   - import throughput (images/s) for 200 generated 2048×1536 JPEGs, with the import's peak RSS
//   - gallery page query time at 10,000 images (ms)
//   - the inference engine: overhead outside session.run, steps/s and peak RSS (scripts/bench-engine.mjs)
// Figures on a shared 2-core machine are noisy: compare ratios taken in one run.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import sharp from 'sharp';
import { benchEngineFigures, findFixtures } from './bench-engine.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'bin/pinhole.js');
const work = mkdtempSync(path.join(tmpdir(), 'pinhole-bench-'));
const IMPORT_COUNT = Number(process.env.BENCH_IMPORT_COUNT ?? 200);
const GALLERY_COUNT = Number(process.env.BENCH_GALLERY_COUNT ?? 10_000);
// Reports the child's peak RSS on exit without touching product code.
const RSS_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('PEAK_RSS_KB='+process.resourceUsage().maxRSS+'\\n'))`;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function coldStart() {
  const home = path.join(work, `serve-${Math.random().toString(16).slice(2)}`);
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'serve', '--data-dir', home, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /serving at (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  const res = await fetch(new URL('api/call/app.info', url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{}',
  });
  if (!res.ok) throw new Error(`app.info answered ${res.status}`);
  const ms = performance.now() - t0;
  await new Promise((resolve) => {
    child.on('exit', resolve);
    child.kill('SIGTERM');
  });
  return ms;
}

async function importThroughput() {
  const photos = path.join(work, 'photos');
  mkdirSync(photos);
  process.stderr.write(`bench: generating ${IMPORT_COUNT} 2048×1536 JPEGs…\n`);
  const base = await sharp({
    create: {
      width: 2048,
      height: 1536,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 30 },
    },
  })
    .raw()
    .toBuffer();
  for (let i = 0; i < IMPORT_COUNT; i++) {
    // A white 32×32 block at a different place in each photo: distinct content that survives JPEG.
    const bx = (i % 64) * 32;
    const by = Math.floor(i / 64) * 32;
    for (let y = by; y < by + 32; y++) base.fill(255, (y * 2048 + bx) * 3, (y * 2048 + bx + 32) * 3);
    writeFileSync(
      path.join(photos, `photo-${String(i).padStart(3, '0')}.jpg`),
      await sharp(base, { raw: { width: 2048, height: 1536, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
  }
  const home = path.join(work, 'import-home');
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ['--import', RSS_HOOK, bin, 'import', photos, '--dataset', 'bench', '--json', '--data-dir', home],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  const seconds = (performance.now() - t0) / 1000;
  const accepted = stdout.split('\n').filter((l) => l.includes('"accepted"')).length;
  if (code !== 0 || accepted !== IMPORT_COUNT)
    throw new Error(`import failed (exit ${code}, ${accepted} accepted): ${stderr}`);
  const peakKb = Number(/PEAK_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN);
  return { imagesPerSecond: IMPORT_COUNT / seconds, seconds, peakRssMb: peakKb / 1024 };
}

async function gallery() {
  const out = path.join(root, 'dist/bench/gallery-bench.mjs');
  await build({
    entryPoints: [path.join(root, 'scripts/bench/gallery-bench.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: out,
    logLevel: 'warning',
  });
  const { benchGallery } = await import(out);
  process.stderr.write(`bench: filling a gallery with ${GALLERY_COUNT} images…\n`);
  return benchGallery(path.join(work, 'gallery-home'), GALLERY_COUNT);
}

// The SD 1.5-size checkpoint import runs in its own process so that its peak RSS is the import's alone.
async function checkpointImport() {
  const out = path.join(root, 'dist/bench/checkpoint-import.mjs');
  await build({
    entryPoints: [path.join(root, 'scripts/bench/checkpoint-import.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: out,
    logLevel: 'warning',
  });
  process.stderr.write('bench: importing an SD 1.5-size single-file checkpoint (≈2 GB, several minutes)…\n');
  const child = spawn(process.execPath, [out, root, work], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`checkpoint import bench exited ${code}`);
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

/** LoRA training steps (scripts/bench/train-*.ts, bundled into dist/bench; see train-figures.ts). */
async function benchTraining() {
  try {
    const dist = path.join(root, 'dist/bench');
    await build({
      entryPoints: {
        'train-step': path.join(root, 'scripts/bench/train-step.ts'),
        'train-figures': path.join(root, 'scripts/bench/train-figures.ts'),
      },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      packages: 'external',
      outdir: dist,
      outExtension: { '.js': '.mjs' },
      logLevel: 'warning',
    });
    const { benchTrainingFigures } = await import(pathToFileURL(path.join(dist, 'train-figures.mjs')).href);
    return await benchTrainingFigures(dist, findFixtures());
  } catch (error) {
    process.exitCode = 1;
    return {
      figures: { error: String(error?.stack ?? error) },
      lines: [`  training: FAILED — ${String(error?.message ?? error)}`],
    };
  }
}

try {
  const starts = [];
  for (let i = 0; i < 5; i++) starts.push(await coldStart());
  const imp = await importThroughput();
  const gal = await gallery();
  const ckpt = await checkpointImport();
  let engine;
  try {
    engine = await benchEngineFigures(work);
  } catch (error) {
    // The foundation's figures still print; the run fails.
    process.exitCode = 1;
    engine = {
      figures: { error: String(error?.stack ?? error) },
      lines: [`  engine: FAILED — ${String(error?.message ?? error)}`],
    };
  }
  const training = await benchTraining();
  const figures = {
    serveColdStartMs: { median: median(starts), min: Math.min(...starts), runs: starts.length },
    import: { count: IMPORT_COUNT, size: '2048x1536', ...imp },
    gallery: gal,
    benchProcessPeakRssMb: process.resourceUsage().maxRSS / 1024,
    engine: engine.figures,
    training: training.figures,
  };
  const f = (n) => n.toFixed(1);
  console.log('Pinhole Studio — bench');
  console.log(
    `  serve cold start → first API answer   ${f(figures.serveColdStartMs.median)} ms median (min ${f(figures.serveColdStartMs.min)}, ${starts.length} runs)`,
  );
  console.log(
    `  import ${IMPORT_COUNT} × 2048×1536 JPEG             ${f(imp.imagesPerSecond)} images/s (${f(imp.seconds)} s), peak RSS ${f(imp.peakRssMb)} MB`,
  );
  console.log(
    `  gallery at ${gal.images} images: first page   ${gal.firstPageMs.toFixed(2)} ms, deep page ${gal.deepPageMs.toFixed(2)} ms, search ${gal.searchPageMs.toFixed(2)} ms (100 per page)`,
  );
  console.log(`  bench process peak RSS                ${f(figures.benchProcessPeakRssMb)} MB`);
  for (const line of engine.lines) console.log(line);
  for (const line of training.lines) console.log(line);
  console.log(
    `  checkpoint import (${f(ckpt.checkpointMb)} MB)         cold ${f(ckpt.coldSeconds)} s (${f(ckpt.coldMbPerSecond)} MB/s), warm ${f(ckpt.warmSeconds)} s, peak RSS ${f(ckpt.peakRssMb)} MB`,
  );
  figures.checkpointImport = ckpt;
  console.log(JSON.stringify(figures));
} finally {
  rmSync(work, { recursive: true, force: true });
}
