/**
 * Reading A1111's parameters from a JPEG's or WebP's EXIF UserComment: the TIFF walk in both byte orders, the
 * UNICODE (UTF-16 in the file's byte order, as piexif writes A1111's) and ASCII prefixes, and malformed blocks
 * reading as "no comment". The blocks are built here by hand from the EXIF layout, not by the code under test.
 */
import { describe, expect, it } from 'vitest';
import { exifUserComment } from '../../src-main/library/exif-user-comment';
import { exifBlock } from '../helpers/exif';

const TEXT = 'a lighthouse 灯台 🌅\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5';

describe('EXIF UserComment', () => {
  it('reads UNICODE comments in both byte orders and ASCII ones', () => {
    expect(exifUserComment(exifBlock(TEXT, 'MM', 'UNICODE'))).toBe(TEXT);
    expect(exifUserComment(exifBlock(TEXT, 'II', 'UNICODE'))).toBe(TEXT);
    expect(exifUserComment(exifBlock('Steps: 8, Seed: 1', 'II', 'ASCII'))).toBe('Steps: 8, Seed: 1');
  });

  it('reads nothing from blocks that are not what it expects', () => {
    const good = exifBlock(TEXT, 'MM', 'UNICODE');
    expect(exifUserComment(undefined)).toBeUndefined();
    expect(exifUserComment(good.subarray(0, 30))).toBeUndefined(); // truncated before the comment
    const badOrder = Uint8Array.from(good);
    badOrder[6] = 0x58; // "XM"
    expect(exifUserComment(badOrder)).toBeUndefined();
    const jis = Buffer.from(good);
    jis.write('JIS\0\0\0\0\0', 6 + 44, 'latin1');
    expect(exifUserComment(jis)).toBeUndefined();
    expect(exifUserComment(exifBlock('', 'II', 'ASCII'))).toBeUndefined();
  });
});
