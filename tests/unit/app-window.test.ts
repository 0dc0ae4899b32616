import { beforeEach, describe, expect, it, vi } from 'vitest';

type Listener = (...args: unknown[]) => unknown;

const fakes = vi.hoisted(() => {
  class FakeContents {
    listeners = new Map<string, Listener[]>();
    openHandler: Listener | undefined;
    session = {
      webRequest: { onHeadersReceived: vi.fn() },
      setPermissionRequestHandler: vi.fn(),
      setPermissionCheckHandler: vi.fn(),
    };
    on(name: string, listener: Listener) {
      this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
      return this;
    }
    setWindowOpenHandler(handler: Listener) {
      this.openHandler = handler;
    }
    emit(name: string, ...args: unknown[]) {
      for (const listener of this.listeners.get(name) ?? []) listener(...args);
    }
  }
  const windows: FakeWindow[] = [];
  class FakeWindow {
    webContents = new FakeContents();
    events = new Map<string, Listener>();
    loadURL = vi.fn(async (_url: string) => undefined);
    show = vi.fn();
    constructor(readonly options: { webPreferences: Record<string, unknown> } & Record<string, unknown>) {
      windows.push(this);
    }
    once(name: string, listener: Listener) {
      this.events.set(name, listener);
      return this;
    }
  }
  return { FakeWindow, windows, openExternal: vi.fn(async (_url: string) => undefined) };
});

vi.mock('electron', () => ({ BrowserWindow: fakes.FakeWindow, shell: { openExternal: fakes.openExternal } }));

import { createMainWindow, isExternalHttps } from '../../src-main/app/window';

function open() {
  createMainWindow({ preloadPath: '/opt/pinhole/dist/main/app/preload.cjs' });
  return fakes.windows.at(-1)!;
}

function navigationEvent(url: string) {
  return { url, preventDefault: vi.fn() };
}

describe('createMainWindow', () => {
  beforeEach(() => {
    fakes.windows.length = 0;
    fakes.openExternal.mockClear();
  });

  it('creates a sandboxed, context-isolated window with the built preload', () => {
    const { webPreferences, show } = open().options;
    expect(webPreferences).toMatchObject({
      preload: '/opt/pinhole/dist/main/app/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
    expect(show).toBe(false);
  });

  it('loads the renderer from the app protocol and shows when painted', () => {
    const window = open();
    expect(window.loadURL).toHaveBeenCalledWith('pinhole-app://app/index.html');
    expect(window.show).not.toHaveBeenCalled();
    window.events.get('ready-to-show')!();
    expect(window.show).toHaveBeenCalled();
  });

  it('hardens the session: CSP hook and no permissions', () => {
    const { session } = open().webContents;
    expect(session.webRequest.onHeadersReceived).toHaveBeenCalled();
    const callback = vi.fn();
    (session.setPermissionRequestHandler.mock.calls[0]![0] as Listener)({}, 'media', callback);
    expect(callback).toHaveBeenCalledWith(false);
  });

  it.each(['will-navigate', 'will-frame-navigate', 'will-redirect'])('%s stays on the app origin', (name) => {
    const contents = open().webContents;
    for (const url of ['https://evil.example/', 'file:///etc/passwd', 'pinhole-app://evil/', 'devtools://devtools/x']) {
      const event = navigationEvent(url);
      contents.emit(name, event, url);
      expect(event.preventDefault).toHaveBeenCalled();
    }
    const home = navigationEvent('pinhole-app://app/gallery');
    contents.emit(name, home, home.url);
    expect(home.preventDefault).not.toHaveBeenCalled();
  });

  it('refuses webviews', () => {
    const contents = open().webContents;
    const event = { preventDefault: vi.fn() };
    contents.emit('will-attach-webview', event, {}, {});
    expect(event.preventDefault).toHaveBeenCalled();
  });

  it('denies every new window, opening only https links in the system browser', () => {
    const contents = open().webContents;
    for (const url of [
      'https://example.com/docs',
      'http://example.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'pinhole-app://app/x',
      'smb://host/share',
    ]) {
      expect(contents.openHandler!({ url })).toEqual({ action: 'deny' });
    }
    expect(fakes.openExternal).toHaveBeenCalledTimes(1);
    expect(fakes.openExternal).toHaveBeenCalledWith('https://example.com/docs');
  });

  it('recognises https only', () => {
    expect(isExternalHttps('https://x.example')).toBe(true);
    expect(isExternalHttps('HTTPS://x.example')).toBe(true);
    expect(isExternalHttps('http://x.example')).toBe(false);
    expect(isExternalHttps('not a url')).toBe(false);
  });
});
