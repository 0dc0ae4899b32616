/** PNG text chunks (written by our own chunk writer, read back by ours and by sharp) and A1111's infotext. */
import sharp from 'sharp';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  encodePng,
  formatInfotext,
  insertPngText,
  listPngChunks,
  parseInfotext,
  quoteInfotextValue,
  readPngText,
  samplerDisplayName,
} from '../../src-main/engine/image';

async function tinyPng(): Promise<Uint8Array> {
  return encodePng({ data: new Uint8Array(4 * 3 * 3).fill(200), width: 4, height: 3 });
}

describe('PNG text chunks', () => {
  it('inserts tEXt right after IHDR with a valid CRC', async () => {
    const png = insertPngText(await tinyPng(), { parameters: 'a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7' });
    const chunks = listPngChunks(png);
    expect(chunks.map((c) => c.type).slice(0, 2)).toEqual(['IHDR', 'tEXt']);
    expect(chunks.at(-1)!.type).toBe('IEND');
    const text = chunks[1]!;
    const view = new DataView(png.buffer, png.byteOffset);
    expect(view.getUint32(text.dataEnd)).toBe(crc32(png.subarray(text.dataStart - 4, text.dataEnd)));
    expect(Buffer.from(png.subarray(text.dataStart, text.dataStart + 11)).toString('latin1')).toBe('parameters\0');
  });

  it('reads back what it wrote, and other readers agree', async () => {
    const value = 'café, (masterpiece:1.2)\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Seed: 42';
    const png = insertPngText(await tinyPng(), { parameters: value, Software: 'Pinhole Studio' });
    expect(readPngText(png)).toEqual({ parameters: value, Software: 'Pinhole Studio' });
    // libvips decodes tEXt as UTF-8 rather than Latin-1, so compare an ASCII text with it.
    const ascii = insertPngText(await tinyPng(), { parameters: 'a cat, (x:1.2)\nSteps: 20', Software: 'Pinhole' });
    expect((await sharp(ascii).metadata()).comments).toEqual([
      { keyword: 'parameters', text: 'a cat, (x:1.2)\nSteps: 20' },
      { keyword: 'Software', text: 'Pinhole' },
    ]);
    // The image itself is untouched.
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(data.every((b) => b === 200)).toBe(true);
  });

  it('writes iTXt (UTF-8) for text that is not Latin-1, as PIL does', async () => {
    const value = '富士山の写真, 🌸\nSteps: 4, Sampler: LCM, CFG scale: 1.5';
    const png = insertPngText(await tinyPng(), { parameters: value });
    expect(listPngChunks(png)[1]!.type).toBe('iTXt');
    expect(readPngText(png).parameters).toBe(value);
    expect((await sharp(png).metadata()).comments?.[0]?.text).toBe(value);
  });

  it('rejects a corrupted chunk and a bad keyword', async () => {
    const png = insertPngText(await tinyPng(), { parameters: 'x' });
    const broken = Uint8Array.from(png);
    broken[40] = broken[40]! ^ 0xff;
    expect(() => readPngText(broken)).toThrow(/bad CRC/);
    expect(() => readPngText(new Uint8Array([1, 2, 3]))).toThrow(/not a PNG/);
    expect(() => insertPngText(png, { '': 'x' })).toThrow(/keyword/);
  });
});

describe('A1111 infotext', () => {
  it('formats like A1111', () => {
    const text = formatInfotext({
      prompt: 'a photo of an astronaut riding a horse on mars',
      negativePrompt: 'blurry, low quality',
      steps: 20,
      sampler: samplerDisplayName('euler_a'),
      cfgScale: 7,
      seed: 18446744073709551615n,
      width: 512,
      height: 768,
      modelHash: '6ce0161689',
      modelName: 'v1-5-pruned-emaonly',
    });
    expect(text).toBe(
      'a photo of an astronaut riding a horse on mars\n' +
        'Negative prompt: blurry, low quality\n' +
        'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 18446744073709551615, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly',
    );
  });

  it('leaves out an empty negative and default settings, records img2img and batches', () => {
    const text = formatInfotext({
      prompt: 'a dog',
      negativePrompt: '',
      steps: 10,
      sampler: samplerDisplayName('dpmpp_2m_karras'),
      cfgScale: 7.5,
      seed: 1,
      width: 64,
      height: 64,
      batchSize: 2,
      batchPos: 1,
      denoisingStrength: 0.6,
      clipSkip: 2,
      extra: { 'Schedule type': undefined, Note: 'a: b, c' },
    });
    expect(text).toBe(
      'a dog\nSteps: 10, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 1, Size: 64x64, Batch size: 2, Batch pos: 1, ' +
        'Denoising strength: 0.6, Clip skip: 2, Note: "a: b, c"',
    );
    expect(
      formatInfotext({
        prompt: 'x',
        steps: 1,
        sampler: 'Euler',
        cfgScale: 1,
        seed: 0,
        width: 8,
        height: 8,
        clipSkip: 1,
        batchSize: 1,
      }),
    ).toBe('x\nSteps: 1, Sampler: Euler, CFG scale: 1, Seed: 0, Size: 8x8');
  });

  it('quotes values with commas, colons or newlines', () => {
    expect(quoteInfotextValue('plain')).toBe('plain');
    expect(quoteInfotextValue('a, b')).toBe('"a, b"');
    expect(quoteInfotextValue('say "hi": now')).toBe('"say \\"hi\\": now"');
  });

  it('parses an infotext back (A1111 parse_generation_parameters)', () => {
    const parsed = parseInfotext(
      'line one\nline two\nNegative prompt: bad, ugly\nmore negative\n' +
        'Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 7, Size: 96x64, Model hash: abcdef0123, Note: "x, y"',
    );
    expect(parsed.prompt).toBe('line one\nline two');
    expect(parsed.negativePrompt).toBe('bad, ugly\nmore negative');
    expect(parsed.params).toEqual({
      Steps: '30',
      Sampler: 'DPM++ 2M Karras',
      'CFG scale': '6.5',
      Seed: '7',
      Size: '96x64',
      'Model hash': 'abcdef0123',
      Note: 'x, y',
    });
    expect(parseInfotext('just a prompt: with a colon').params).toEqual({});
  });

  it('names every sampler as A1111 does', () => {
    expect(['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'heun'].map(samplerDisplayName)).toEqual([
      'Euler',
      'Euler a',
      'DDIM',
      'DPM++ 2M',
      'DPM++ 2M Karras',
      'LCM',
      'Heun',
    ]);
  });
});
