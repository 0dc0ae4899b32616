/**
 * Content-addressed files: a file's name is the SHA-256 of its bytes, fanned out by
 * the first two hex digits. Writes go to tmp/ and are renamed in, so a crash never
 * leaves a half-written file under its final name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../src-shared/errors';

const SHA256 = /^[0-9a-f]{64}$/;

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export class ContentStore {
  constructor(
    private readonly root: string,
    private readonly tmpDir: string,
    private readonly suffix = '',
  ) {}

  /** The path of a stored item; the id is checked so no caller can build a path outside the store. */
  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new PinholeError('INVALID_PARAMS', `Not a content id: ${sha256.slice(0, 80)}`);
    return path.join(this.root, sha256.slice(0, 2), sha256 + this.suffix);
  }

  has(sha256: string): boolean {
    return existsSync(this.pathOf(sha256));
  }

  /** Stores bytes under their own hash (or the given key) and returns it. Idempotent. */
  async put(data: Uint8Array, key = sha256Hex(data)): Promise<string> {
    const target = this.pathOf(key);
    if (existsSync(target)) return key;
    await mkdir(path.dirname(target), { recursive: true });
    const temp = path.join(this.tmpDir, `${key}.${randomBytes(4).toString('hex')}.part`);
    try {
      await writeFile(temp, data);
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return key;
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }
}
