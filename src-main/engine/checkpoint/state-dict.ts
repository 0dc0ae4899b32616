/**
 * A weights file's state dict as lazy tensor references in their stored dtype, whatever the
 * container: safetensors (header only) or a torch pickle (`.ckpt` / `.pt` / `.pth` / `.bin`, the
 * restricted reader). A torch file's `state_dict` entry (Lightning's layout) is the state dict when present.
 */
import { open } from 'node:fs/promises';
import { PinholeError } from '../../../src-shared/errors';
import { type Tensor } from '../graph';
import { SafetensorsFile } from '../weights';
import { openTorchFile } from './torch-file';

export type StateDict = {
  readonly path: string;
  readonly format: 'safetensors' | 'pickle';
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** safetensors `__metadata__` (empty for pickles). */
  readonly metadata: Readonly<Record<string, string>>;
};

/** Whether the file begins like a safetensors file: an 8-byte header length, then `{`. */
async function looksLikeSafetensors(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(9);
    const { bytesRead } = await handle.read(head, 0, 9, 0);
    return bytesRead === 9 && head[8] === 0x7b && head.readBigUInt64LE(0) < 100_000_000n;
  } finally {
    await handle.close();
  }
}

/**
 * Reads a weights file's structure; tensors stay on disk.
 * @throws PinholeError `NOT_FOUND` when the file cannot be opened; `IMPORT_REJECTED` naming the file and the
 *   reason when it is corrupt, truncated, a refused pickle or not a weights file at all.
 */
export async function openStateDict(path: string): Promise<StateDict> {
  let safetensors: boolean;
  try {
    safetensors = await looksLikeSafetensors(path);
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Cannot open ${path}`, { cause: error });
  }
  if (safetensors) {
    let file: SafetensorsFile;
    try {
      file = await SafetensorsFile.open(path);
    } catch (error) {
      if (error instanceof PinholeError) throw error;
      throw new PinholeError('IMPORT_REJECTED', `${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const tensors = new Map<string, Tensor>();
      for (const e of file.entries()) if (e.dtype) tensors.set(e.name, file.ref(e.name, { dtype: 'native' }));
      return { path, format: 'safetensors', tensors, metadata: file.metadata };
    } finally {
      await file.close();
    }
  }
  const torch = await openTorchFile(path);
  const nested = [...torch.tensors.keys()].some((n) => n.startsWith('state_dict.'));
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of torch.tensors) {
    if (nested && !name.startsWith('state_dict.')) continue;
    const key = nested ? name.slice('state_dict.'.length) : name;
    tensors.set(key, { ...t, name: key });
  }
  return { path, format: 'pickle', tensors, metadata: {} };
}
