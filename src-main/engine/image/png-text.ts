import { crc32, inflateSync } from 'node:zlib';
import { PinholeError } from '../../../src-shared/errors';

/**
 * PNG text chunks, written and read without a PNG library: an encoder's output gets a `tEXt` (or `iTXt`) chunk
 * inserted right after `IHDR`, where A1111 and every PNG-info reader look first.
 */

const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One chunk's position in a PNG: type, data range, and the whole chunk's range (length, type, data, CRC). */
export interface PngChunk {
  readonly type: string;
  readonly dataStart: number;
  readonly dataEnd: number;
  readonly end: number;
}

/**
 * The chunks of a PNG, in order, with their CRCs checked.
 * @throws PinholeError `INVALID_PARAMS` for a missing signature, a truncated chunk or a CRC mismatch.
 */
export function listPngChunks(png: Uint8Array): PngChunk[] {
  if (png.length < 8 || SIGNATURE.some((b, i) => png[i] !== b)) {
    throw new PinholeError('INVALID_PARAMS', 'not a PNG file (bad signature)');
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: PngChunk[] = [];
  let offset = 8;
  while (offset < png.length) {
    if (offset + 12 > png.length) throw new PinholeError('INVALID_PARAMS', 'truncated PNG chunk header');
    const length = view.getUint32(offset);
    const dataStart = offset + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > png.length) throw new PinholeError('INVALID_PARAMS', 'truncated PNG chunk');
    const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
    const crc = crc32(png.subarray(offset + 4, dataEnd));
    if (crc !== view.getUint32(dataEnd)) throw new PinholeError('INVALID_PARAMS', `PNG chunk ${type} has a bad CRC`);
    chunks.push({ type, dataStart, dataEnd, end: dataEnd + 4 });
    offset = dataEnd + 4;
    if (type === 'IEND') break;
  }
  return chunks;
}

/** A complete chunk (length, type, data, CRC-32 of type and data). */
export function encodePngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(Buffer.from(type, 'latin1'), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Whether every character is Latin-1 (what `tEXt` can hold). */
function isLatin1(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\u0000-\u00ff]*$/.test(text);
}

function checkKeyword(keyword: string): void {
  // The PNG spec: 1–79 printable Latin-1 characters, no leading/trailing/double spaces; A1111 uses `parameters`.
  if (keyword.length < 1 || keyword.length > 79 || !/^[\u0020-\u007e\u00a1-\u00ff]+$/.test(keyword)) {
    throw new PinholeError('INVALID_PARAMS', `invalid PNG text keyword "${keyword}"`);
  }
}

/**
 * The chunk for one key/value pair as PIL's `PngInfo.add_text` writes it (and so A1111): `tEXt` when the text
 * is Latin-1, otherwise an uncompressed `iTXt` with UTF-8 text.
 */
export function textChunk(keyword: string, text: string): Uint8Array {
  checkKeyword(keyword);
  const key = Buffer.from(keyword, 'latin1');
  if (isLatin1(text)) {
    return encodePngChunk('tEXt', Buffer.concat([key, Buffer.from([0]), Buffer.from(text, 'latin1')]));
  }
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, UTF-8 text.
  const header = Buffer.from([0, 0, 0, 0, 0]);
  return encodePngChunk('iTXt', Buffer.concat([key, header, Buffer.from(text, 'utf8')]));
}

/**
 * `png` with text chunks inserted right after `IHDR`, one per entry, in order.
 * @throws PinholeError `INVALID_PARAMS` when `png` is not a PNG starting with `IHDR`.
 */
export function insertPngText(png: Uint8Array, entries: Readonly<Record<string, string>>): Uint8Array {
  const chunks = listPngChunks(png);
  const ihdr = chunks[0];
  if (ihdr?.type !== 'IHDR') throw new PinholeError('INVALID_PARAMS', 'PNG does not start with IHDR');
  const inserted = Object.entries(entries).map(([k, v]) => textChunk(k, v));
  return Buffer.concat([png.subarray(0, ihdr.end), ...inserted, png.subarray(ihdr.end)]);
}

function decodeTextChunk(type: string, data: Uint8Array): [string, string] | undefined {
  const nul = data.indexOf(0);
  if (nul < 1) return undefined;
  const keyword = Buffer.from(data.subarray(0, nul)).toString('latin1');
  const rest = data.subarray(nul + 1);
  if (type === 'tEXt') return [keyword, Buffer.from(rest).toString('latin1')];
  if (type === 'zTXt') return [keyword, inflateSync(rest.subarray(1)).toString('latin1')];
  // iTXt: compression flag, method, language tag \0, translated keyword \0, text.
  const compressed = rest[0] === 1;
  const languageEnd = rest.indexOf(0, 2);
  const translatedEnd = languageEnd < 0 ? -1 : rest.indexOf(0, languageEnd + 1);
  if (translatedEnd < 0) return undefined;
  const body = rest.subarray(translatedEnd + 1);
  return [keyword, (compressed ? inflateSync(body) : Buffer.from(body)).toString('utf8')];
}

/** Every `tEXt`, `zTXt` and `iTXt` entry of a PNG (the first occurrence of a keyword wins). */
export function readPngText(png: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const chunk of listPngChunks(png)) {
    if (chunk.type !== 'tEXt' && chunk.type !== 'zTXt' && chunk.type !== 'iTXt') continue;
    const entry = decodeTextChunk(chunk.type, png.subarray(chunk.dataStart, chunk.dataEnd));
    if (entry && !(entry[0] in out)) out[entry[0]] = entry[1];
  }
  return out;
}
