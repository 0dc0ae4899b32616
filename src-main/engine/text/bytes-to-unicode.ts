/**
 * CLIP's (and GPT-2's) byte-level alphabet: every UTF-8 byte stands for one printable character, so that
 * BPE works on text with no whitespace or control characters in its symbols. Printable Latin-1 bytes stand
 * for themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) take the code points from
 * U+0100 upward, in byte order.
 */

/** The bytes in the table's own order: the order of the first 256 (and next 256) vocabulary entries. */
export const BYTE_ORDER: readonly number[] = buildOrder();

/** `BYTE_TO_CHAR[b]`: the character standing for byte `b`. */
export const BYTE_TO_CHAR: readonly string[] = buildChars();

function isPrintable(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

function buildOrder(): number[] {
  const order: number[] = [];
  for (let b = 0; b < 256; b++) if (isPrintable(b)) order.push(b);
  for (let b = 0; b < 256; b++) if (!isPrintable(b)) order.push(b);
  return order;
}

function buildChars(): string[] {
  const chars = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCharCode(isPrintable(b) ? b : next++);
  return chars;
}
