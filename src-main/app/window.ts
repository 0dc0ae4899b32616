/**
 * The main window: sandboxed, context-isolated, loading only our own origin. Navigation
 * elsewhere is blocked, new windows are denied (https links open in the system browser),
 * and its session refuses every permission (see hardenSession).
 */
import { BrowserWindow, shell, type WebContents } from 'electron';
import { APP_ENTRY_URL, hardenSession, isAppUrl } from './security';

/** The webPreferences of every window; exported so tests can hold them to account. */
export function secureWebPreferences(preloadPath: string): Electron.WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    spellcheck: false,
  };
}

/** True only for https URLs, the one kind we hand to the system browser. */
export function isExternalHttps(url: string): boolean {
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}

/** Keeps a WebContents on our origin: no navigation away, no popups, no webviews. */
export function guardContents(contents: WebContents): void {
  const stayHome = (event: { url: string; preventDefault(): void }): void => {
    if (!isAppUrl(event.url)) event.preventDefault();
  };
  contents.on('will-navigate', stayHome);
  contents.on('will-frame-navigate', stayHome);
  contents.on('will-redirect', stayHome);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isExternalHttps(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

/** Creates the main window, hardens its session and loads the renderer entry. */
export function createMainWindow(options: { preloadPath: string }): BrowserWindow {
  const window = new BrowserWindow({
    width: 1400,
    height: 900,
    minWidth: 900,
    minHeight: 600,
    title: 'Pinhole Studio',
    backgroundColor: '#141414',
    // Shown once painted, so the user never sees a white flash.
    show: false,
    webPreferences: secureWebPreferences(options.preloadPath),
  });
  hardenSession(window.webContents.session);
  guardContents(window.webContents);
  window.once('ready-to-show', () => window.show());
  window.loadURL(APP_ENTRY_URL).catch((error: unknown) => console.error('Could not load the renderer', error));
  return window;
}
