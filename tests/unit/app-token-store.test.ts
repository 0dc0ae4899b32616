import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeychainTokenStore, type SafeStorageLike } from '../../src-main/app/token-store';
import { makeTempDir } from '../helpers/temp-dir';

/** Stands in for Electron's safeStorage: a reversible scramble, so the test can tell ciphertext from the token. */
function fakeSafeStorage(options: { available?: boolean; backend?: string } = {}): SafeStorageLike {
  const scramble = (b: Buffer) => Buffer.from(b.map((x) => x ^ 0x5a));
  return {
    isEncryptionAvailable: () => options.available ?? true,
    encryptString: (text: string) => Buffer.concat([Buffer.from('v10'), scramble(Buffer.from(text, 'utf8'))]),
    decryptString: (data: Buffer) => {
      if (data.subarray(0, 3).toString() !== 'v10') throw new Error('not ours');
      return scramble(data.subarray(3)).toString('utf8');
    },
    getSelectedStorageBackend: () => options.backend ?? 'gnome_libsecret',
  };
}

let temp: ReturnType<typeof makeTempDir>;
let file: string;
beforeEach(() => {
  temp = makeTempDir('pinhole-tokens-');
  file = path.join(temp.dir, 'access-tokens.json');
});
afterEach(() => temp.cleanup());

describe('KeychainTokenStore', () => {
  it('stores only ciphertext, readable by this user only, and reads it back', async () => {
    const store = new KeychainTokenStore({ safeStorage: fakeSafeStorage(), file, env: {}, platform: 'linux' });
    await store.set('HuggingFace.co', 'hf_secret_token');
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('hf_secret_token');
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['huggingface.co']);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    // A new instance (the next app start) decrypts it.
    const again = new KeychainTokenStore({ safeStorage: fakeSafeStorage(), file, env: {}, platform: 'linux' });
    expect(await again.get('huggingface.co')).toBe('hf_secret_token');
    expect(await again.get('hf.co')).toBeNull();
    expect(await again.list()).toEqual([{ host: 'huggingface.co', source: 'keychain' }]);
    expect(await again.delete('huggingface.co')).toBe(true);
    expect(await again.get('huggingface.co')).toBeNull();
    expect(await again.delete('huggingface.co')).toBe(false);
  });

  it('refuses to store a token without a real keychain', async () => {
    const unavailable = new KeychainTokenStore({
      safeStorage: fakeSafeStorage({ available: false }),
      file,
      env: {},
      platform: 'darwin',
    });
    await expect(unavailable.set('huggingface.co', 't')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const basicText = new KeychainTokenStore({
      safeStorage: fakeSafeStorage({ backend: 'basic_text' }),
      file,
      env: {},
      platform: 'linux',
    });
    await expect(basicText.set('huggingface.co', 't')).rejects.toThrow(/secret service/);
    expect(() => statSync(file)).toThrow();
  });

  it('honours PINHOLE_HF_TOKEN without writing it, a stored token winning', async () => {
    const store = new KeychainTokenStore({
      safeStorage: fakeSafeStorage(),
      file,
      env: { PINHOLE_HF_TOKEN: 'from-env' },
      platform: 'linux',
    });
    expect(await store.get('hf.co')).toBe('from-env');
    expect(() => statSync(file)).toThrow();
    await store.set('hf.co', 'stored');
    expect(await store.get('hf.co')).toBe('stored');
    expect(readFileSync(file, 'utf8')).not.toContain('from-env');
  });

  it('treats a damaged file as empty and a token sealed elsewhere as absent', async () => {
    const store = new KeychainTokenStore({ safeStorage: fakeSafeStorage(), file, env: {}, platform: 'linux' });
    await store.set('civitai.com', 'tok');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, JSON.stringify({ 'civitai.com': Buffer.from('garbage').toString('base64') }));
    expect(await store.get('civitai.com')).toBeNull();
    writeFileSync(file, '{not json');
    expect(await store.list()).toEqual([]);
  });
});
