/**
 * Tokenizers by model folder, loaded once and kept (a vocabulary takes ~150 ms to load and
 * the Generate page counts tokens on every keystroke).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PinholeError } from '../../src-shared/errors';
import { ClipTokenizer } from '../engine';

const KEEP = 4;

export class TokenizerCache {
  private readonly loaded = new Map<string, Promise<ClipTokenizer>>();

  get(modelDir: string, subfolder = 'tokenizer'): Promise<ClipTokenizer> {
    const key = path.join(path.resolve(modelDir), subfolder);
    let tokenizer = this.loaded.get(key);
    if (tokenizer) {
      // Refresh its place: the map's order is the eviction order.
      this.loaded.delete(key);
    } else {
      tokenizer = isFile(modelDir)
        ? // A single-file checkpoint (a library model): every SD family's text encoders use CLIP's BPE
          // vocabulary, which ships in resources/; padding, the one difference, never shows in ids.
          ClipTokenizer.loadBpeGzip(clipVocabulary())
        : ClipTokenizer.fromModelFolder(path.resolve(modelDir), subfolder);
      // A failed load is not cached: the user may fix the folder and retry.
      tokenizer.catch(() => this.loaded.delete(key));
    }
    this.loaded.set(key, tokenizer);
    while (this.loaded.size > KEEP) this.loaded.delete(this.loaded.keys().next().value!);
    return tokenizer;
  }
}

function isFile(model: string): boolean {
  try {
    return statSync(model).isFile();
  } catch {
    return false;
  }
}

const VOCABULARY = path.join('clip', 'bpe_simple_vocab_16e6.txt.gz');

/** OpenAI CLIP's BPE vocabulary in resources/ ($PINHOLE_RESOURCES, else the nearest resources/ above this file). */
function clipVocabulary(): string {
  const env = process.env['PINHOLE_RESOURCES'];
  if (env) return path.join(env, VOCABULARY);
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'resources', VOCABULARY);
    if (existsSync(file)) return file;
    if (path.dirname(dir) === dir)
      throw new PinholeError('INTERNAL', 'The CLIP vocabulary (resources/clip) was not found.');
  }
}
