/**
 * The data home: one folder per user holding the database and every file the studio keeps.
 * Electron passes its userData; headless and the CLI use --data-dir, then PINHOLE_HOME, then ~/.pinhole.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { PinholeError } from '../../src-shared/errors';

export type DataHome = {
  root: string;
  database: string;
  /** Content-addressed originals: images/ab/<sha256>. */
  images: string;
  /** WebP thumbnails: thumbs/ab/<sha256>.webp. */
  thumbs: string;
  /** Browser uploads waiting for their import job. */
  uploads: string;
  /** Scratch space on the same volume (atomic renames into the stores). */
  tmp: string;
  /** Lock and server-discovery files of running processes. */
  runtime: string;
  /** Model folders the Generate page offers (until the model manager arrives). */
  models: string;
  /** Init images and masks sent inline for generation, content-addressed. */
  inputs: string;
  /** Rebuildable caches (graphs the engine builds from weights); safe to delete. */
  cache: string;
  /** Downloads in progress: `<job id>.part`, kept across restarts so a download resumes. */
  downloads: string;
  /** LoRAs trained from the studio (the Train page), one `.safetensors` per run. */
  loras: string;
  /** Per Train-page run, `<job id>/`: its checkpoints (LoRA + resumable state) and sample images. */
  training: string;
};

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? env['PINHOLE_HOME'] ?? path.join(homedir(), '.pinhole');
  return path.resolve(chosen);
}

/** Lays out (creating what is missing) the folders of a data home. */
export function openDataHome(root: string): DataHome {
  const home: DataHome = {
    root,
    database: path.join(root, 'pinhole.db'),
    images: path.join(root, 'images'),
    thumbs: path.join(root, 'thumbs'),
    uploads: path.join(root, 'uploads'),
    tmp: path.join(root, 'tmp'),
    runtime: path.join(root, 'runtime'),
    models: path.join(root, 'models'),
    inputs: path.join(root, 'inputs'),
    cache: path.join(root, 'cache'),
    downloads: path.join(root, 'downloads'),
    loras: path.join(root, 'loras'),
    training: path.join(root, 'training'),
  };
  try {
    for (const dir of [home.root, home.images, home.thumbs, home.uploads, home.tmp, home.runtime, home.models]) {
      mkdirSync(dir, { recursive: true });
    }
  } catch (error) {
    throw new PinholeError(
      'DATA_HOME_UNAVAILABLE',
      `Cannot create the data home at ${root}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return home;
}
