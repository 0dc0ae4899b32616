import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { textRowid, toFtsQuery } from '../../src-main/library/fts';
import { makeImage, makeLibrary, type TestLibrary } from './library-fixtures';

describe('toFtsQuery', () => {
  it('quotes every word and prefix-matches the last', () => {
    expect(toFtsQuery('red cat')).toBe('"red" "cat"*');
    expect(toFtsQuery('  portrait  ')).toBe('"portrait"*');
  });

  it('turns FTS syntax into plain text', () => {
    expect(toFtsQuery('a AND (b')).toBe('"a" "AND" "(b"*');
    expect(toFtsQuery('say "hi"')).toBe('"say" """hi"""*');
    expect(toFtsQuery('prompt:cat NEAR(x)')).toBe('"prompt:cat" "NEAR(x)"*');
  });

  it('returns null when nothing is searchable', () => {
    for (const input of ['', '   ', '"', '(', ') (', '* ^ -', '\u0000']) {
      expect(toFtsQuery(input)).toBeNull();
    }
  });
});

describe('search never fails on odd input', () => {
  let t: TestLibrary;
  beforeEach(async () => {
    t = makeLibrary();
    await t.library.addGeneratedImage({ png: await pngOf(1), prompt: 'a red cat (on a mat) "quoted" AND more' });
    await t.library.addGeneratedImage({ png: await pngOf(2), prompt: 'Café crème, naïve résumé' });
  });
  afterEach(() => t.cleanup());

  const odd = [
    '"',
    '""',
    '"cat',
    'AND (',
    'AND',
    'OR',
    'NOT',
    '(',
    ')',
    '*',
    'cat*',
    '^cat',
    'NEAR(cat mat, 2)',
    'prompt:cat',
    '{prompt}: cat',
    '-cat',
    '+',
    "'; DROP TABLE images; --",
    'cat\u0000mat',
    '\\',
    '🐈',
    'x'.repeat(500),
    Array.from({ length: 100 }, (_, i) => `w${i}`).join(' '),
  ];
  for (const input of odd) {
    it(`handles ${JSON.stringify(input.slice(0, 40))}`, () => {
      expect(() => t.library.galleryQuery({ search: input, limit: 10 })).not.toThrow();
    });
  }

  it('finds by words, by prefix, case- and accent-insensitively', () => {
    const titles = (search: string) => t.library.galleryQuery({ search, limit: 10 }).items.map((i) => i.title);
    expect(titles('red ca')).toEqual(['a red cat (on a mat) "quoted" AND more']);
    expect(titles('"quoted')).toHaveLength(1);
    expect(titles('AND (')).toHaveLength(1); // the literal word "and"
    expect(titles('CAFE creme')).toEqual(['Café crème, naïve résumé']);
    expect(titles('dog')).toEqual([]);
    // Nothing searchable: no filter rather than no results.
    expect(titles('"')).toHaveLength(2);
  });
});

describe('textRowid', () => {
  it('orders like (created_at, sha256)', () => {
    const a = textRowid(1_700_000_000_000, '00'.repeat(32));
    const b = textRowid(1_700_000_000_000, 'ff'.repeat(32));
    const c = textRowid(1_700_000_000_001, '00'.repeat(32));
    expect(a < b && b < c).toBe(true);
    expect(c < 2n ** 63n).toBe(true);
  });
});

function pngOf(seed: number): Promise<Buffer> {
  return makeImage({ format: 'png', seed });
}
