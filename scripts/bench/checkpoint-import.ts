/**
 * Import figures (run as its own process, so its peak RSS is the import's): an SD 1.5-size single-file checkpoint
 * (≈1.07 billion parameters, float16, ≈2.1 GB) with random weights, written from the independent layout table the
 * tests use, converted into a model folder (UNet, text encoder and VAE graphs plus diffusers weights, float32 graphs
 * as the CPU provider runs them): seconds and MB/s of checkpoint to the first usable folder, cold (empty cache, the
 * SHA-256 included) and warm (a cache hit), and the peak RSS. `$BENCH_CHECKPOINT` measures a given file instead.
 * Prints one JSON line.
 */
import { mkdtempSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertModel } from '../../src-main/engine/checkpoint';
import { SD15_ARCH, writeLdmSafetensors } from '../../tests/helpers/ldm-checkpoint';

export type CheckpointImportFigures = {
  checkpoint: string;
  checkpointMb: number;
  writeSeconds: number | null;
  coldSeconds: number;
  coldMbPerSecond: number;
  warmSeconds: number;
  folderMb: number;
  peakRssMb: number;
};

/** Random float16 bits of moderate magnitude, cheap to make (an LCG per tensor). */
function fill(key: string, count: number): Uint16Array {
  let s = [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 5);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s & 0x8000) | (0x1c00 + ((s >>> 16) % 0x1000));
  }
  return out;
}

/** Bytes of every file under `dir`. */
function folderBytes(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) n += statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return n;
}

export async function benchCheckpointImport(root: string, workDir: string): Promise<CheckpointImportFigures> {
  const work = mkdtempSync(path.join(workDir, 'pinhole-ckpt-bench-'));
  try {
    let checkpoint = process.env['BENCH_CHECKPOINT'];
    let writeSeconds: number | null = null;
    if (!checkpoint) {
      const free = statfsSync(work).bavail * statfsSync(work).bsize;
      if (free < 12e9)
        throw new Error(`the checkpoint bench needs about 12 GB free in ${work}, ${(free / 1e9).toFixed(1)} GB are`);
      checkpoint = path.join(work, 'sd15-random-fp16.safetensors');
      const t = performance.now();
      await writeLdmSafetensors(checkpoint, SD15_ARCH, 'float16', fill);
      writeSeconds = (performance.now() - t) / 1000;
    }
    const cache = path.join(work, 'cache');
    const resources = path.join(root, 'resources');
    const mb = statSync(checkpoint).size / 1e6;
    let t0 = performance.now();
    const folder = await convertModel(checkpoint, cache, { resources });
    const coldSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await convertModel(checkpoint, cache, { resources });
    const warmSeconds = (performance.now() - t0) / 1000;
    return {
      checkpoint: process.env['BENCH_CHECKPOINT'] ?? 'SD 1.5 size, random float16 (generated)',
      checkpointMb: mb,
      writeSeconds,
      coldSeconds,
      coldMbPerSecond: mb / coldSeconds,
      warmSeconds,
      folderMb: folderBytes(folder) / 1e6,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? process.cwd();
  const figures = await benchCheckpointImport(root, process.argv[3] ?? root);
  console.log(JSON.stringify(figures));
}
