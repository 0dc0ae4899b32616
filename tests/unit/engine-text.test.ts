import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import {
  applyTokenWeights,
  buildWeightedChunks,
  chunkPrompt,
  cleanText,
  ClipTokenizer,
  countTokens,
  parsePromptAttention,
} from '../../src-main/engine/text';
import { FIXTURES } from '../helpers/fixtures';

/**
 * Expected ids come from three independent places: the fixtures' reference ids (computed by transformers), the
 * vocabulary itself (a whole word or a byte-level string looked up by name), and OpenAI's `simple_tokenizer`
 * (ftfy as the identity) run on the texts below. Parser expectations are A1111's own doctests.
 */

const fixture = (...parts: string[]): string => path.join(FIXTURES, ...parts);
const readJson = (...parts: string[]): Record<string, unknown> =>
  JSON.parse(readFileSync(fixture(...parts), 'utf8')) as Record<string, unknown>;

const BOS = 49406;
const EOS = 49407;

let sd15: ClipTokenizer;
let xl1: ClipTokenizer;
let xl2: ClipTokenizer;
let fromGz: ClipTokenizer;

beforeAll(async () => {
  [sd15, xl1, xl2, fromGz] = await Promise.all([
    ClipTokenizer.fromModelFolder(fixture('sd15-tiny')),
    ClipTokenizer.fromModelFolder(fixture('sdxl-tiny')),
    ClipTokenizer.fromModelFolder(fixture('sdxl-tiny'), 'tokenizer_2'),
    ClipTokenizer.loadBpeGzip(fixture('clip/bpe_simple_vocab_16e6.txt.gz')),
  ]);
});

/** Ids of vocabulary entries named by their text, so an expectation can be read without the vocabulary. */
function ids(tokenizer: ClipTokenizer, ...tokens: string[]): number[] {
  return tokens.map((token) => {
    const id = tokenizer.tokenId(token);
    if (id === undefined) throw new Error(`not in vocabulary: ${token}`);
    return id;
  });
}

describe('ClipTokenizer: fixture reference ids', () => {
  it('sd15-tiny: prompt and negative prompt, padded with the end token', () => {
    const cases = readJson('sd15-tiny/reference/cases.json');
    expect(sd15.bos).toBe(BOS);
    expect(sd15.eos).toBe(EOS);
    expect(sd15.pad).toBe(EOS);
    expect(sd15.maxLength).toBe(77);
    for (const [text, expected] of [
      [cases['prompt'], cases['prompt_ids']],
      [cases['negative_prompt'], cases['negative_ids']],
    ] as [string, number[]][]) {
      const padded = sd15.encodePadded(text);
      expect([...padded.ids]).toEqual(expected);
      expect(padded.truncated).toBe(false);
      expect(sd15.encode(text)).toEqual(expected.slice(1, padded.length - 1));
    }
  });

  it('sdxl-tiny: both tokenizers; tokenizer_2 pads with "!" (id 0)', () => {
    const cases = readJson('sdxl-tiny/reference/cases.json');
    const prompt = cases['prompt'] as string;
    expect(xl2.pad).toBe(0);
    expect(xl1.pad).toBe(EOS);
    expect([...xl1.encodePadded(prompt).ids]).toEqual(cases['prompt_ids']);
    expect([...xl2.encodePadded(prompt).ids]).toEqual(cases['prompt_ids_2']);
  });

  it('the whole-word vocabulary lookup agrees with the fixture ids', () => {
    const words = 'a photo of an astronaut riding a horse on mars'.split(' ').map((w) => w + '</w>');
    expect(sd15.encode('a photo of an astronaut riding a horse on mars')).toEqual(ids(sd15, ...words));
    expect(sd15.encode('blurry, low quality')).toEqual(ids(sd15, 'blurry</w>', ',</w>', 'low</w>', 'quality</w>'));
  });
});

describe('ClipTokenizer: vocab.json + merges.txt and bpe_simple_vocab_16e6.txt.gz are the same tokenizer', () => {
  it('builds the identical vocabulary from the gz', () => {
    const vocab = readJson('sd15-tiny/tokenizer/vocab.json') as Record<string, number>;
    expect(fromGz.vocabSize).toBe(49408);
    expect(Object.keys(vocab)).toHaveLength(49408);
    for (const [token, id] of Object.entries(vocab)) {
      if (fromGz.tokenId(token) !== id) throw new Error(`${token}: ${fromGz.tokenId(token)} ≠ ${id}`);
    }
  });

  it('gives the same ids and padding', () => {
    const texts = [
      'a photo of an astronaut riding a horse on mars',
      "It's 3.14159 o'clock!!! café naïve 東京タワー 😀👍🏽 &amp; <|endoftext|>",
      'masterpiece, best quality, (extremely detailed:1.2), 8k uhd, dslr, soft lighting',
    ];
    for (const text of texts) {
      expect(fromGz.encode(text)).toEqual(sd15.encode(text));
      expect(fromGz.encodePadded(text).ids).toEqual(sd15.encodePadded(text).ids);
    }
    expect(fromGz.pad).toBe(EOS);
  });

  it('takes SDXL tokenizer_2 settings from the caller', async () => {
    const gz2 = await ClipTokenizer.loadBpeGzip(fixture('clip/bpe_simple_vocab_16e6.txt.gz'), { padToken: '!' });
    const prompt = readJson('sdxl-tiny/reference/cases.json')['prompt'] as string;
    expect(gz2.encodePadded(prompt).ids).toEqual(xl2.encodePadded(prompt).ids);
  });

  it('builds from in-memory files as from the folder', () => {
    const tokenizer = ClipTokenizer.fromFiles({
      vocab: readJson('sdxl-tiny/tokenizer_2/vocab.json') as Record<string, number>,
      merges: readFileSync(fixture('sdxl-tiny/tokenizer_2/merges.txt'), 'utf8'),
      tokenizerConfig: readFileSync(fixture('sdxl-tiny/tokenizer_2/tokenizer_config.json'), 'utf8'),
    });
    expect(tokenizer.pad).toBe(0);
    expect(tokenizer.encode('a cinematic photo')).toEqual(xl2.encode('a cinematic photo'));
  });

  it('rejects a folder without vocab.json', async () => {
    await expect(ClipTokenizer.load(fixture('sd15-tiny/unet'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('ClipTokenizer: tricky text (expected ids from OpenAI simple_tokenizer)', () => {
  it('splits English contractions off, case-insensitively', () => {
    expect(sd15.encode("it's")).toEqual(ids(sd15, 'it</w>', "'s</w>"));
    expect(sd15.encode("don't")).toEqual(ids(sd15, 'don</w>', "'t</w>"));
    expect(sd15.encode("we're they've i'm you'll he'd")).toEqual(
      ids(
        sd15,
        'we</w>',
        "'re</w>",
        'they</w>',
        "'ve</w>",
        'i</w>',
        "'m</w>",
        'you</w>',
        "'ll</w>",
        'he</w>',
        "'d</w>",
      ),
    );
    expect(sd15.encode("IT'S A CAT'S TOY")).toEqual([585, 568, 320, 2368, 568, 5988]);
  });

  it('splits numbers into single digits', () => {
    expect(sd15.encode('1234')).toEqual(ids(sd15, '1</w>', '2</w>', '3</w>', '4</w>'));
    expect(sd15.encode('3.14')).toEqual([274, 269, 272, 275]);
    expect(sd15.encode('2024 year')).toEqual([273, 271, 273, 275, 935]);
  });

  it('keeps punctuation runs together', () => {
    expect(sd15.encode('!!!')).toEqual(ids(sd15, '!!!</w>'));
    expect(sd15.encode('...')).toEqual(ids(sd15, '...</w>'));
    expect(sd15.encode('?!')).toEqual(ids(sd15, '?!</w>'));
    expect(sd15.encode('hello, world!')).toEqual(ids(sd15, 'hello</w>', ',</w>', 'world</w>', '!</w>'));
  });

  it('encodes emoji and accented letters as UTF-8 bytes', () => {
    // 😀 is F0 9F 98 80, whose byte-level characters are "ðŁĺĢ".
    expect(sd15.encode('😀')).toEqual(ids(sd15, 'ðŁĺĢ</w>'));
    expect(sd15.encode('😀')).toEqual([7334]);
    expect(sd15.encode('👍🏽')).toEqual([43722]);
    expect(sd15.encode('🇯🇵')).toEqual([26527]);
    expect(sd15.encode('café')).toEqual(ids(sd15, 'cafÃ©</w>'));
    expect(sd15.encode('naïve')).toEqual([1097, 35689, 563]);
    expect(sd15.encode('crème brûlée')).toEqual([1075, 12138, 614, 711, 127, 119, 75, 13489]);
  });

  it('keeps CJK runs whole, as the reference and the fast tokenizer do (the slow one splits per character)', () => {
    expect(sd15.encode('東京タワー')).toEqual([48338, 21078, 105, 34941, 2429, 107, 30391]);
    expect(sd15.encode('夜景')).toEqual([23170, 250, 48132, 363]);
    expect(sd15.encode('한국어')).toEqual([15197, 250, 31871, 255, 31625, 368]);
  });

  it('unescapes HTML twice, collapses Unicode whitespace, lowercases', () => {
    expect(sd15.encode('Tom &amp;amp; Jerry')).toEqual(ids(sd15, 'tom</w>', '&</w>', 'jerry</w>'));
    expect(sd15.encode('&lt;3')).toEqual(ids(sd15, '<</w>', '3</w>'));
    expect(sd15.encode('  Hello\tWorld\n ')).toEqual(ids(sd15, 'hello</w>', 'world</w>'));
    expect(sd15.encode('\u3000wide\u3000space\u3000')).toEqual(ids(sd15, 'wide</w>', 'space</w>'));
    expect(sd15.encode('x\u0085y')).toEqual(ids(sd15, 'x</w>', 'y</w>'));
    expect(sd15.encode('NBSP\u00a0here')).toEqual([6459, 4393, 763]);
    expect(cleanText('  A&amp;amp;B\u00a0\u00a0C\x1e ')).toBe('a&b c');
  });

  it('matches Python html.unescape on numeric and legacy references', () => {
    expect(cleanText('&#x110000;|&#0;|&#128;|&#1;|&#xD800;|&ampx|&notit;|&notin;|&#65|&#x41z|&#|&;')).toBe(
      '\ufffd|\ufffd|€||\ufffd|&x|¬it;|∉|a|az|&#|&;',
    );
    expect(cleanText('&copy2024 &hearts; &NotEqualTilde; &fjlig;')).toBe('©2024 ♥ ≂̸ fj');
  });

  it('reads typed special tokens as one id, and drops U+0345 as the reference regex does', () => {
    expect(sd15.encode('<|endoftext|>')).toEqual([EOS]);
    expect(sd15.encode('a photo<|startoftext|>')).toEqual([320, 1125, BOS]);
    expect(sd15.encode('a\u0345b')).toEqual(ids(sd15, 'a</w>', 'b</w>'));
  });

  it('gives [] for empty or blank text, and a padded start + end', () => {
    expect(sd15.encode('')).toEqual([]);
    expect(sd15.encode(' \t\n ')).toEqual([]);
    const padded = xl2.encodePadded('');
    expect(padded.length).toBe(2);
    expect([...padded.ids]).toEqual([BOS, EOS, ...new Array<number>(75).fill(0)]);
  });

  it('truncates the padded form to 75 text tokens and keeps the end token', () => {
    const text = Array.from({ length: 100 }, () => 'cat').join(' ');
    expect(sd15.encode(text)).toHaveLength(100);
    const padded = sd15.encodePadded(text);
    expect(padded.truncated).toBe(true);
    expect(padded.length).toBe(77);
    expect(padded.ids[0]).toBe(BOS);
    expect(padded.ids[75]).toBe(2368);
    expect(padded.ids[76]).toBe(EOS);
  });

  it('encodes a 1000-word prompt in a few milliseconds', () => {
    const words = Array.from({ length: 1000 }, (_, i) => `word${i % 97}x${(i * 7919) % 1000}`);
    const text = words.join(' ');
    sd15.encode(text); // warm the JIT and the cache's code paths
    const fresh = Array.from({ length: 1000 }, (_, i) => `zq${i.toString(36)}vw`).join(' ');
    const start = performance.now();
    const out = sd15.encode(fresh);
    const elapsed = performance.now() - start;
    expect(out.length).toBeGreaterThan(1000);
    expect(elapsed).toBeLessThan(50); // a few ms here; loose for slow CI machines
  });
});

describe('parsePromptAttention: A1111 doctests', () => {
  it('ports the published examples exactly', () => {
    expect(parsePromptAttention('normal text')).toEqual([['normal text', 1.0]]);
    expect(parsePromptAttention('an (important) word')).toEqual([
      ['an ', 1.0],
      ['important', 1.1],
      [' word', 1.0],
    ]);
    expect(parsePromptAttention('(unbalanced')).toEqual([['unbalanced', 1.1]]);
    expect(parsePromptAttention('\\(literal\\]')).toEqual([['(literal]', 1.0]]);
    expect(parsePromptAttention('(unnecessary)(parens)')).toEqual([['unnecessaryparens', 1.1]]);
    expect(parsePromptAttention('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).')).toEqual([
      ['a ', 1.0],
      ['house', 1.5730000000000004],
      [' ', 1.1],
      ['on', 1.0],
      [' a ', 1.1],
      ['hill', 0.55],
      [', sun, ', 1.1],
      ['sky', 1.4641000000000006],
      ['.', 1.1],
    ]);
  });

  it('nests, divides, and tolerates stray brackets (A1111 outputs)', () => {
    expect(parsePromptAttention('((a))')).toEqual([['a', 1.2100000000000002]]);
    expect(parsePromptAttention('[a]')).toEqual([['a', 0.9090909090909091]]);
    expect(parsePromptAttention('[[a]]')).toEqual([['a', 0.8264462809917354]]);
    expect(parsePromptAttention('a ((b) c')).toEqual([
      ['a ', 1.0],
      ['b', 1.2100000000000002],
      [' c', 1.1],
    ]);
    expect(parsePromptAttention('x) y]')).toEqual([['x) y]', 1.0]]);
    expect(parsePromptAttention('(a[b:0.5)]')).toEqual([
      ['a', 0.5],
      ['b', 0.45454545454545453],
    ]);
    expect(parsePromptAttention('a: b')).toEqual([['a: b', 1.0]]);
    expect(parsePromptAttention('\\\\ and \\')).toEqual([['\\ and ', 1.0]]);
    expect(parsePromptAttention('')).toEqual([['', 1.0]]);
  });

  it('reads weights with spaces and Unicode digits, and rejects a malformed one', () => {
    expect(parsePromptAttention('(cat: 1.2 )')).toEqual([['cat', 1.2]]);
    expect(parsePromptAttention('(cat:\u0661.\u0665)')).toEqual([['cat', 1.5]]);
    expect(() => parsePromptAttention('(cat:1.2.3)')).toThrow(PinholeError);
    expect(() => parsePromptAttention('(cat:.)')).toThrow(/not a number/);
  });

  it('marks BREAK, only as a whole word, and keeps A1111 scaling it inside brackets', () => {
    expect(parsePromptAttention('a BREAK b')).toEqual([
      ['a', 1.0],
      ['BREAK', -1],
      ['b', 1.0],
    ]);
    expect(parsePromptAttention('BREAKfast BREAK_ x')).toEqual([['BREAKfast BREAK_ x', 1.0]]);
    expect(parsePromptAttention('(a:2) BREAK (b:2)')).toEqual([
      ['a', 2.0],
      ['', 1.0],
      ['BREAK', -1],
      ['', 1.0],
      ['b', 2.0],
    ]);
    expect(parsePromptAttention('(a BREAK b)')).toEqual([
      ['a', 1.1],
      ['BREAK', -1.1],
      ['b', 1.1],
    ]);
  });
});

describe('buildWeightedChunks: A1111 chunking', () => {
  const CAT = 2368;
  const DOG = 1929;
  const COMMA = 267;
  const words = (word: string, n: number): string => Array.from({ length: n }, () => word).join(' ');

  it('gives one chunk of start, end and padding for an empty prompt', () => {
    const { chunks, tokenCount } = chunkPrompt(sd15, '');
    expect(chunks).toHaveLength(1);
    expect([...chunks[0]!.ids]).toEqual([BOS, ...new Array<number>(76).fill(EOS)]);
    expect([...chunks[0]!.weights]).toEqual(new Array<number>(77).fill(1));
    expect(tokenCount).toBe(0);
  });

  it('equals the plain padded ids for a prompt without weighting (both SDXL tokenizers)', () => {
    const prompt = readJson('sdxl-tiny/reference/cases.json')['prompt'] as string;
    for (const tokenizer of [xl1, xl2]) {
      const chunks = buildWeightedChunks(tokenizer, prompt);
      expect(chunks).toHaveLength(1);
      expect(chunks[0]!.ids).toEqual(tokenizer.encodePadded(prompt).ids);
    }
  });

  it('carries weights per token, 1 for start, end and padding', () => {
    const [chunk] = buildWeightedChunks(sd15, '(cat:1.5) [dog]');
    expect([...chunk!.ids.slice(0, 4)]).toEqual([BOS, CAT, DOG, EOS]);
    expect(chunk!.weights[0]).toBe(1);
    expect(chunk!.weights[1]).toBe(Math.fround(1.5));
    expect(chunk!.weights[2]).toBe(Math.fround(1 / 1.1));
    expect(chunk!.weights[3]).toBe(1);
  });

  it('fills 75 tokens per chunk and starts a new one at the 76th', () => {
    expect(buildWeightedChunks(sd15, words('cat', 75))).toHaveLength(1);
    const { chunks, tokenCount } = chunkPrompt(sd15, words('cat', 76));
    expect(chunks).toHaveLength(2);
    expect([...chunks[0]!.ids]).toEqual([BOS, ...new Array<number>(75).fill(CAT), EOS]);
    expect([...chunks[1]!.ids.slice(0, 3)]).toEqual([BOS, CAT, EOS]);
    expect(tokenCount).toBe(76);
  });

  it('moves the words after a comma within 20 tokens to the next chunk', () => {
    // 60 cats, a comma, 20 dogs: at the 76th token the comma is 15 back, so the 14 dogs after it move.
    const { chunks, tokenCount } = chunkPrompt(sd15, `${words('cat', 60)}, ${words('dog', 20)}`);
    expect(chunks).toHaveLength(2);
    expect([...chunks[0]!.ids]).toEqual([
      BOS,
      ...new Array<number>(60).fill(CAT),
      COMMA,
      ...new Array<number>(15).fill(EOS),
    ]);
    expect([...chunks[1]!.ids]).toEqual([BOS, ...new Array<number>(20).fill(DOG), ...new Array<number>(56).fill(EOS)]);
    expect(tokenCount).toBe(95);
  });

  it('does not backtrack to a comma more than 20 tokens back, nor when disabled', () => {
    const text = `${words('cat', 50)}, ${words('dog', 30)}`;
    const far = buildWeightedChunks(sd15, text);
    expect([...far[0]!.ids.slice(50, 53)]).toEqual([CAT, COMMA, DOG]);
    expect(far[0]!.ids[76]).toBe(EOS);
    expect(far[0]!.ids[75]).toBe(DOG);
    expect([...far[1]!.ids.slice(0, 8)]).toEqual([BOS, ...new Array<number>(6).fill(DOG), EOS]);

    const near = `${words('cat', 60)}, ${words('dog', 20)}`;
    const off = buildWeightedChunks(sd15, near, { commaBacktrack: 0 });
    expect(off[0]!.ids[75]).toBe(DOG);
    expect([...off[1]!.ids.slice(0, 8)]).toEqual([BOS, ...new Array<number>(6).fill(DOG), EOS]);
  });

  it('starts a new chunk at BREAK', () => {
    const { chunks, tokenCount } = chunkPrompt(sd15, 'a cat BREAK a dog');
    expect(chunks).toHaveLength(2);
    expect([...chunks[0]!.ids.slice(0, 4)]).toEqual([BOS, 320, CAT, EOS]);
    expect([...chunks[1]!.ids.slice(0, 4)]).toEqual([BOS, 320, DOG, EOS]);
    expect(tokenCount).toBe(77);
  });

  it('pads after the first end token with "!" for SDXL tokenizer_2', () => {
    const chunks = buildWeightedChunks(xl2, `${words('cat', 80)}`);
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.ids[76]).toBe(EOS);
    expect([...chunks[1]!.ids.slice(0, 8)]).toEqual([BOS, CAT, CAT, CAT, CAT, CAT, EOS, 0]);
    expect(chunks[1]!.ids[76]).toBe(0);
  });

  it('treats brackets as text with emphasis off', () => {
    const [chunk] = buildWeightedChunks(sd15, '(cat:1.5)', { emphasis: false });
    const plain = sd15.encode('(cat:1.5)'); // ( cat : 1 . 5 )
    expect(plain).toHaveLength(7);
    expect(chunk!.ids.slice(0, 9)).toEqual(new Int32Array([BOS, ...plain, EOS]));
    expect([...chunk!.weights]).toEqual(new Array<number>(77).fill(1));
  });
});

describe('applyTokenWeights', () => {
  it('multiplies each token and restores the chunk mean (A1111 "Original")', () => {
    const hidden = new Float32Array([1, 2, 3, 4, -1, 5]);
    applyTokenWeights(hidden, [3, 2], new Float32Array([1, 2, 0.5]));
    // before: mean 14/6; after the multiply [1, 2, 6, 8, -0.5, 2.5], mean 19/6; ratio 14/19.
    const ratio = Math.fround(Math.fround(14 / 6) / Math.fround(19 / 6));
    const expected = [1, 2, 6, 8, -0.5, 2.5].map((v) => Math.fround(v * ratio));
    expect([...hidden]).toEqual(expected);
    expect(hidden.reduce((a, b) => a + b, 0) / 6).toBeCloseTo(14 / 6, 6);
  });

  it('skips the rescale with normalize: false, and changes nothing for weights of 1', () => {
    const hidden = new Float32Array([1, 2, 3, 4]);
    applyTokenWeights(hidden, [2, 2], new Float32Array([1, 3]), { normalize: false });
    expect([...hidden]).toEqual([1, 2, 9, 12]);
    const same = new Float32Array([0.25, -3, 7.5, 1e-3]);
    applyTokenWeights(same, [2, 2], new Float32Array([1, 1]));
    expect([...same]).toEqual([...new Float32Array([0.25, -3, 7.5, 1e-3])]);
  });

  it('rejects mismatched shapes', () => {
    expect(() => applyTokenWeights(new Float32Array(6), [2, 2], new Float32Array(2))).toThrow(RangeError);
  });
});

describe('countTokens: the Generate page counter', () => {
  it('counts against multiples of 75', () => {
    expect(countTokens(sd15, '')).toEqual({ count: 0, limit: 75 });
    expect(countTokens(sd15, 'a cat')).toEqual({ count: 2, limit: 75 });
    expect(countTokens(sd15, Array.from({ length: 80 }, () => 'cat').join(' '))).toEqual({ count: 80, limit: 150 });
  });

  it('strips weighting syntax and extra-network tags', () => {
    expect(countTokens(sd15, '(masterpiece:1.2), [best] quality')).toEqual({ count: 4, limit: 75 });
    expect(countTokens(sd15, '<lora:my_style:0.8> a cat <hypernet:x:1>')).toEqual({ count: 2, limit: 75 });
  });

  it('counts a BREAK as the rest of its chunk, as A1111 shows it', () => {
    expect(countTokens(sd15, 'a BREAK b')).toEqual({ count: 76, limit: 150 });
  });

  it('takes the longest AND part of a positive prompt, without its weight', () => {
    expect(countTokens(sd15, 'a cat AND a big red dog:0.5')).toEqual({ count: 4, limit: 75 });
    expect(countTokens(sd15, 'a cat AND a big red dog:0.5', { negative: true })).toEqual({ count: 11, limit: 75 });
  });

  it('does not throw on a half-typed weight', () => {
    expect(countTokens(sd15, '(cat:1.2.3)')).toEqual({ count: sd15.encode('(cat:1.2.3)').length, limit: 75 });
  });
});
