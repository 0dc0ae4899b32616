/** The contract's download and token methods, over the download service and the token store. */
import type { ApiHandlers } from '../../../src-shared/api';
import { loadCatalogue } from './catalogue';
import type { DownloadService } from './download-service';
import { normalizeTokenHost, type TokenStore } from './token-store';

export type DownloadApiHandlers = Pick<
  ApiHandlers,
  | 'downloads.catalogue'
  | 'downloads.start'
  | 'downloads.pause'
  | 'downloads.resume'
  | 'tokens.list'
  | 'tokens.set'
  | 'tokens.remove'
>;

export function createDownloadApiHandlers(downloads: DownloadService, tokens: TokenStore): DownloadApiHandlers {
  return {
    'downloads.catalogue': () => loadCatalogue(),
    'downloads.start': (params) => downloads.start(params),
    'downloads.pause': ({ jobId }) => downloads.pause(jobId),
    'downloads.resume': ({ jobId }) => downloads.resume(jobId),
    'tokens.list': () => tokens.list(),
    'tokens.set': async ({ host, token }) => {
      const normalized = normalizeTokenHost(host);
      await tokens.set(normalized, token);
      return { host: normalized };
    },
    'tokens.remove': async ({ host }) => ({ removed: await tokens.delete(host) }),
  };
}
