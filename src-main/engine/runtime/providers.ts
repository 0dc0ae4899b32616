import { existsSync, readdirSync } from 'node:fs';
import { PinholeError } from '../../../src-shared/errors';
import { PROBE_EXPECTED, PROBE_INPUT_A, PROBE_INPUT_B, probeModelBytes } from './probe-model';
import type { ExecutionProviderName, InferenceBackend } from './types';

/**
 * Choosing the execution provider: the platform's providers in order of preference, each probed by creating
 * and running a tiny model, the first that works wins. A provider being listed by onnxruntime-node does not mean
 * it loads (CUDA needs its libraries, WebGPU an adapter), so only a real session tells.
 */

/** Providers in order of preference per platform; the CPU always closes the list. */
export const PROVIDER_PREFERENCE: Readonly<Record<string, readonly ExecutionProviderName[]>> = {
  linux: ['cuda', 'webgpu', 'cpu'],
  win32: ['cuda', 'dml', 'webgpu', 'cpu'],
  darwin: ['coreml', 'webgpu', 'cpu'],
};

const ALL_PROVIDERS: readonly ExecutionProviderName[] = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'];

/** The environment variable that forces a provider (`cpu`, `cuda`, `dml`, `coreml`, `webgpu`; `auto` = probe). */
export const PROVIDER_ENV = 'PINHOLE_EP';

/** One provider tried during selection. */
export interface ProviderAttempt {
  readonly provider: ExecutionProviderName;
  readonly ok: boolean;
  /** Why it was skipped (absent when it worked). */
  readonly reason?: string;
  readonly millis: number;
}

/** The outcome of selection: the provider sessions will use and why the better ones were passed over. */
export interface ProviderSelection {
  readonly provider: ExecutionProviderName;
  /** Whether it was forced by option or `PINHOLE_EP` rather than chosen by probing. */
  readonly forced: boolean;
  readonly platform: string;
  /** Every provider tried, in order, the chosen one last. */
  readonly attempts: readonly ProviderAttempt[];
}

export interface SelectProviderOptions {
  /** Defaults to `process.platform`. */
  readonly platform?: string;
  /** A provider to use instead of probing the list; defaults to `process.env.PINHOLE_EP`. `auto` or empty = probe. */
  readonly force?: string | undefined;
  /** For tests: whether the machine has a GPU device (default: `hasGpuDevice`). */
  readonly gpuDevicePresent?: (platform: string) => boolean;
}

/**
 * Whether a Linux machine has a GPU device node: a DRM render node, NVIDIA's device, or WSL's `/dev/dxg`. Without
 * one, a WebGPU adapter that loads is a software rasterizer (Mesa's lavapipe), which runs ORT's WebGPU kernels on
 * the CPU far slower than ORT's own CPU provider. Other platforms: assumed (their WebGPU needs a real adapter).
 */
export function hasGpuDevice(platform: string = process.platform): boolean {
  if (platform !== 'linux') return true;
  if (existsSync('/dev/nvidia0') || existsSync('/dev/dxg')) return true;
  try {
    return readdirSync('/dev/dri').some((name) => name.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** The preference list for a platform (CPU only on platforms onnxruntime-node has no GPU provider for). */
export function providerPreference(platform: string = process.platform): readonly ExecutionProviderName[] {
  return PROVIDER_PREFERENCE[platform] ?? ['cpu'];
}

/**
 * Parses a provider name as a user writes it (case-insensitive; `directml` for `dml`). Undefined for
 * `auto` or an empty value.
 * @throws PinholeError `INVALID_PARAMS` for an unknown name.
 */
export function parseProviderName(value: string | undefined): ExecutionProviderName | undefined {
  const name = value?.trim().toLowerCase();
  if (!name || name === 'auto') return undefined;
  const canonical = name === 'directml' ? 'dml' : name;
  const found = ALL_PROVIDERS.find((p) => p === canonical);
  if (!found) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `Unknown execution provider "${value}" (${PROVIDER_ENV}); expected auto, ${ALL_PROVIDERS.join(', ')}`,
    );
  }
  return found;
}

/**
 * Creates a session for the probe model on `provider` and runs it, checking the answer (a provider that creates
 * sessions but computes garbage is as unusable as one that fails). Rejects with the reason.
 */
export async function probeProvider(backend: InferenceBackend, provider: ExecutionProviderName): Promise<void> {
  const session = await backend.createSession(probeModelBytes(), { executionProvider: provider });
  try {
    const out = await session.run({
      a: { type: 'float32', data: PROBE_INPUT_A, dims: [4] },
      b: { type: 'float32', data: PROBE_INPUT_B, dims: [4] },
    });
    const c = out['c'];
    const values = c?.data;
    if (!(values instanceof Float32Array) || values.some((v, i) => v !== PROBE_EXPECTED[i])) {
      throw new Error('the probe model computed a wrong result');
    }
  } finally {
    await session.release();
  }
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // ORT prefixes messages with a source location and the failed check; the explanation follows the check.
  const line = message
    .split('\n')[0]!
    .trim()
    .replace(/^\/\S+:\d+\s+/, '');
  const afterCheck = line.split(' was false. ')[1];
  return (afterCheck ?? line) || 'unknown error';
}

async function attempt(
  backend: InferenceBackend,
  provider: ExecutionProviderName,
  platform: string,
): Promise<ProviderAttempt> {
  const start = performance.now();
  if (provider !== 'cpu' && !backend.listProviders().includes(provider)) {
    return { provider, ok: false, reason: `not built into onnxruntime-node for ${platform}`, millis: 0 };
  }
  try {
    await probeProvider(backend, provider);
    return { provider, ok: true, millis: performance.now() - start };
  } catch (error) {
    return { provider, ok: false, reason: reasonOf(error), millis: performance.now() - start };
  }
}

/**
 * Picks the execution provider. Forced (option or `PINHOLE_EP`): that provider or an error, never a silent
 * fallback, since forcing means the user wants to know. Otherwise the platform's list in order; the CPU is
 * probed like the others, so a broken installation surfaces here with its reason.
 * @throws PinholeError `INVALID_PARAMS` for an unknown forced name; `UNAVAILABLE` when the forced provider or
 *   every provider fails, with each provider's reason in the message.
 */
export async function selectExecutionProvider(
  backend: InferenceBackend,
  options: SelectProviderOptions = {},
): Promise<ProviderSelection> {
  const platform = options.platform ?? process.platform;
  const forced = parseProviderName('force' in options ? options.force : process.env[PROVIDER_ENV]);
  const candidates = forced ? [forced] : providerPreference(platform);
  const attempts: ProviderAttempt[] = [];
  const gpuDevicePresent = options.gpuDevicePresent ?? hasGpuDevice;
  for (const provider of candidates) {
    let result = await attempt(backend, provider, platform);
    if (result.ok && !forced && provider === 'webgpu' && !gpuDevicePresent(platform)) {
      // It works, but on a software adapter: slower than the CPU provider, so only used when forced.
      result = {
        ...result,
        ok: false,
        reason: `only a software adapter (no GPU device on this machine); ${PROVIDER_ENV}=webgpu forces it`,
      };
    }
    attempts.push(result);
    if (result.ok) return { provider, forced: forced !== undefined, platform, attempts };
  }
  const reasons = attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ');
  throw new PinholeError(
    'UNAVAILABLE',
    forced
      ? `The execution provider "${forced}" was forced (${PROVIDER_ENV} or settings) but cannot run here: ${reasons}`
      : `No execution provider can run models on this machine: ${reasons}`,
  );
}

/** A one-line summary for logs: `cpu (cuda: …; webgpu: …)`. */
export function describeSelection(selection: ProviderSelection): string {
  const skipped = selection.attempts.filter((a) => !a.ok).map((a) => `${a.provider}: ${a.reason}`);
  const how = selection.forced ? 'forced' : 'probed';
  return `${selection.provider} (${how}${skipped.length ? `; skipped ${skipped.join('; ')}` : ''})`;
}
