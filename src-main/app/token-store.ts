/**
 * The desktop app's access tokens, encrypted with Electron's safeStorage (the OS keychain:
 * Keychain on macOS, DPAPI on Windows, libsecret/kwallet on Linux). Only ciphertext reaches
 * the disk; where safeStorage has no real keychain (unavailable, or Linux's `basic_text`
 * fallback) a token is refused rather than stored weakly. A token in PINHOLE_HF_TOKEN is
 * honoured too, and never written anywhere.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SafeStorage } from 'electron';
import { PinholeError } from '../../src-shared/errors';
import { HF_HOSTS, HF_TOKEN_ENV, normalizeTokenHost, type TokenSource, type TokenStore } from '../studio';

/** The part of Electron's safeStorage used here (a fake stands in for tests). */
export type SafeStorageLike = Pick<SafeStorage, 'isEncryptionAvailable' | 'encryptString' | 'decryptString'> & {
  getSelectedStorageBackend?: () => string;
};

export type KeychainTokenStoreOptions = {
  safeStorage: SafeStorageLike;
  /** The file holding the encrypted tokens, e.g. `<userData>/access-tokens.json`. */
  file: string;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
};

/** host → base64 ciphertext. */
type StoredTokens = Record<string, string>;

export class KeychainTokenStore implements TokenStore {
  private readonly safeStorage: SafeStorageLike;
  private readonly file: string;
  private readonly envTokens = new Map<string, string>();
  private readonly platform: NodeJS.Platform;

  constructor(options: KeychainTokenStoreOptions) {
    this.safeStorage = options.safeStorage;
    this.file = options.file;
    this.platform = options.platform ?? process.platform;
    const hf = (options.env ?? process.env)[HF_TOKEN_ENV]?.trim();
    if (hf) for (const host of HF_HOSTS) this.envTokens.set(host, hf);
  }

  // Each method runs inside a Promise executor so a failure (no keychain, an unreadable file)
  // arrives as a rejection, like every other store's.
  get(host: string): Promise<string | null> {
    return new Promise((resolve) => {
      const key = normalizeTokenHost(host);
      const sealed = this.read()[key];
      if (sealed !== undefined && this.safeStorage.isEncryptionAvailable()) {
        try {
          return resolve(this.safeStorage.decryptString(Buffer.from(sealed, 'base64')));
        } catch {
          // Sealed by another OS user or keychain: unusable here; fall through to the environment.
        }
      }
      resolve(this.envTokens.get(key) ?? null);
    });
  }

  set(host: string, token: string): Promise<void> {
    return new Promise((resolve) => {
      this.assertKeychain();
      const stored = this.read();
      stored[normalizeTokenHost(host)] = this.safeStorage.encryptString(token).toString('base64');
      this.write(stored);
      resolve();
    });
  }

  delete(host: string): Promise<boolean> {
    return new Promise((resolve) => {
      const stored = this.read();
      const key = normalizeTokenHost(host);
      if (!(key in stored)) return resolve(false);
      delete stored[key];
      this.write(stored);
      resolve(true);
    });
  }

  list(): Promise<{ host: string; source: TokenSource }[]> {
    return new Promise((resolve) => {
      const hosts = new Map<string, TokenSource>();
      for (const host of this.envTokens.keys()) hosts.set(host, 'environment');
      for (const host of Object.keys(this.read())) hosts.set(host, 'keychain');
      resolve([...hosts].map(([host, source]) => ({ host, source })));
    });
  }

  private assertKeychain(): void {
    if (!this.safeStorage.isEncryptionAvailable()) {
      throw new PinholeError(
        'UNAVAILABLE',
        'The system keychain is not available, so the token was not saved. Set PINHOLE_HF_TOKEN instead.',
      );
    }
    // On Linux without a secret service, safeStorage falls back to a hard-coded key: not a keychain.
    if (this.platform === 'linux' && this.safeStorage.getSelectedStorageBackend?.() === 'basic_text') {
      throw new PinholeError(
        'UNAVAILABLE',
        'No secret service (GNOME Keyring or KWallet) is running, so the token was not saved. ' +
          'Start one, or set PINHOLE_HF_TOKEN instead.',
      );
    }
  }

  private read(): StoredTokens {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
      return Object.fromEntries(
        Object.entries(parsed as Record<string, unknown>).filter(
          (e): e is [string, string] => typeof e[1] === 'string',
        ),
      );
    } catch {
      // A damaged file holds nothing usable; the next set rewrites it.
      return {};
    }
  }

  /** Atomic replace, readable by this user only. */
  private write(stored: StoredTokens): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(stored), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/**
 * The desktop store: `createDesktopTokenStore(safeStorage, app.getPath('userData'))`, after the
 * app is ready (safeStorage needs it on Linux), passed to `createStudio` as `tokenStore`.
 */
export function createDesktopTokenStore(safeStorage: SafeStorageLike, userDataDir: string): KeychainTokenStore {
  return new KeychainTokenStore({ safeStorage, file: path.join(userDataDir, 'access-tokens.json') });
}
