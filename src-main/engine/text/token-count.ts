import { PinholeError } from '../../../src-shared/errors';
import { chunkPrompt, type ChunkOptions, type ChunkTokenizer } from './prompt-chunks';
import { PY_SPACE } from './text-cleanup';

/**
 * The Generate page's token counter, as A1111's `update_token_counter` computes it: extra-network tags
 * (`<lora:name:0.8>`, `<hypernet:…>`) removed, a positive prompt split at `AND` (each part without its
 * `:weight` suffix), each part chunked with the weighting syntax stripped, and the largest count shown against
 * the next multiple of 75 ("12/75", "80/150").
 *
 * Not reproduced: A1111 also expands prompt editing (`[cat:dog:0.5]`, `[a|b]`) into its per-step prompts and
 * counts the longest; here such a prompt is counted as written, which can only count a few tokens more.
 */

/** A counter reading: `count` tokens of `limit` (a multiple of 75). */
export type TokenCount = { count: number; limit: number };

// A1111's `re_extra_net` (Python's `\w` is Unicode letters, numbers and underscore).
const EXTRA_NETWORK = /<([\p{L}\p{N}_]+):([^>]+)>/gu;
// A1111's `re_AND` (`\bAND\b`).
const AND = /(?<![\p{L}\p{N}_])AND(?![\p{L}\p{N}_])/u;
// A1111's `re_weight`: the part before an optional trailing `:number` (Python's `.` excludes only `\n`).
const SUBPROMPT_WEIGHT = new RegExp(
  `^([${PY_SPACE}]*[^\\n]*?)(?:[${PY_SPACE}]*:[${PY_SPACE}]*[-+]?(?:\\p{Nd}+\\.?|\\p{Nd}*\\.\\p{Nd}+))?[${PY_SPACE}]*$`,
  'u',
);

/**
 * Counts a prompt's tokens for display, A1111 style.
 * @param options.negative a negative prompt: `AND` is not special there (A1111 ≥ 1.6).
 */
export function countTokens(
  tokenizer: ChunkTokenizer,
  text: string,
  options: ChunkOptions & { negative?: boolean } = {},
): TokenCount {
  const withoutNetworks = text.replace(EXTRA_NETWORK, '');
  const parts = options.negative ? [withoutNetworks] : withoutNetworks.split(AND).map(stripSubpromptWeight);
  let count = 0;
  for (const part of parts) count = Math.max(count, countPart(tokenizer, part, options));
  return { count, limit: Math.ceil(Math.max(count, 1) / 75) * 75 };
}

function stripSubpromptWeight(part: string): string {
  return SUBPROMPT_WEIGHT.exec(part)?.[1] ?? part;
}

function countPart(tokenizer: ChunkTokenizer, text: string, options: ChunkOptions): number {
  try {
    return chunkPrompt(tokenizer, text, options).tokenCount;
  } catch (error) {
    // A half-typed weight such as `(cat:1.` must not break the counter: count the text as written.
    if (error instanceof PinholeError && error.code === 'INVALID_PARAMS') {
      return chunkPrompt(tokenizer, text, { ...options, emphasis: false }).tokenCount;
    }
    throw error;
  }
}
