import { PinholeError } from '../../../src-shared/errors';
import { PY_SPACE } from './text-cleanup';

/**
 * A1111's prompt-weighting syntax (`modules/prompt_parser.py`, `parse_prompt_attention`), reproduced
 * quirk for quirk so that prompts copied from A1111 mean the same thing here.
 */

/** A run of prompt text and its attention multiplier. */
export type WeightedText = [text: string, weight: number];

/** The weight A1111 gives its `BREAK` marker entries (`['BREAK', -1]`). */
export const BREAK_WEIGHT = -1;

const ROUND_MULTIPLIER = 1.1;
const SQUARE_MULTIPLIER = 1 / 1.1;

// A1111's `re_attention` as of v1.6 (spaces allowed around a weight), alternatives in its order: the first
// that matches wins. Python's `\d` is any Unicode decimal digit (`\p{Nd}`), its `\s` is `PY_SPACE`.
const ATTENTION = new RegExp(
  [
    String.raw`\\\(|\\\)|\\\[|\\\]|\\\\|\\`, // escapes, then a lone backslash
    String.raw`\(|\[`,
    String.raw`:[${PY_SPACE}]*([+-]?[.\p{Nd}]+)[${PY_SPACE}]*\)`, // `:1.3)` closes a weighted group
    String.raw`\)|\]`,
    String.raw`[^\\()[\]:]+|:`, // plain text, a stray colon
  ].join('|'),
  'gu',
);

// A1111's `re_break`: `\s*\bBREAK\b\s*` with Python's Unicode `\s` and `\w` (letters, numbers, underscore).
const BREAK = new RegExp(`[${PY_SPACE}]*(?<![\\p{L}\\p{N}_])BREAK(?![\\p{L}\\p{N}_])[${PY_SPACE}]*`, 'u');

/**
 * Splits a prompt into runs of text with their weights, exactly as A1111's `parse_prompt_attention`:
 * - `(text)` multiplies by 1.1, `[text]` divides by 1.1, `(text:1.3)` multiplies by 1.3; nesting multiplies;
 * - `\(`, `\)`, `\[`, `\]`, `\\` are literal characters (a lone `\` vanishes);
 * - brackets left open at the end apply to the rest of the prompt, stray closers are plain text;
 * - `BREAK` (a whole word, in capitals) becomes an entry `['BREAK', -1]`; inside brackets A1111 scales that
 *   -1 too, after which it is no longer a break but the word "BREAK" with a negative weight — kept as is;
 * - adjacent runs with equal weights are merged; an empty prompt gives `[['', 1]]`.
 *
 * @throws PinholeError `INVALID_PARAMS` for a weight that is not a number (`(cat:1.2.3)`), where A1111 fails.
 */
export function parsePromptAttention(text: string): WeightedText[] {
  const res: WeightedText[] = [];
  const roundBrackets: number[] = [];
  const squareBrackets: number[] = [];

  const multiplyRange = (start: number, multiplier: number): void => {
    for (let p = start; p < res.length; p++) (res[p] as WeightedText)[1] *= multiplier;
  };

  for (const match of text.matchAll(ATTENTION)) {
    const token = match[0];
    const weight = match[1];
    if (token.startsWith('\\')) {
      res.push([token.slice(1), 1.0]);
    } else if (token === '(') {
      roundBrackets.push(res.length);
    } else if (token === '[') {
      squareBrackets.push(res.length);
    } else if (weight !== undefined && roundBrackets.length > 0) {
      multiplyRange(roundBrackets.pop() as number, parsePythonFloat(weight));
    } else if (token === ')' && roundBrackets.length > 0) {
      multiplyRange(roundBrackets.pop() as number, ROUND_MULTIPLIER);
    } else if (token === ']' && squareBrackets.length > 0) {
      multiplyRange(squareBrackets.pop() as number, SQUARE_MULTIPLIER);
    } else {
      token.split(BREAK).forEach((part, i) => {
        if (i > 0) res.push(['BREAK', BREAK_WEIGHT]);
        res.push([part, 1.0]);
      });
    }
  }

  // Unclosed brackets, innermost last, as A1111 iterates its stacks from the bottom.
  for (const pos of roundBrackets) multiplyRange(pos, ROUND_MULTIPLIER);
  for (const pos of squareBrackets) multiplyRange(pos, SQUARE_MULTIPLIER);

  if (res.length === 0) res.push(['', 1.0]);

  for (let i = 0; i + 1 < res.length;) {
    const current = res[i] as WeightedText;
    const next = res[i + 1] as WeightedText;
    if (current[1] === next[1]) {
      current[0] += next[0];
      res.splice(i + 1, 1);
    } else {
      i++;
    }
  }
  return res;
}

/**
 * Python's `float()` on what `[+-]?[.\d]+` matched: Unicode decimal digits count, and anything that is not
 * one number (`.`, `1.2.3`) is an error, as in A1111.
 */
function parsePythonFloat(source: string): number {
  const ascii = source.replace(/\p{Nd}/gu, (digit) => String(decimalValue(digit.codePointAt(0) as number)));
  const value = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(ascii) ? Number(ascii) : NaN;
  if (Number.isNaN(value)) {
    throw new PinholeError('INVALID_PARAMS', `Prompt weight ${JSON.stringify(source)} is not a number`);
  }
  return value;
}

const DECIMAL_DIGIT = /^\p{Nd}$/u;

/**
 * The value of a decimal digit (general category Nd). Unicode allocates these in complete, contiguous runs of
 * 0–9, so the value is the distance from the start of the contiguous Nd block, modulo 10.
 */
function decimalValue(cp: number): number {
  let start = cp;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}
