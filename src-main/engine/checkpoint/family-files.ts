/**
 * The files a family implies that a single-file checkpoint does not carry: the scheduler config
 * and the CLIP tokenizer, from `resources/` (see `resources/checkpoint/README.md`,
 * `resources/clip/README.md`).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PinholeError } from '../../../src-shared/errors';
import { readBpeSimpleVocab } from '../text/tokenizer-files';
import type { CheckpointFamily, PredictionType } from './family';

const MARKER = path.join('clip', 'bpe_simple_vocab_16e6.txt.gz');

/**
 * The `resources/` folder: `$PINHOLE_RESOURCES` when set (the packaged app), else the nearest folder above this
 * module (or the bundle) that holds `resources/clip/…` — the source tree and `dist/` both sit under the project root.
 */
export function defaultResourcesDir(): string {
  const env = process.env['PINHOLE_RESOURCES'];
  if (env) return env;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'resources', MARKER))) return path.join(dir, 'resources');
    const up = path.dirname(dir);
    if (up === dir) throw new PinholeError('INTERNAL', 'The resources folder (CLIP vocabulary) was not found');
    dir = up;
  }
}

/** The family's scheduler config, with the prediction type set. */
export async function schedulerConfigFor(
  resources: string,
  family: CheckpointFamily,
  prediction: PredictionType,
): Promise<Record<string, unknown>> {
  const file = path.join(resources, 'checkpoint', family === 'sdxl' ? 'scheduler-sdxl.json' : 'scheduler-sd1.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  return { ...config, prediction_type: prediction };
}

/**
 * Writes a Hugging Face `tokenizer/` folder derived from CLIP's merges file.
 * @param padToken `<|endoftext|>` (SD 1.x, SDXL's first tokenizer) or `!` (SD 2.x, SDXL's second).
 */
export async function writeClipTokenizer(resources: string, dir: string, padToken: string): Promise<void> {
  const { vocab, merges } = await readBpeSimpleVocab(path.join(resources, MARKER));
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vocab.json'), JSON.stringify(Object.fromEntries(vocab)));
  await writeFile(path.join(dir, 'merges.txt'), `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
  const config = {
    model_max_length: 77,
    bos_token: '<|startoftext|>',
    eos_token: '<|endoftext|>',
    pad_token: padToken,
    unk_token: '<|endoftext|>',
    tokenizer_class: 'CLIPTokenizer',
  };
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 1));
}
