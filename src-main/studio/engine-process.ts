/**
 * The studio's engine process: launched on first use with the environment it needs (the graph cache in the data
 * home, the execution provider the user chose on the Settings page), asked once per process which provider it
 * runs on, and restarted when the user picks another provider. The environment's `PINHOLE_EP` wins over the
 * setting, so a script or a test that forces a provider is never overridden by a stored preference.
 */
import path from 'node:path';
import type { ResultOf } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import { defaultHostEntry, EngineClient, forkLauncher, precisionForProvider, type EngineLauncher } from '../engine';
import type { DataHome } from '../platform/data-home';
import type { SettingsStore } from '../storage/settings-store';

export type EngineInfoView = ResultOf<'engine.info'>;

export interface EngineProcessOptions {
  readonly home: DataHome;
  readonly settings: SettingsStore;
  /** How to start the engine process with a given environment (Electron passes a utility-process launcher). */
  readonly launcher?: ((env: NodeJS.ProcessEnv) => EngineLauncher) | undefined;
  /** The engine host entry for the default launcher. */
  readonly entry?: string | undefined;
  /** The environment the studio runs in (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

const PROVIDER_ENV = 'PINHOLE_EP';

export class EngineProcess {
  private current: EngineClient | null = null;
  private info: Promise<EngineInfoView> | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: EngineProcessOptions) {
    this.env = options.env ?? process.env;
  }

  /** What decides the provider of the next engine process. */
  private source(): EngineInfoView['source'] {
    const forced = this.env[PROVIDER_ENV];
    if (forced !== undefined && forced !== '' && forced !== 'auto') return 'environment';
    return this.options.settings.read().executionProvider === 'auto' ? 'probe' : 'setting';
  }

  /** The client of the running engine process, or of the one the next request starts. */
  client(): EngineClient {
    if (this.current) return this.current;
    const setting = this.options.settings.read().executionProvider;
    const env: NodeJS.ProcessEnv = {
      ...this.env,
      // Graphs the engine builds from weights are cached in the data home (unless the environment names a cache).
      PINHOLE_ENGINE_CACHE: this.env['PINHOLE_ENGINE_CACHE'] ?? path.join(this.options.home.cache, 'engine'),
      ...(this.source() === 'setting' ? { [PROVIDER_ENV]: setting } : {}),
    };
    const launcher = this.options.launcher
      ? this.options.launcher(env)
      : forkLauncher(this.options.entry ?? defaultHostEntry(), { env });
    this.current = new EngineClient({ launcher });
    this.info = undefined;
    return this.current;
  }

  /**
   * The engine's provider, why others were skipped, and the weight precision conversions use for it (float16 on
   * GPU providers). Asked of the engine once per process: the same environment picks the same provider.
   */
  engineInfo(): Promise<EngineInfoView> {
    const client = this.client();
    this.info ??= (async () => {
      const { provider } = await client.info();
      return {
        provider: provider.provider,
        forced: provider.forced,
        source: this.source(),
        weightPrecision: precisionForProvider(provider.provider),
        attempts: provider.attempts.map((a) => ({
          provider: a.provider,
          ok: a.ok,
          ...(a.reason !== undefined ? { reason: a.reason } : {}),
        })),
      };
    })();
    const asked = this.info;
    asked.catch(() => {
      if (this.info === asked) this.info = undefined;
    });
    return asked;
  }

  /**
   * Stops the engine process so that the next request starts one with the current settings.
   * @throws PinholeError `CONFLICT` when `busy` says a GPU job is running (it would be cut off).
   */
  async restart(busy: boolean): Promise<void> {
    if (busy) {
      throw new PinholeError(
        'CONFLICT',
        'A generation or training job is running on the engine: wait for it to finish (or cancel it), then switch.',
      );
    }
    const old = this.current;
    this.current = null;
    this.info = undefined;
    await old?.dispose();
  }

  /** Stops the engine process for good. */
  async dispose(): Promise<void> {
    const old = this.current;
    this.current = null;
    await old?.dispose();
  }
}
