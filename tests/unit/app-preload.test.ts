import { readFileSync } from 'node:fs';
import { type EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';

const electron = vi.hoisted(() => ({
  exposed: new Map<string, unknown>(),
  invoke: vi.fn(async (..._args: unknown[]) => 'answer'),
  getPathForFile: vi.fn(() => '/home/me/photo.png'),
}));

vi.mock('electron', async () => {
  const { EventEmitter: Emitter } = await import('node:events');
  const ipcRenderer = Object.assign(new Emitter(), { invoke: electron.invoke });
  return {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => electron.exposed.set(key, api) },
    ipcRenderer,
    webUtils: { getPathForFile: electron.getPathForFile },
  };
});

import { ipcRenderer } from 'electron';
import type { PinholeDesktopBridge } from '../../src-shared/api/bridge';
import { IPC_CHANNELS } from '../../src-main/app/ipc';
await import('../../src-main/app/preload');

const bridge = electron.exposed.get('pinhole') as PinholeDesktopBridge;
const renderer = ipcRenderer as unknown as EventEmitter;

describe('preload', () => {
  it('exposes exactly window.pinhole with the four bridge functions', () => {
    expect([...electron.exposed.keys()]).toEqual(['pinhole']);
    expect(Object.keys(bridge).sort()).toEqual(['call', 'onEvent', 'pathForFile', 'pickPaths']);
    for (const value of Object.values(bridge)) expect(typeof value).toBe('function');
    expect(Object.values(bridge)).not.toContain(ipcRenderer);
  });

  it('forwards calls and picks on the channels main listens to', async () => {
    await expect(bridge.call('app.info', {})).resolves.toBe('answer');
    expect(electron.invoke).toHaveBeenLastCalledWith(IPC_CHANNELS.call, 'app.info', {});
    await bridge.pickPaths('folder');
    expect(electron.invoke).toHaveBeenLastCalledWith(IPC_CHANNELS.pickPaths, 'folder');
  });

  it('gets dropped files their path through webUtils', () => {
    const file = { name: 'photo.png' } as File;
    expect(bridge.pathForFile(file)).toBe('/home/me/photo.png');
    expect(electron.getPathForFile).toHaveBeenCalledWith(file);
  });

  it('delivers events without the IPC event, and unsubscribe removes only its own listener', () => {
    const first = vi.fn();
    const second = vi.fn();
    const stopFirst = bridge.onEvent(first);
    const stopSecond = bridge.onEvent(second);
    const message = { event: 'library.changed', payload: { datasetId: null } };

    renderer.emit(IPC_CHANNELS.event, { sender: 'ipc-event' }, message);
    expect(first).toHaveBeenCalledWith(message);
    expect(first.mock.calls[0]).toHaveLength(1);
    expect(second).toHaveBeenCalledOnce();

    stopFirst();
    stopFirst(); // twice is harmless and still leaves the other listener alone
    renderer.emit(IPC_CHANNELS.event, {}, message);
    expect(first).toHaveBeenCalledOnce();
    expect(second).toHaveBeenCalledTimes(2);
    expect(renderer.listenerCount(IPC_CHANNELS.event)).toBe(1);

    stopSecond();
    expect(renderer.listenerCount(IPC_CHANNELS.event)).toBe(0);
  });

  it('imports nothing at runtime but electron (sandboxed preloads cannot require more)', () => {
    const source = readFileSync(new URL('../../src-main/app/preload.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import\s+(type\s+)?[^'"]*from\s+'([^']+)'/gm)];
    expect(imports.length).toBeGreaterThan(0);
    for (const [, typeOnly, from] of imports) {
      if (!typeOnly) expect(from).toBe('electron');
    }
    expect(source).not.toMatch(/\brequire\(|import\(/);
  });
});
