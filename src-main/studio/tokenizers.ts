/**
 * Tokenizers by model folder, loaded once and kept (a vocabulary takes ~150 ms to load and
 * the Generate page counts tokens on every keystroke).
 */
import path from 'node:path';
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
      tokenizer = ClipTokenizer.fromModelFolder(path.resolve(modelDir), subfolder);
      // A failed load is not cached: the user may fix the folder and retry.
      tokenizer.catch(() => this.loaded.delete(key));
    }
    this.loaded.set(key, tokenizer);
    while (this.loaded.size > KEEP) this.loaded.delete(this.loaded.keys().next().value!);
    return tokenizer;
  }
}
