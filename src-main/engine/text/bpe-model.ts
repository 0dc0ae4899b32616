import { PinholeError } from '../../../src-shared/errors';
import { BYTE_TO_CHAR } from './bytes-to-unicode';

/** The end-of-word marker CLIP appends to the last symbol of every pre-token. */
export const END_OF_WORD = '</w>';

// Pre-tokens seen in one process stay few (prompts repeat words); the bound only stops pathological growth.
const CACHE_LIMIT = 50_000;

/**
 * Byte-level BPE with CLIP's end-of-word convention: a pre-token's UTF-8 bytes become symbols (the last one
 * carrying `</w>`), then the adjacent pair with the lowest merge rank is merged everywhere, left to right,
 * until no ranked pair remains. Symbols are vocabulary ids throughout, and a pair is looked up by one numeric
 * key, which keeps a 1000-word prompt to a few milliseconds; results are cached per pre-token.
 */
export class BpeModel {
  private readonly byteIds = new Int32Array(256);
  private readonly byteEndIds = new Int32Array(256);
  /** (left id × keyBase + right id) → merge rank. */
  private readonly ranks = new Map<number, number>();
  private readonly mergeLeft: Int32Array;
  private readonly mergeRight: Int32Array;
  private readonly mergeResult: Int32Array;
  private readonly keyBase: number;
  private readonly cache = new Map<string, readonly number[]>();

  /**
   * @param vocab token → id, as in `vocab.json`.
   * @param merges the merge list in rank order (rank 0 first), each pair as two symbols.
   * @throws PinholeError `IMPORT_REJECTED` when a byte symbol or a merge result is missing from the vocabulary.
   */
  constructor(
    readonly vocab: ReadonlyMap<string, number>,
    merges: readonly (readonly [string, string])[],
  ) {
    let maxId = 0;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.keyBase = maxId + 1;
    for (let b = 0; b < 256; b++) {
      const char = BYTE_TO_CHAR[b] as string;
      this.byteIds[b] = requireId(vocab, char);
      this.byteEndIds[b] = requireId(vocab, char + END_OF_WORD);
    }
    this.mergeLeft = new Int32Array(merges.length);
    this.mergeRight = new Int32Array(merges.length);
    this.mergeResult = new Int32Array(merges.length);
    merges.forEach(([left, right], rank) => {
      const leftId = vocab.get(left);
      const rightId = vocab.get(right);
      // As in Hugging Face's tokenizers, a merge whose result is not a token makes the files unusable.
      const result = requireId(vocab, left + right);
      // A pair whose parts are not tokens can never form, since every symbol is a token.
      if (leftId === undefined || rightId === undefined) return;
      // A repeated pair takes its last rank, as Python's dict (and tokenizers' HashMap) built from the list do.
      this.ranks.set(leftId * this.keyBase + rightId, rank);
      this.mergeLeft[rank] = leftId;
      this.mergeRight[rank] = rightId;
      this.mergeResult[rank] = result;
    });
  }

  /** Number of merges with a usable rank. */
  get mergeCount(): number {
    return this.ranks.size;
  }

  /**
   * The ids of one pre-token (a piece of cleaned text as the pre-tokenizer cut it, not yet byte-encoded).
   * The returned array is shared with the cache: do not modify it.
   */
  encodePiece(piece: string): readonly number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const ids = this.merge(this.initialSymbols(piece));
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  /** The piece's UTF-8 bytes as symbol ids, the last one with `</w>` (lone surrogates encode as U+FFFD). */
  private initialSymbols(piece: string): number[] {
    const bytes = Buffer.from(piece, 'utf8');
    const symbols = new Array<number>(bytes.length);
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      symbols[i] = (i === bytes.length - 1 ? this.byteEndIds[b] : this.byteIds[b]) as number;
    }
    return symbols;
  }

  private merge(word: number[]): number[] {
    const { ranks, keyBase } = this;
    while (word.length > 1) {
      let best = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const rank = ranks.get((word[i] as number) * keyBase + (word[i + 1] as number));
        if (rank !== undefined && rank < best) best = rank;
      }
      if (best === Infinity) break;
      const left = this.mergeLeft[best] as number;
      const right = this.mergeRight[best] as number;
      const result = this.mergeResult[best] as number;
      // Every occurrence of the best pair, scanning left to right without overlap, as the reference does.
      const next: number[] = [];
      for (let i = 0; i < word.length;) {
        if (word[i] === left && i + 1 < word.length && word[i + 1] === right) {
          next.push(result);
          i += 2;
        } else {
          next.push(word[i] as number);
          i += 1;
        }
      }
      word = next;
    }
    return word;
  }
}

function requireId(vocab: ReadonlyMap<string, number>, token: string): number {
  const id = vocab.get(token);
  if (id === undefined) {
    throw new PinholeError('IMPORT_REJECTED', `Tokenizer vocabulary lacks ${JSON.stringify(token)}`);
  }
  return id;
}
