import { LEGACY_NAMES, NAMED_REFERENCES } from './html-entities';

/**
 * Python's `html.unescape`, which CLIP's tokenizer applies (twice) before anything else: named references
 * from the HTML5 list (with or without `;` for the legacy ones, longest legacy prefix otherwise), decimal and
 * hex numeric references with the HTML5 rules for invalid code points. Written against CPython's `html`
 * module so that `&amp;`, `&#39;` or `&copy2024` give the same text, and therefore the same ids.
 */

// Python's pattern; `u` so that `{1,32}` counts code points as Python does.
const REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

// Numeric references 0x80–0x9F name windows-1252 characters in HTML; 0 and CR are special-cased too.
const WINDOWS_1252 =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

let named: Map<string, string> | undefined;

function namedReferences(): Map<string, string> {
  if (named) return named;
  const table = new Map<string, string>();
  for (const line of NAMED_REFERENCES) {
    for (const entry of line.split(' ')) {
      const eq = entry.indexOf('=');
      const points = entry
        .slice(eq + 1)
        .split('.')
        .map((hex) => parseInt(hex, 16));
      table.set(entry.slice(0, eq) + ';', String.fromCodePoint(...points));
    }
  }
  for (const line of LEGACY_NAMES) {
    for (const name of line.split(' ')) {
      const value = table.get(name + ';');
      if (value !== undefined) table.set(name, value);
    }
  }
  named = table;
  return table;
}

/** Code points a numeric reference may not produce (HTML5): they decode to nothing. */
function isInvalidCodePoint(cp: number): boolean {
  return (
    (cp >= 0x1 && cp <= 0x8) ||
    cp === 0xb ||
    (cp >= 0xe && cp <= 0x1f) ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xfffe) === 0xfffe
  );
}

function numericReference(ref: string): string {
  const hex = ref[1] === 'x' || ref[1] === 'X';
  const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
  const cp = parseInt(digits, hex ? 16 : 10);
  if (cp === 0) return '\ufffd';
  if (cp === 0x0d) return '\r';
  if (cp >= 0x80 && cp <= 0x9f) return WINDOWS_1252[cp - 0x80] as string;
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
  if (isInvalidCodePoint(cp)) return '';
  return String.fromCodePoint(cp);
}

function replaceReference(match: string, ref: string): string {
  if (ref[0] === '#') return numericReference(ref);
  const table = namedReferences();
  const whole = table.get(ref);
  if (whole !== undefined) return whole;
  // No exact name: the longest prefix that is a legacy (semicolon-less) name, the rest kept as text.
  for (let end = ref.length - 1; end > 1; end--) {
    const value = table.get(ref.slice(0, end));
    if (value !== undefined) return value + ref.slice(end);
  }
  return match;
}

/** Decodes HTML character references exactly as Python's `html.unescape` does. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(REFERENCE, replaceReference);
}
