/**
 * The models import checks free disk space before it copies anything: too little space is a clear
 * `DATA_HOME_UNAVAILABLE` error saying how much is needed and free, and the import leaves no temporary file.
 * `statfs` is mocked (as in checkpoint-inspect.test.ts) to play a full disk.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureFreeSpace } from '../../src-main/models/copy-hashed';
import { importModelFile } from '../../src-main/models/import-model-file';
import type { ModelStore } from '../../src-main/models/model-store';
import type { DataHome } from '../../src-main/platform/data-home';
import { makeTempDir } from '../helpers/temp-dir';

const fsState = vi.hoisted(() => ({ freeBytes: undefined as number | undefined, fail: false }));
vi.mock('node:fs/promises', async (original) => {
  const actual = await original<typeof FsPromises>();
  return {
    ...actual,
    statfs: async (p: string) => {
      if (fsState.fail) throw Object.assign(new Error('not supported'), { code: 'ENOSYS' });
      return fsState.freeBytes === undefined
        ? actual.statfs(p)
        : { ...(await actual.statfs(p)), bavail: fsState.freeBytes, bsize: 1 };
    },
  };
});

const MB = 1024 * 1024;

describe('the models import’s free-space check', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-free-space-')));
  afterAll(() => tmp.cleanup());
  afterEach(() => {
    fsState.freeBytes = undefined;
    fsState.fail = false;
  });

  it('refuses a copy that does not fit with its 64 MB margin, saying what is needed and free', async () => {
    fsState.freeBytes = 100 * MB;
    await expect(ensureFreeSpace(tmp.dir, 50 * MB)).rejects.toMatchObject({
      code: 'DATA_HOME_UNAVAILABLE',
      message: expect.stringMatching(/^Not enough free disk space in .*: the copy needs 0\.11 GB, 0\.10 GB is free\.$/),
    });
    await expect(ensureFreeSpace(tmp.dir, 30 * MB)).resolves.toBeUndefined();
  });

  it('lets the copy go on where the platform cannot tell the free space', async () => {
    fsState.fail = true;
    await expect(ensureFreeSpace(tmp.dir, 10 ** 15)).resolves.toBeUndefined();
  });

  it('an import on a full disk fails before copying and leaves no temporary file', async () => {
    const file = path.join(tmp.dir, 'model.safetensors');
    writeFileSync(file, Buffer.alloc(1024, 1));
    const tmpFile = path.join(tmp.dir, 'tmp', 'import-0.part');
    const deps = {
      store: {} as ModelStore,
      home: { root: tmp.dir, models: path.join(tmp.dir, 'models'), tmp: path.join(tmp.dir, 'tmp') } as DataHome,
      inspect: () => Promise.resolve({ kind: 'checkpoint' as const, family: 'sd1' }),
    };
    fsState.freeBytes = 10 * MB;
    await expect(
      importModelFile(deps, { path: file, file, source: 'file', origin: file, tmp: tmpFile }),
    ).rejects.toMatchObject({ code: 'DATA_HOME_UNAVAILABLE', message: expect.stringContaining('Not enough free') });
    expect(existsSync(tmpFile)).toBe(false);
    expect(existsSync(path.join(tmp.dir, 'models'))).toBe(false);
  });
});
