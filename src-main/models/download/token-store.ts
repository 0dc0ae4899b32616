/**
 * Access tokens for gated downloads (a Hugging Face token), by host. The desktop app keeps them
 * in the OS keychain through Electron's safeStorage (src-main/app/token-store.ts); headless mode
 * takes them from the environment and keeps any set later in memory only. Neither writes a
 * token to disk in plain text, and a token is sent only to the host it belongs to.
 */

export type TokenSource = 'keychain' | 'environment' | 'session';

export interface TokenStore {
  /** The token for exactly this host name, or null. */
  get(host: string): Promise<string | null>;
  set(host: string, token: string): Promise<void>;
  /** Returns whether a token was removed. */
  delete(host: string): Promise<boolean>;
  /** Hosts that have a token, and where each comes from (never the token itself). */
  list(): Promise<{ host: string; source: TokenSource }[]>;
}

/** The environment variable with a Hugging Face token for headless mode and the CLI. */
export const HF_TOKEN_ENV = 'PINHOLE_HF_TOKEN';

/** Hugging Face serves resolve URLs from both names. */
export const HF_HOSTS = ['huggingface.co', 'hf.co'] as const;

/** Normalizes a host the user typed (`https://HF.co/`, `hf.co`) to a lowercase host name. */
export function normalizeTokenHost(input: string): string {
  const trimmed = input.trim().toLowerCase();
  try {
    return new URL(trimmed.includes('://') ? trimmed : `https://${trimmed}`).hostname;
  } catch {
    return trimmed;
  }
}

/** Headless: tokens from the environment, plus any set at run time, kept in memory only. */
export class MemoryTokenStore implements TokenStore {
  private readonly tokens = new Map<string, { token: string; source: TokenSource }>();

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const hf = env[HF_TOKEN_ENV]?.trim();
    if (hf) for (const host of HF_HOSTS) this.tokens.set(host, { token: hf, source: 'environment' });
  }

  get(host: string): Promise<string | null> {
    return Promise.resolve(this.tokens.get(normalizeTokenHost(host))?.token ?? null);
  }

  set(host: string, token: string): Promise<void> {
    this.tokens.set(normalizeTokenHost(host), { token, source: 'session' });
    return Promise.resolve();
  }

  delete(host: string): Promise<boolean> {
    return Promise.resolve(this.tokens.delete(normalizeTokenHost(host)));
  }

  list(): Promise<{ host: string; source: TokenSource }[]> {
    return Promise.resolve([...this.tokens].map(([host, { source }]) => ({ host, source })));
  }
}
