/**
 * What the Electron preload exposes as `window.pinhole` (contextBridge). Deliberately small:
 * one call channel validated in main, one event subscription, and the two things only
 * the desktop can do (a dropped file's path, native pickers).
 */
import type { CallResponse } from './contract';

export interface PinholeDesktopBridge {
  /** Sends one API call over IPC; main validates method and params against the contract. */
  call(method: string, params: unknown): Promise<CallResponse>;
  /** Receives every API event; returns the unsubscribe. */
  onEvent(listener: (message: unknown) => void): () => void;
  /** The filesystem path of a File from a drop or an <input>, via webUtils.getPathForFile. */
  pathForFile(file: File): string;
  /** Native open dialog; resolves to the chosen paths or an empty list. */
  pickPaths(kind: 'files' | 'folder'): Promise<string[]>;
}

/** URLs of library media, per transport. Headless: same-origin HTTP; desktop: the custom protocol. */
export const MEDIA_PATHS = {
  headless: {
    image: (sha: string) => `/media/images/${sha}`,
    thumb: (sha: string) => `/media/thumbs/${sha}`,
    /** An init image or mask kept for re-runs (`<data home>/inputs`), by content hash. */
    input: (sha: string) => `/media/inputs/${sha}`,
  },
  desktop: {
    image: (sha: string) => `pinhole-media://images/${sha}`,
    thumb: (sha: string) => `pinhole-media://thumbs/${sha}`,
    input: (sha: string) => `pinhole-media://inputs/${sha}`,
  },
} as const;

/** The custom scheme the desktop app serves library media from (never file://). */
export const MEDIA_SCHEME = 'pinhole-media';
/** The custom scheme the desktop app serves the renderer from. */
export const APP_SCHEME = 'pinhole-app';
