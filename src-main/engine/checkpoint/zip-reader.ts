/**
 * The part of the ZIP format PyTorch's `torch.save` writes (and `torch.load` reads): the central
 * directory (ZIP64 included, for checkpoints over 4 GiB) and each entry's data offset, found
 * through its local header. Entries are normally stored uncompressed and 64-byte aligned, so a
 * tensor's bytes can be referenced in place; deflated entries are inflated on demand.
 * No dependency: the few hundred bytes of structure are simpler to read than to vet a library.
 */
import { type FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { ModelFormatError } from '../graph';

/** One file inside the archive. */
export type ZipEntry = {
  name: string;
  /** 0: stored, 8: deflated (the only methods accepted). */
  method: number;
  compressedSize: number;
  size: number;
  /** Absolute offset of the entry's (possibly compressed) bytes in the archive. */
  dataOffset: number;
};

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
/** The end record is 22 bytes plus a comment of at most 64 KiB. */
const MAX_EOCD_SEARCH = 22 + 0xffff;

async function readAt(handle: FileHandle, offset: number, length: number, file: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, offset + done);
    if (bytesRead === 0)
      throw new ModelFormatError(`${file}: truncated (the archive ends before byte ${offset + length})`);
    done += bytesRead;
  }
  return buf;
}

/** Whether the file starts like a ZIP archive (a local file header). */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/**
 * Lists the archive's entries with their data offsets.
 * @throws ModelFormatError naming the file when the directory is missing (truncated file) or malformed.
 */
export async function readZipEntries(handle: FileHandle, size: number, file: string): Promise<Map<string, ZipEntry>> {
  const fail = (reason: string): never => {
    throw new ModelFormatError(`${file}: ${reason}`);
  };
  const tailLength = Math.min(size, MAX_EOCD_SEARCH);
  const tail = await readAt(handle, size - tailLength, tailLength, file);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('the ZIP directory is missing (the file is truncated or not a PyTorch checkpoint)');
  let count = tail.readUInt16LE(eocd + 10);
  let dirSize = tail.readUInt32LE(eocd + 12);
  let dirOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const locatorAt = eocd - 20;
    if (locatorAt < 0 || tail.readUInt32LE(locatorAt) !== ZIP64_LOCATOR_SIGNATURE) fail('the ZIP64 locator is missing');
    const z64Offset = Number(tail.readBigUInt64LE(locatorAt + 8));
    if (z64Offset + 56 > size) fail('the ZIP64 directory record lies past the end of the file');
    const z64 = await readAt(handle, z64Offset, 56, file);
    if (z64.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) fail('the ZIP64 directory record is corrupt');
    count = Number(z64.readBigUInt64LE(32));
    dirSize = Number(z64.readBigUInt64LE(40));
    dirOffset = Number(z64.readBigUInt64LE(48));
  }
  if (dirOffset + dirSize > size) fail('the ZIP directory lies past the end of the file (truncated?)');
  const dir = await readAt(handle, dirOffset, dirSize, file);
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > dir.length || dir.readUInt32LE(at) !== CENTRAL_SIGNATURE) fail(`ZIP directory entry ${i} is corrupt`);
    const method = dir.readUInt16LE(at + 10);
    let compressedSize = dir.readUInt32LE(at + 20);
    let uncompressedSize = dir.readUInt32LE(at + 24);
    const nameLength = dir.readUInt16LE(at + 28);
    const extraLength = dir.readUInt16LE(at + 30);
    const commentLength = dir.readUInt16LE(at + 32);
    let localOffset = dir.readUInt32LE(at + 42);
    const name = dir.toString('utf8', at + 46, at + 46 + nameLength);
    // ZIP64 extra field: the 64-bit values of whichever fields are saturated, in this order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = dir.readUInt16LE(extra);
      const length = dir.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let p = extra + 4;
        if (uncompressedSize === 0xffffffff) {
          uncompressedSize = Number(dir.readBigUInt64LE(p));
          p += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(dir.readBigUInt64LE(p));
          p += 8;
        }
        if (localOffset === 0xffffffff) localOffset = Number(dir.readBigUInt64LE(p));
      }
      extra += 4 + length;
    }
    at = extraEnd + commentLength;
    if (method !== 0 && method !== 8)
      fail(`ZIP entry '${name}' uses compression method ${method}, which is not supported`);
    if (localOffset + 30 > size) fail(`ZIP entry '${name}' lies past the end of the file (truncated?)`);
    const local = await readAt(handle, localOffset, 30, file);
    if (local.readUInt32LE(0) !== LOCAL_SIGNATURE) fail(`ZIP entry '${name}' has a corrupt local header`);
    const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataOffset + compressedSize > size) fail(`ZIP entry '${name}' is cut short (the file is truncated)`);
    entries.set(name, { name, method, compressedSize, size: uncompressedSize, dataOffset });
  }
  return entries;
}

/** An entry's bytes, inflated when deflated. For small entries (the pickle, `version`). */
export async function readZipEntry(handle: FileHandle, entry: ZipEntry, file: string): Promise<Buffer> {
  const raw = await readAt(handle, entry.dataOffset, entry.compressedSize, file);
  if (entry.method === 0) return raw;
  try {
    return inflateRawSync(raw);
  } catch (error) {
    throw new ModelFormatError(`${file}: ZIP entry '${entry.name}' is corrupt (${(error as Error).message})`, {
      cause: error,
    });
  }
}
