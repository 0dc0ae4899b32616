/**
 * The EXIF `UserComment` of a JPEG or WebP: where A1111 (and Forge, SD.Next) write the generation `parameters` when
 * they save in those formats (a PNG carries them in a text chunk instead). A minimal TIFF walk — IFD0 → the Exif IFD
 * → tag 0x9286 — over the raw EXIF block sharp returns; anything malformed reads as "no comment", never an error.
 */

const EXIF_IFD_POINTER = 0x8769;
const USER_COMMENT = 0x9286;

/** The comment text, or undefined when there is none (or the block is not EXIF as expected). */
export function exifUserComment(exif: Uint8Array | undefined): string | undefined {
  if (!exif || exif.length < 8) return undefined;
  const view = new DataView(exif.buffer, exif.byteOffset, exif.byteLength);
  // sharp hands the APP1 payload, "Exif\0\0" first; a bare TIFF block is accepted too.
  const base = exif.length >= 6 && String.fromCharCode(...exif.subarray(0, 4)) === 'Exif' ? 6 : 0;
  if (base + 8 > exif.length) return undefined;
  const order = String.fromCharCode(exif[base]!, exif[base + 1]!);
  if (order !== 'II' && order !== 'MM') return undefined;
  const little = order === 'II';
  const u16 = (at: number): number | undefined => (at + 2 <= exif.length ? view.getUint16(at, little) : undefined);
  const u32 = (at: number): number | undefined => (at + 4 <= exif.length ? view.getUint32(at, little) : undefined);
  if (u16(base + 2) !== 42) return undefined;

  /** The (type, count, value-or-offset position) of `tag` in the IFD at `ifd` (offsets relative to the TIFF start). */
  const find = (ifd: number, tag: number): { type: number; count: number; at: number } | undefined => {
    const entries = u16(base + ifd);
    if (entries === undefined) return undefined;
    for (let i = 0; i < entries; i++) {
      const entry = base + ifd + 2 + i * 12;
      if (u16(entry) !== tag) continue;
      const type = u16(entry + 2);
      const count = u32(entry + 4);
      if (type === undefined || count === undefined) return undefined;
      // Values over 4 bytes live at an offset; UNDEFINED (7) and ASCII (2) are one byte per count.
      const at = count > 4 ? base + (u32(entry + 8) ?? exif.length) : entry + 8;
      return { type, count, at };
    }
    return undefined;
  };

  const ifd0 = u32(base + 4);
  if (ifd0 === undefined) return undefined;
  const pointer = find(ifd0, EXIF_IFD_POINTER);
  const exifIfd = pointer ? u32(pointer.at) : undefined;
  if (exifIfd === undefined) return undefined;
  const comment = find(exifIfd, USER_COMMENT);
  if (!comment || comment.count < 8 || comment.at + comment.count > exif.length) return undefined;
  const bytes = exif.subarray(comment.at, comment.at + comment.count);
  return decodeUserComment(bytes, little);
}

/** EXIF's 8-byte character-code prefix, then the text: ASCII, UNICODE (UTF-16 in the file's byte order), or unset. */
function decodeUserComment(bytes: Uint8Array, little: boolean): string | undefined {
  const code = String.fromCharCode(...bytes.subarray(0, 8)).replace(/\0+$/, '');
  const body = bytes.subarray(8);
  let text: string;
  if (code === 'UNICODE') {
    const units = new Uint16Array(Math.floor(body.length / 2));
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    for (let i = 0; i < units.length; i++) units[i] = view.getUint16(i * 2, little);
    text = String.fromCharCode(...units);
  } else if (code === 'ASCII' || code === '') {
    text = new TextDecoder('utf-8', { fatal: false }).decode(body);
  } else {
    return undefined; // JIS and unknown codes: not what A1111 writes.
  }
  text = text.replace(/\0+$/, '');
  return text.trim() === '' ? undefined : text;
}
