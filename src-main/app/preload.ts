/**
 * The sandboxed preload: exposes exactly `window.pinhole` (PinholeDesktopBridge) and nothing
 * else. Built as CommonJS (sandboxed preloads cannot be ESM) and allowed to import only
 * 'electron' at runtime, so channel names are literals here (they match IPC_CHANNELS in ipc.ts).
 * ipcRenderer itself never reaches the page: each function forwards one fixed channel.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import type { PinholeDesktopBridge } from '../../src-shared/api/bridge';
import type { CallResponse } from '../../src-shared/api/contract';

const bridge: PinholeDesktopBridge = {
  call(method, params) {
    return ipcRenderer.invoke('pinhole:call', method, params) as Promise<CallResponse>;
  },
  onEvent(listener) {
    // One relay per subscription, so unsubscribing removes this listener and no other.
    const relay = (_event: IpcRendererEvent, message: unknown): void => listener(message);
    ipcRenderer.on('pinhole:event', relay);
    return () => {
      ipcRenderer.removeListener('pinhole:event', relay);
    };
  },
  pathForFile(file) {
    return webUtils.getPathForFile(file);
  },
  pickPaths(kind) {
    return ipcRenderer.invoke('pinhole:pick-paths', kind) as Promise<string[]>;
  },
};

contextBridge.exposeInMainWorld('pinhole', bridge);
