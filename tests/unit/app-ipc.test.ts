import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiHandlers, EventMessage } from '../../src-shared/api/contract';

const electron = vi.hoisted(() => ({
  handlers: new Map<string, (event: unknown, ...args: unknown[]) => unknown>(),
  showOpenDialog: vi.fn(),
  owner: { id: 'owner-window' },
}));

vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, handler: (event: unknown, ...args: unknown[]) => unknown) => {
      if (electron.handlers.has(channel)) throw new Error(`second handler for ${channel}`);
      electron.handlers.set(channel, handler);
    },
    removeHandler: (channel: string) => electron.handlers.delete(channel),
  },
  dialog: { showOpenDialog: electron.showOpenDialog },
  BrowserWindow: { fromWebContents: () => electron.owner },
}));

import { IPC_CHANNELS, registerIpc, type IpcStudio } from '../../src-main/app/ipc';

const trusted = { senderFrame: { url: 'pinhole-app://app/index.html' }, sender: {} };
const INFO = { version: '0.1.0', mode: 'desktop', dataDir: '/data', schemaVersion: 1, platform: 'linux' } as const;

function fakeStudio() {
  const listeners = new Set<(message: EventMessage) => void>();
  const info = vi.fn(() => INFO);
  const studio: IpcStudio = {
    api: { 'app.info': info } as unknown as ApiHandlers,
    onEvent: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return { studio, info, listeners, emit: (m: EventMessage) => listeners.forEach((l) => l(m)) };
}

function fakeWindow(url = 'pinhole-app://app/index.html') {
  return { isDestroyed: () => false, webContents: { getURL: () => url, send: vi.fn() } };
}

const call = (event: unknown, method: unknown, params?: unknown) =>
  electron.handlers.get(IPC_CHANNELS.call)!(event, method, params) as Promise<unknown>;
const pick = (event: unknown, kind: unknown) =>
  electron.handlers.get(IPC_CHANNELS.pickPaths)!(event, kind) as Promise<string[]>;

describe('registerIpc', () => {
  beforeEach(() => {
    electron.handlers.clear();
    electron.showOpenDialog.mockReset();
  });

  it('dispatches trusted calls through the contract', async () => {
    const { studio, info } = fakeStudio();
    registerIpc(studio, () => null);
    await expect(call(trusted, 'app.info', {})).resolves.toEqual({ ok: true, result: INFO });
    expect(info).toHaveBeenCalledOnce();
  });

  it.each([
    ['a foreign page', { senderFrame: { url: 'https://evil.example/' } }],
    ['a file:// page', { senderFrame: { url: 'file:///tmp/x.html' } }],
    ['devtools', { senderFrame: { url: 'devtools://devtools/bundled/inspector.html' } }],
    ['a destroyed frame', { senderFrame: null }],
  ])('refuses calls from %s with FORBIDDEN', async (_label, event) => {
    const { studio, info } = fakeStudio();
    registerIpc(studio, () => null);
    const response = (await call(event, 'app.info', {})) as { ok: boolean; error: { code: string } };
    expect(response.ok).toBe(false);
    expect(response.error.code).toBe('FORBIDDEN');
    expect(info).not.toHaveBeenCalled();
  });

  it('rejects unknown methods and malformed params without calling the api', async () => {
    const { studio, info } = fakeStudio();
    registerIpc(studio, () => null);
    for (const method of ['nope', '__proto__', 'constructor', 42, null]) {
      await expect(call(trusted, method, {})).resolves.toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    }
    for (const params of [{ extra: 1 }, 'text', [1]]) {
      await expect(call(trusted, 'app.info', params)).resolves.toMatchObject({
        ok: false,
        error: { code: 'INVALID_PARAMS' },
      });
    }
    expect(info).not.toHaveBeenCalled();
  });

  it('opens the native picker for files or a folder only', async () => {
    registerIpc(fakeStudio().studio, () => null);
    electron.showOpenDialog.mockResolvedValue({ canceled: false, filePaths: ['/a.png', '/b.jpg'] });
    await expect(pick(trusted, 'files')).resolves.toEqual(['/a.png', '/b.jpg']);
    expect(electron.showOpenDialog).toHaveBeenLastCalledWith(
      electron.owner,
      expect.objectContaining({ properties: ['openFile', 'multiSelections'] }),
    );
    electron.showOpenDialog.mockResolvedValue({ canceled: false, filePaths: ['/photos'] });
    await expect(pick(trusted, 'folder')).resolves.toEqual(['/photos']);
    expect(electron.showOpenDialog.mock.lastCall?.[1].properties).toContain('openDirectory');

    electron.showOpenDialog.mockResolvedValue({ canceled: true, filePaths: ['/ignored'] });
    await expect(pick(trusted, 'files')).resolves.toEqual([]);
  });

  it('refuses bad kinds and untrusted senders before showing a dialog', async () => {
    registerIpc(fakeStudio().studio, () => null);
    for (const kind of ['file', 'openFile', undefined, { kind: 'files' }]) {
      await expect(pick(trusted, kind)).rejects.toMatchObject({ code: 'INVALID_PARAMS' });
    }
    await expect(pick({ senderFrame: { url: 'http://evil/' }, sender: {} }, 'files')).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    expect(electron.showOpenDialog).not.toHaveBeenCalled();
  });

  it('forwards studio events to our page only', () => {
    const fake = fakeStudio();
    let window: ReturnType<typeof fakeWindow> | null = null;
    registerIpc(fake.studio, () => window as never);
    const message: EventMessage = { event: 'library.changed', payload: { datasetId: null } };

    fake.emit(message); // no window yet: dropped, no crash
    window = fakeWindow();
    fake.emit(message);
    expect(window.webContents.send).toHaveBeenCalledWith('pinhole:event', message);

    window = fakeWindow('https://evil.example/');
    fake.emit(message);
    expect(window.webContents.send).not.toHaveBeenCalled();
  });

  it('undoes everything on dispose', () => {
    const fake = fakeStudio();
    const dispose = registerIpc(fake.studio, () => null);
    expect(fake.listeners.size).toBe(1);
    dispose();
    expect(fake.listeners.size).toBe(0);
    expect(electron.handlers.size).toBe(0);
  });
});
