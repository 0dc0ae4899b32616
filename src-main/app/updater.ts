/**
 * Auto-update check through electron-updater, off unless it can only mean a real release:
 * the app is packaged, PINHOLE_DISABLE_UPDATES is not 1, and a feed exists (PINHOLE_UPDATE_URL,
 * else the app-update.yml electron-builder writes from its `publish` config). When off,
 * electron-updater is not even loaded, so dev runs and tests make no network call.
 * Updates are never downloaded automatically; results are only logged for now.
 */

/** The slice of electron-updater's AppUpdater used here (a fake stands in for tests). */
export type UpdaterLike = {
  autoDownload: boolean;
  logger: unknown;
  setFeedURL(options: { provider: 'generic'; url: string }): void;
  checkForUpdates(): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
};

export type UpdaterLog = Pick<Console, 'info' | 'warn' | 'error'>;

export type UpdaterDeps = {
  /** Loads the updater; called only when updates are enabled. */
  loadAutoUpdater: () => Promise<UpdaterLike>;
  env: Readonly<Record<string, string | undefined>>;
  isPackaged: boolean;
  /** Whether the packaged app carries electron-builder's publish config (app-update.yml). */
  hasPublishConfig: () => boolean;
  log?: UpdaterLog;
};

export type UpdaterDecision = { enabled: false; reason: string } | { enabled: true; feedUrl: string | null };

/** Decides whether to check for updates, and against which feed (null: the built-in one). */
export function decideUpdates(deps: Omit<UpdaterDeps, 'loadAutoUpdater' | 'log'>): UpdaterDecision {
  if (!deps.isPackaged) return { enabled: false, reason: 'not packaged (development build)' };
  if (deps.env['PINHOLE_DISABLE_UPDATES'] === '1') return { enabled: false, reason: 'PINHOLE_DISABLE_UPDATES=1' };
  const override = deps.env['PINHOLE_UPDATE_URL']?.trim();
  if (override) {
    let url: URL;
    try {
      url = new URL(override);
    } catch {
      return { enabled: false, reason: `PINHOLE_UPDATE_URL is not a URL: ${override}` };
    }
    // Update metadata carries the checksums: only https, or plain http to this machine for testing.
    const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1';
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
      return { enabled: false, reason: `PINHOLE_UPDATE_URL must be https: ${override}` };
    }
    return { enabled: true, feedUrl: url.toString() };
  }
  if (deps.hasPublishConfig()) return { enabled: true, feedUrl: null };
  return { enabled: false, reason: 'no update feed configured' };
}

/** Checks once for an update when enabled; never throws (a failed check is only logged). */
export async function startUpdater(deps: UpdaterDeps): Promise<UpdaterDecision> {
  const log = deps.log ?? console;
  const decision = decideUpdates(deps);
  if (!decision.enabled) {
    log.info(`[updater] disabled: ${decision.reason}`);
    return decision;
  }
  try {
    const updater = await deps.loadAutoUpdater();
    updater.autoDownload = false;
    updater.logger = log;
    if (decision.feedUrl) updater.setFeedURL({ provider: 'generic', url: decision.feedUrl });
    updater.on('update-available', (info) => log.info(`[updater] update available: ${versionOf(info)}`));
    updater.on('update-not-available', () => log.info('[updater] up to date'));
    updater.on('error', (error) => log.warn('[updater] error', error));
    await updater.checkForUpdates();
  } catch (error) {
    log.warn('[updater] check failed', error);
  }
  return decision;
}

function versionOf(info: unknown): string {
  const version = (info as { version?: unknown } | null)?.version;
  return typeof version === 'string' ? version : 'unknown version';
}

/**
 * The real electron-updater. Loaded lazily (it requires 'electron' and probes the install
 * on load); reads both the ESM namespace and the CJS default because its `autoUpdater`
 * is a lazy getter that ESM named-export detection cannot see.
 */
export async function loadElectronUpdater(): Promise<UpdaterLike> {
  const loaded = (await import('electron-updater')) as unknown as {
    autoUpdater?: UpdaterLike;
    default?: { autoUpdater?: UpdaterLike };
  };
  const updater = loaded.default?.autoUpdater ?? loaded.autoUpdater;
  if (!updater) throw new Error('electron-updater has no autoUpdater');
  return updater;
}
