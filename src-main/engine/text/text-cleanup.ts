import { htmlUnescape } from './html-unescape';

/**
 * The text cleanup of CLIP's `simple_tokenizer` with ftfy as the identity (the contract's reference):
 * HTML-unescape twice, strip, collapse whitespace runs to one space, strip again, lowercase.
 *
 * Two notions of whitespace are in play, as in the reference: Python's `str.strip()` uses `str.isspace()`
 * (which includes the separators U+001C–U+001F), while the collapsing regex (the `regex` module's `\s`) uses
 * Unicode White_Space, which does not. JavaScript's own `\s` is neither (it has U+FEFF and lacks U+0085),
 * so both sets are spelled out.
 */

/** Unicode White_Space: the `regex` module's `\s`, also used by the pre-tokenizer. */
export const WHITE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** Python's `str.isspace()`: White_Space plus the information separators U+001C–U+001F. */
export const PY_SPACE = WHITE_SPACE + '\\x1c-\\x1f';

const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');
const COLLAPSE = new RegExp(`[${WHITE_SPACE}]+`, 'g');

/** Cleans a prompt the way CLIP's reference tokenizer does before pre-tokenizing it. */
export function cleanText(text: string): string {
  const unescaped = htmlUnescape(htmlUnescape(text)).replace(STRIP, '');
  return unescaped.replace(COLLAPSE, ' ').replace(STRIP, '').toLowerCase();
}
