/**
 * The desktop app's lifecycle, separate from the entry file so tests can drive it with a
 * fake studio: single-instance lock, privileged schemes before ready, then studio, protocols,
 * IPC, window and updater on ready; the studio is disposed before the process exits.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, dialog, safeStorage, type BrowserWindow } from 'electron';
import type { EngineLauncher } from '../engine';
import { utilityProcessLauncher } from './engine-launcher';
import { registerIpc, type IpcStudio } from './ipc';
import { handleProtocols, registerPrivilegedSchemes, type MediaSource } from './protocol';
import { createDesktopTokenStore, type KeychainTokenStore } from './token-store';
import { loadElectronUpdater, startUpdater } from './updater';
import { createMainWindow } from './window';

/** What the shell needs from `createStudio` (src-main/studio). */
export type DesktopStudio = IpcStudio & MediaSource & { dispose(): Promise<void> };
export type StudioFactory = (options: {
  dataDir: string;
  mode: 'desktop';
  version: string;
  engineLauncher: (env: NodeJS.ProcessEnv) => EngineLauncher;
  /** Download access tokens, kept encrypted with the OS keychain (Electron `safeStorage`). */
  tokenStore: KeychainTokenStore;
}) => DesktopStudio;

/** Where the built renderer and preload live. */
export type AppPaths = { rendererDir: string; preloadPath: string; engineEntry: string };

/** Delay before the update check, so it never competes with startup. */
const UPDATE_CHECK_DELAY_MS = 5_000;

/** Paths of the build output, given the URL of the bundled main (dist/main/app/main.js). */
export function builtPaths(mainModuleUrl: string): AppPaths {
  const here = path.dirname(fileURLToPath(mainModuleUrl));
  return {
    rendererDir: path.resolve(here, '../../renderer'),
    preloadPath: path.join(here, 'preload.cjs'),
    engineEntry: path.resolve(here, '../engine/host.js'),
  };
}

/** Runs the app. Returns false (after asking to quit) when another instance already runs. */
export function runApp(options: { createStudio: StudioFactory; paths: AppPaths }): boolean {
  // Privileges are frozen at ready: this must happen first, synchronously.
  registerPrivilegedSchemes();
  if (!app.requestSingleInstanceLock()) {
    // The first instance gets 'second-instance' and comes to the front; we just leave.
    app.quit();
    return false;
  }

  let studio: DesktopStudio | null = null;
  let window: BrowserWindow | null = null;
  let stopIpc: (() => void) | null = null;
  let disposing = false;

  const openWindow = (): void => {
    const created = createMainWindow({ preloadPath: options.paths.preloadPath });
    created.on('closed', () => {
      if (window === created) window = null;
    });
    window = created;
  };

  app.on('second-instance', () => {
    if (!window) {
      if (studio) openWindow();
      return;
    }
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (studio && !window) openWindow();
  });
  app.on('will-quit', (event) => {
    if (!studio || disposing) return;
    // Hold the exit until the studio has closed its database and stopped its workers.
    event.preventDefault();
    disposing = true;
    stopIpc?.();
    studio
      .dispose()
      .catch((error: unknown) => console.error('Studio dispose failed', error))
      .finally(() => app.quit());
  });

  app
    .whenReady()
    .then(() => {
      const ready = options.createStudio({
        dataDir: app.getPath('userData'),
        mode: 'desktop',
        version: app.getVersion(),
        engineLauncher: (env) => utilityProcessLauncher(options.paths.engineEntry, env),
        tokenStore: createDesktopTokenStore(safeStorage, app.getPath('userData')),
      });
      studio = ready;
      handleProtocols({ rendererDir: options.paths.rendererDir, studio: ready });
      stopIpc = registerIpc(ready, () => window);
      openWindow();
      setTimeout(() => {
        void startUpdater({
          loadAutoUpdater: loadElectronUpdater,
          env: process.env,
          isPackaged: app.isPackaged,
          hasPublishConfig: () => existsSync(path.join(process.resourcesPath, 'app-update.yml')),
        });
      }, UPDATE_CHECK_DELAY_MS);
    })
    .catch((error: unknown) => {
      // e.g. DATA_HOME_TOO_NEW: tell the user why instead of dying silently.
      dialog.showErrorBox('Pinhole Studio could not start', error instanceof Error ? error.message : String(error));
      app.exit(1);
    });
  return true;
}
