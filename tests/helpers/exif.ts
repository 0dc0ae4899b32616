/** EXIF blocks built by hand from the EXIF layout (for tests of readers, which must not build their own input). */

/** "Exif\0\0" + a TIFF block: IFD0 → Exif IFD → UserComment (type UNDEFINED) holding `prefix` + `text`. */
export function exifBlock(text: string, order: 'II' | 'MM', encoding: 'UNICODE' | 'ASCII'): Uint8Array {
  const little = order === 'II';
  const body =
    encoding === 'ASCII'
      ? Buffer.from(text, 'utf8')
      : Buffer.from(
          Uint8Array.from(
            [...text].flatMap((ch) => {
              const units: number[] = [];
              for (let i = 0; i < ch.length; i++) units.push(ch.charCodeAt(i));
              return units.flatMap((u) => (little ? [u & 0xff, u >> 8] : [u >> 8, u & 0xff]));
            }),
          ),
        );
  const prefix = Buffer.from(encoding.padEnd(8, '\0'), 'latin1');
  const comment = Buffer.concat([prefix, body]);
  const tiff = Buffer.alloc(44 + comment.length);
  const u16 = (at: number, v: number) => (little ? tiff.writeUInt16LE(v, at) : tiff.writeUInt16BE(v, at));
  const u32 = (at: number, v: number) => (little ? tiff.writeUInt32LE(v, at) : tiff.writeUInt32BE(v, at));
  tiff.write(order, 0, 'latin1');
  u16(2, 42);
  u32(4, 8);
  // IFD0 at 8: one entry, the Exif IFD pointer (LONG) → 26.
  u16(8, 1);
  u16(10, 0x8769);
  u16(12, 4);
  u32(14, 1);
  u32(18, 26);
  u32(22, 0);
  // Exif IFD at 26: one entry, UserComment (UNDEFINED, count bytes at offset 44).
  u16(26, 1);
  u16(28, 0x9286);
  u16(30, 7);
  u32(32, comment.length);
  u32(36, 44);
  u32(40, 0);
  comment.copy(tiff, 44);
  return Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
}

/** `jpeg` with `exif` ("Exif\0\0" + TIFF) inserted as an APP1 segment right after the SOI marker. */
export function withExifSegment(jpeg: Uint8Array, exif: Uint8Array): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(exif.length + 2);
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1]), length, exif, jpeg.subarray(2)]);
}
