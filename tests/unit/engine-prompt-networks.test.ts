/**
 * Extra networks in prompts: A1111's `<lora:…>` tag syntax (weights, te/unet split, `<lyco:…>`, errors), the name
 * tables a request carries (unknown names named), the infotext prompt with explicit LoRAs as tags, and
 * embeddings in prompt chunking (their vectors replace the name's tokens, never split across chunks, counted).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLoraTags, stripNetworkTags } from '../../src-main/engine/lora';
import { resolvePromptLoras, withLoraTags } from '../../src-main/engine/pipelines';
import { chunkPrompt, ClipTokenizer } from '../../src-main/engine/text';
import { FIXTURES } from '../helpers/fixtures';

describe('<lora:…> tags', () => {
  it('parses weights as A1111 does', () => {
    const tags = parseLoraTags('a <lora:style:0.8> cat, <lora:other> <lyco:locon:-0.5:1.5> <lora:x:te=0.3:unet=2>');
    expect(tags.map(({ name, weight, unetWeight }) => ({ name, weight, unetWeight }))).toEqual([
      { name: 'style', weight: 0.8, unetWeight: undefined },
      { name: 'other', weight: 1, unetWeight: undefined },
      { name: 'locon', weight: -0.5, unetWeight: 1.5 },
      { name: 'x', weight: 0.3, unetWeight: 2 },
    ]);
    expect(parseLoraTags('<lora:my style v2.1: 0.75 >')[0]).toMatchObject({ name: 'my style v2.1', weight: 0.75 });
  });

  it('removes every extra-network tag from the text, and nothing else', () => {
    expect(stripNetworkTags('a <lora:style:0.8>cat, (red:1.2) <hypernet:h:1>')).toBe('a cat, (red:1.2) ');
    expect(stripNetworkTags('a <b> c <1girl>')).toBe('a <b> c <1girl>');
  });

  it('names a bad tag', () => {
    expect(() => parseLoraTags('<lora:style:heavy>')).toThrow(/<lora:style:heavy>: "heavy" is not a weight/);
    expect(() => parseLoraTags('<lora::1>')).toThrow(/the LoRA name is empty/);
    expect(() => parseLoraTags('<lora:a:1:2:3>')).toThrow(/expected <lora:NAME:WEIGHT>/);
    expect(() => parseLoraTags('<lora:a:dyn=4>')).toThrow(/"dyn=" is not supported/);
    expect(() => parseLoraTags('<hypernet:h:1>')).toThrow(/"hypernet" extra networks are not supported/);
    expect(() => parseLoraTags('<lora:a:1e9>')).toThrow(/not a weight/);
  });

  it('resolves tag names through the caller’s table, from the prompt and the negative prompt', () => {
    const table = { loras: { style: '/l/style.safetensors', ink: '/l/ink.safetensors' } };
    const { loras } = resolvePromptLoras(['a <lora:style:0.5> cat', 'blurry <lora:ink>'], table);
    expect(loras).toEqual([
      { path: '/l/style.safetensors', weight: 0.5 },
      { path: '/l/ink.safetensors', weight: 1 },
    ]);
    expect(() => resolvePromptLoras(['<lora:missing:1>'], table)).toThrow(
      /Unknown LoRA "missing" in <lora:missing:1>.*models\/loras/,
    );
    expect(() => resolvePromptLoras(['a'], { loras: { x: 3 } as unknown as Record<string, string> })).toThrow(
      /networks\.loras\.x: must be a file path/,
    );
  });

  it('writes explicit LoRAs into the prompt as tags (the infotext form)', () => {
    expect(withLoraTags('a cat', [{ path: '/x/style.safetensors', weight: 0.8 }])).toBe('a cat <lora:style:0.8>');
    expect(withLoraTags('', [{ path: '/m/ink.safetensors', weight: 1, unetWeight: 0.5 }])).toBe('<lora:ink:1:0.5>');
    expect(withLoraTags('a cat', [])).toBe('a cat');
  });
});

describe('embeddings in prompt chunks', () => {
  const load = () => ClipTokenizer.load(path.join(FIXTURES, 'sd15-tiny', 'tokenizer'));

  it('replaces the name’s tokens by the vector ids, with the run’s weight, and counts the vectors', async () => {
    const tokenizer = await load();
    const nameIds = tokenizer.encode('mystyle');
    const embedding = { nameIds, ids: [49408, 49409, 49410] };
    const { chunks, tokenCount } = chunkPrompt(tokenizer, 'a (mystyle:1.5) cat', { embeddings: [embedding] });
    const a = tokenizer.encode('a')[0]!;
    const cat = tokenizer.encode('cat')[0]!;
    expect(Array.from(chunks[0]!.ids.slice(0, 7))).toEqual([tokenizer.bos, a, 49408, 49409, 49410, cat, tokenizer.eos]);
    expect(Array.from(chunks[0]!.weights.slice(0, 7))).toEqual([1, 1, 1.5, 1.5, 1.5, 1, 1]);
    expect(tokenCount).toBe(5);
  });

  it('moves an embedding that does not fit to the next chunk, as A1111 does', async () => {
    const tokenizer = await load();
    const embedding = { nameIds: tokenizer.encode('mystyle'), ids: Array.from({ length: 10 }, (_, k) => 49408 + k) };
    // 70 single-token words, then the 10-vector embedding: 70 + 10 > 75.
    const text = `${Array.from({ length: 70 }, () => 'cat').join(' ')} mystyle`;
    const { chunks, tokenCount } = chunkPrompt(tokenizer, text, { embeddings: [embedding], commaBacktrack: 0 });
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.ids[71]).toBe(tokenizer.eos);
    expect(Array.from(chunks[1]!.ids.slice(1, 11))).toEqual(embedding.ids);
    expect(tokenCount).toBe(75 + 10);
  });

  it('prefers the longest name at a position', async () => {
    const tokenizer = await load();
    const short = { nameIds: tokenizer.encode('red'), ids: [49408] };
    const long = { nameIds: tokenizer.encode('red fox'), ids: [49409, 49410] };
    const { chunks } = chunkPrompt(tokenizer, 'red fox', { embeddings: [short, long] });
    expect(Array.from(chunks[0]!.ids.slice(1, 4))).toEqual([49409, 49410, tokenizer.eos]);
  });
});
