import type { ClipTokenizer } from './clip-tokenizer';
import { BREAK_WEIGHT, parsePromptAttention, type WeightedText } from './prompt-attention';

/**
 * A1111's chunking of long prompts (`modules/sd_hijack_clip.py`, `tokenize_line`): a prompt of any length
 * becomes chunks of 75 tokens, each encoded on its own and concatenated along the token axis.
 */

/** One text-encoder input: `maxLength` (77) ids with start and end tokens, and a weight per position. */
export type WeightedChunk = {
  /** int32 [77]: start, 75 prompt or end tokens, end; after the first end token, the tokenizer's pad id. */
  ids: Int32Array;
  /** float32 [77]: each position's attention multiplier (1 for start, end and padding). */
  weights: Float32Array;
};

/** The tokenizer surface chunking needs. */
export type ChunkTokenizer = Pick<ClipTokenizer, 'encode' | 'bos' | 'eos' | 'pad' | 'maxLength' | 'comma'>;

/** Chunking options; the defaults are A1111's. */
export type ChunkOptions = {
  /**
   * When a chunk fills up and a comma lies at most this many tokens back, the text after the comma moves to
   * the next chunk (A1111's "comma padding backtrack", 20 by default; 0 disables).
   */
  commaBacktrack?: number;
  /** Parse the weighting syntax (A1111's default); false treats brackets as text, all weights 1. */
  emphasis?: boolean;
  /** Textual-inversion embeddings: where a name's tokens appear, its vector ids take their place. */
  embeddings?: readonly TokenEmbedding[];
};

/**
 * An embedding as the chunker sees it: the tokens of its name, and the ids of its vectors (rows appended to the
 * encoder's token table, so ids ≥ the vocabulary size).
 */
export type TokenEmbedding = { readonly nameIds: readonly number[]; readonly ids: readonly number[] };

/** Chunks and A1111's token count (what its counter shows: 75 per full chunk plus the last chunk's tokens). */
export type ChunkedPrompt = { chunks: WeightedChunk[]; tokenCount: number };

/**
 * Tokenizes a prompt with A1111's weighting into 77-token chunks: 75 tokens per chunk, a new chunk when 75
 * are reached (moving the words after a comma within `commaBacktrack` tokens along with it), a new chunk at
 * every `BREAK`; an empty prompt gives one chunk of start, end and padding.
 */
export function buildWeightedChunks(
  tokenizer: ChunkTokenizer,
  text: string,
  options: ChunkOptions = {},
): WeightedChunk[] {
  return chunkPrompt(tokenizer, text, options).chunks;
}

/** {@link buildWeightedChunks} with A1111's token count as well. */
export function chunkPrompt(tokenizer: ChunkTokenizer, text: string, options: ChunkOptions = {}): ChunkedPrompt {
  const backtrack = options.commaBacktrack ?? 20;
  // A1111's `find_embedding_at_position`: the longest name starting at a position wins.
  const embeddings = [...(options.embeddings ?? [])]
    .filter((e) => e.nameIds.length > 0)
    .sort((a, b) => b.nameIds.length - a.nameIds.length);
  const parsed: WeightedText[] = options.emphasis === false ? [[text, 1.0]] : parsePromptAttention(text);
  const chunkLength = tokenizer.maxLength - 2;

  const chunks: WeightedChunk[] = [];
  let tokens: number[] = [];
  let weights: number[] = [];
  let tokenCount = 0;
  let lastComma = -1;

  const nextChunk = (isLast = false): void => {
    tokenCount += isLast ? tokens.length : chunkLength;
    chunks.push(finishChunk(tokenizer, tokens, weights));
    tokens = [];
    weights = [];
    lastComma = -1;
  };

  for (const [fragment, weight] of parsed) {
    if (fragment === 'BREAK' && weight === BREAK_WEIGHT) {
      nextChunk();
      continue;
    }
    // Each run is tokenized on its own, as A1111 does: cleanup (strip, lowercase) applies per run.
    const runTokens = tokenizer.encode(fragment);
    for (let position = 0; position < runTokens.length;) {
      const token = runTokens[position]!;
      if (token === tokenizer.comma) {
        lastComma = tokens.length;
      } else if (
        backtrack !== 0 &&
        tokens.length === chunkLength &&
        lastComma !== -1 &&
        tokens.length - lastComma <= backtrack
      ) {
        const breakAt = lastComma + 1;
        const movedTokens = tokens.slice(breakAt);
        const movedWeights = weights.slice(breakAt);
        tokens = tokens.slice(0, breakAt);
        weights = weights.slice(0, breakAt);
        nextChunk();
        tokens = movedTokens;
        weights = movedWeights;
      }
      if (tokens.length === chunkLength) nextChunk();
      const embedding = embeddings.find((e) => e.nameIds.every((id, k) => runTokens[position + k] === id));
      if (!embedding) {
        tokens.push(token);
        weights.push(weight);
        position += 1;
        continue;
      }
      // An embedding is never split between chunks (A1111): it starts a new one when it does not fit.
      if (tokens.length + embedding.ids.length > chunkLength) nextChunk();
      for (const id of embedding.ids) {
        tokens.push(id);
        weights.push(weight);
      }
      position += embedding.nameIds.length;
    }
  }
  if (tokens.length > 0 || chunks.length === 0) nextChunk(true);
  return { chunks, tokenCount };
}

/**
 * Pads a chunk's tokens to 75 with the end token, adds start and end, then — as A1111 does for tokenizers
 * whose pad differs from the end token (SDXL's second) — writes the pad id after the first end token.
 */
function finishChunk(tokenizer: ChunkTokenizer, tokens: readonly number[], weights: readonly number[]): WeightedChunk {
  const length = tokenizer.maxLength;
  const ids = new Int32Array(length).fill(tokenizer.eos);
  const multipliers = new Float32Array(length).fill(1);
  ids[0] = tokenizer.bos;
  for (let i = 0; i < tokens.length; i++) {
    ids[i + 1] = tokens[i] as number;
    multipliers[i + 1] = weights[i] as number;
  }
  if (tokenizer.pad !== tokenizer.eos) {
    const end = ids.indexOf(tokenizer.eos);
    ids.fill(tokenizer.pad, end + 1);
  }
  return { ids, weights: multipliers };
}
