import path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

type Listener = (...args: unknown[]) => unknown;

const fakes = vi.hoisted(() => {
  const state = {
    gotLock: true,
    ready: Promise.resolve<void>(undefined),
    listeners: new Map<string, Listener>(),
    calls: [] as string[],
  };
  const app = {
    requestSingleInstanceLock: vi.fn(() => {
      state.calls.push('lock');
      return state.gotLock;
    }),
    quit: vi.fn(),
    exit: vi.fn(),
    on: vi.fn((name: string, listener: Listener) => state.listeners.set(name, listener)),
    whenReady: vi.fn(() => state.ready),
    getPath: vi.fn((name: string) => `/home/me/.config/Pinhole Studio#${name}`),
    getVersion: () => '1.2.3',
    isPackaged: false,
  };
  const window = {
    on: vi.fn(),
    isMinimized: vi.fn(() => true),
    restore: vi.fn(),
    focus: vi.fn(),
  };
  return {
    state,
    app,
    window,
    showErrorBox: vi.fn(),
    registerPrivilegedSchemes: vi.fn(() => state.calls.push('schemes')),
    handleProtocols: vi.fn(),
    registerIpc: vi.fn(() => vi.fn()),
    createMainWindow: vi.fn(() => window),
    startUpdater: vi.fn(),
  };
});

vi.mock('electron', () => ({
  app: fakes.app,
  dialog: { showErrorBox: fakes.showErrorBox },
  safeStorage: { isEncryptionAvailable: () => true, encryptString: vi.fn(), decryptString: vi.fn() },
}));
vi.mock('../../src-main/app/protocol', () => ({
  registerPrivilegedSchemes: fakes.registerPrivilegedSchemes,
  handleProtocols: fakes.handleProtocols,
}));
vi.mock('../../src-main/app/ipc', () => ({ registerIpc: fakes.registerIpc }));
vi.mock('../../src-main/app/window', () => ({ createMainWindow: fakes.createMainWindow }));
vi.mock('../../src-main/app/updater', () => ({ startUpdater: fakes.startUpdater, loadElectronUpdater: vi.fn() }));

import { builtPaths, runApp, type DesktopStudio } from '../../src-main/app/lifecycle';
import { KeychainTokenStore } from '../../src-main/app/token-store';

const paths = {
  rendererDir: '/opt/pinhole/dist/renderer',
  preloadPath: '/opt/pinhole/dist/main/app/preload.cjs',
  engineEntry: '/opt/pinhole/dist/main/engine/host.js',
};

function fakeStudio() {
  return {
    api: {},
    onEvent: () => () => undefined,
    mediaFile: () => null,
    dispose: vi.fn(async () => undefined),
  } as unknown as DesktopStudio & { dispose: ReturnType<typeof vi.fn> };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('runApp', () => {
  beforeEach(() => {
    vi.clearAllMocks();
    fakes.state.gotLock = true;
    fakes.state.ready = Promise.resolve();
    fakes.state.listeners.clear();
    fakes.state.calls.length = 0;
  });

  it('quits at once, starting nothing, when another instance holds the lock', async () => {
    fakes.state.gotLock = false;
    const createStudio = vi.fn();
    expect(runApp({ createStudio, paths })).toBe(false);
    await flush();
    expect(fakes.app.quit).toHaveBeenCalledOnce();
    expect(fakes.app.whenReady).not.toHaveBeenCalled();
    expect(fakes.app.on).not.toHaveBeenCalled();
    expect(createStudio).not.toHaveBeenCalled();
    expect(fakes.createMainWindow).not.toHaveBeenCalled();
  });

  it('registers the privileged schemes before anything else', () => {
    runApp({ createStudio: vi.fn(fakeStudio), paths });
    expect(fakes.state.calls).toEqual(['schemes', 'lock']);
  });

  it('on ready starts the studio on userData, then protocols, IPC, window and updater', async () => {
    vi.useFakeTimers();
    try {
      const studio = fakeStudio();
      const createStudio = vi.fn(() => studio);
      expect(runApp({ createStudio, paths })).toBe(true);
      await vi.advanceTimersByTimeAsync(0);
      expect(createStudio).toHaveBeenCalledWith({
        dataDir: '/home/me/.config/Pinhole Studio#userData',
        mode: 'desktop',
        version: '1.2.3',
        // The engine runs in a utility process, started from the built host entry.
        engineLauncher: expect.any(Function),
        // Download tokens live in the keychain-backed store beside the user data.
        tokenStore: expect.any(KeychainTokenStore),
      });
      expect(fakes.handleProtocols).toHaveBeenCalledWith({ rendererDir: paths.rendererDir, studio });
      expect(fakes.registerIpc).toHaveBeenCalledWith(studio, expect.any(Function));
      expect(fakes.createMainWindow).toHaveBeenCalledWith({ preloadPath: paths.preloadPath });
      expect(fakes.startUpdater).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(fakes.startUpdater).toHaveBeenCalledWith(expect.objectContaining({ isPackaged: false }));
    } finally {
      vi.useRealTimers();
    }
  });

  it('focuses the existing window when a second instance starts', async () => {
    runApp({ createStudio: vi.fn(fakeStudio), paths });
    await flush();
    fakes.state.listeners.get('second-instance')!({}, [], '/');
    expect(fakes.window.restore).toHaveBeenCalled();
    expect(fakes.window.focus).toHaveBeenCalled();
  });

  it('disposes the studio before letting the app quit', async () => {
    const studio = fakeStudio();
    runApp({ createStudio: () => studio, paths });
    await flush();
    const stopIpc = fakes.registerIpc.mock.results[0]!.value as ReturnType<typeof vi.fn>;
    const willQuit = fakes.state.listeners.get('will-quit')!;

    const first = { preventDefault: vi.fn() };
    willQuit(first);
    expect(first.preventDefault).toHaveBeenCalled();
    expect(stopIpc).toHaveBeenCalled();
    expect(studio.dispose).toHaveBeenCalledOnce();
    await flush();
    expect(fakes.app.quit).toHaveBeenCalledOnce();

    const second = { preventDefault: vi.fn() };
    willQuit(second);
    expect(second.preventDefault).not.toHaveBeenCalled();
    expect(studio.dispose).toHaveBeenCalledOnce();
  });

  it('tells the user and exits when the studio cannot start', async () => {
    runApp({
      createStudio: () => {
        throw new Error('The data home was written by a newer Pinhole');
      },
      paths,
    });
    await flush();
    expect(fakes.showErrorBox).toHaveBeenCalledWith(expect.any(String), 'The data home was written by a newer Pinhole');
    expect(fakes.app.exit).toHaveBeenCalledWith(1);
    expect(fakes.createMainWindow).not.toHaveBeenCalled();
  });
});

describe('builtPaths', () => {
  it('finds the renderer and the CJS preload next to the bundled main', () => {
    const root = path.resolve('/opt/pinhole');
    const main = new URL(`file://${root.split(path.sep).join('/')}/dist/main/app/main.js`).toString();
    expect(builtPaths(main)).toEqual({
      rendererDir: path.join(root, 'dist', 'renderer'),
      preloadPath: path.join(root, 'dist', 'main', 'app', 'preload.cjs'),
      engineEntry: path.join(root, 'dist', 'main', 'engine', 'host.js'),
    });
  });
});
