/**
 * Everything the UI needs from the platform, chosen once at startup: the desktop app when the
 * preload exposed `window.pinhole`, otherwise the headless server this page was loaded from.
 */
import { MEDIA_PATHS } from '../../../src-shared/api/bridge';
import { PinholeError } from '../../../src-shared/errors';
import { createDesktopClient } from './desktop-client';
import { createHttpClient } from './http-client';
import type { StudioClient } from './studio-client';
import { uploadFiles } from './upload';

/** Where library media lives, per transport. */
export type MediaUrls = { image(sha256: string): string; thumb(sha256: string): string };

/** The platform: the client plus the few things that differ between desktop and browser. */
export type Studio = {
  readonly mode: 'desktop' | 'headless';
  readonly client: StudioClient;
  readonly media: MediaUrls;
  /** Imports files from a drop or an <input> into a dataset (created when missing); resolves to the job id. */
  importFiles(dataset: string, files: readonly File[]): Promise<{ jobId: string }>;
  /**
   * Native file/folder dialog feeding an import, or null where there is none (the browser,
   * whose UI uses <input type=file> instead). Resolves to null when the user picked nothing.
   */
  readonly pickAndImport: ((dataset: string, kind: 'files' | 'folder') => Promise<{ jobId: string } | null>) | null;
};

/** Builds the studio for the current window. */
export function createStudio(): Studio {
  const bridge = window.pinhole;
  if (bridge) {
    const client = createDesktopClient(bridge);
    return {
      mode: 'desktop',
      client,
      media: MEDIA_PATHS.desktop,
      async importFiles(dataset, files) {
        // Electron knows where each dropped file lives; the core reads it in place, no copying through IPC.
        const paths = files.map((file) => bridge.pathForFile(file)).filter((p) => p.length > 0);
        if (paths.length === 0) {
          throw new PinholeError('INVALID_PARAMS', 'None of the dropped items are files on this computer.');
        }
        return client.call('import.start', { dataset, paths });
      },
      async pickAndImport(dataset, kind) {
        const paths = await bridge.pickPaths(kind);
        if (paths.length === 0) return null;
        return client.call('import.start', { dataset, paths });
      },
    };
  }
  return {
    mode: 'headless',
    client: createHttpClient(),
    media: MEDIA_PATHS.headless,
    importFiles: uploadFiles,
    pickAndImport: null,
  };
}
