/**
 * The IPC side of the desktop bridge: one validated call channel, the native picker,
 * and studio events forwarded to the window. Every request is checked for its sender
 * first, then goes through the same `dispatchCall` as the headless server.
 */
import { BrowserWindow, dialog, ipcMain, type OpenDialogOptions } from 'electron';
import type { ApiHandlers, CallResponse, EventMessage } from '../../src-shared/api/contract';
import { dispatchCall } from '../../src-shared/api/dispatch';
import { PinholeError, serializeError } from '../../src-shared/errors';
import { isAppUrl, isTrustedSender } from './security';

/** Channel names; the preload repeats them as literals (it may import nothing but electron). */
export const IPC_CHANNELS = {
  call: 'pinhole:call',
  pickPaths: 'pinhole:pick-paths',
  event: 'pinhole:event',
} as const;

/** What IPC needs from the studio. */
export type IpcStudio = {
  readonly api: ApiHandlers;
  onEvent(listener: (message: EventMessage) => void): () => void;
};

const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'bmp', 'tif', 'tiff', 'avif', 'heic'];

/** Answers one `pinhole:call`: FORBIDDEN for a foreign sender, else the contract's dispatch. */
export async function handleCall(
  api: ApiHandlers,
  senderFrame: { readonly url: string } | null | undefined,
  method: unknown,
  params: unknown,
): Promise<CallResponse> {
  if (!isTrustedSender(senderFrame)) {
    return {
      ok: false,
      error: serializeError(new PinholeError('FORBIDDEN', 'Refused: the caller is not the Pinhole app')),
    };
  }
  return dispatchCall(api, method, params);
}

/** Dialog options for a `pickPaths(kind)`; throws on any other kind. */
export function pickDialogOptions(kind: unknown): OpenDialogOptions {
  if (kind === 'files') {
    return {
      title: 'Import images',
      properties: ['openFile', 'multiSelections'],
      filters: [
        { name: 'Images', extensions: IMAGE_EXTENSIONS },
        { name: 'All files', extensions: ['*'] },
      ],
    };
  }
  if (kind === 'folder') return { title: 'Import a folder', properties: ['openDirectory', 'multiSelections'] };
  throw new PinholeError('INVALID_PARAMS', `pickPaths: kind must be 'files' or 'folder'`);
}

/**
 * Registers the handlers and the event forwarding; returns the function undoing both.
 * `getWindow` names the window events go to (null while there is none).
 */
export function registerIpc(studio: IpcStudio, getWindow: () => BrowserWindow | null): () => void {
  ipcMain.handle(IPC_CHANNELS.call, (event, method: unknown, params: unknown) =>
    handleCall(studio.api, event.senderFrame, method, params),
  );

  ipcMain.handle(IPC_CHANNELS.pickPaths, async (event, kind: unknown): Promise<string[]> => {
    if (!isTrustedSender(event.senderFrame))
      throw new PinholeError('FORBIDDEN', 'Refused: the caller is not the Pinhole app');
    const options = pickDialogOptions(kind);
    // Parent the dialog to the asking window so it is modal to it.
    const owner = BrowserWindow.fromWebContents(event.sender);
    const result = owner ? await dialog.showOpenDialog(owner, options) : await dialog.showOpenDialog(options);
    return result.canceled ? [] : result.filePaths;
  });

  const stopEvents = studio.onEvent((message) => {
    const window = getWindow();
    if (!window || window.isDestroyed()) return;
    // Events only ever go to our own page, never to whatever else the window might show.
    if (!isAppUrl(window.webContents.getURL())) return;
    window.webContents.send(IPC_CHANNELS.event, message);
  });

  return () => {
    stopEvents();
    ipcMain.removeHandler(IPC_CHANNELS.call);
    ipcMain.removeHandler(IPC_CHANNELS.pickPaths);
  };
}
