export { createDownloadApiHandlers, type DownloadApiHandlers } from './download-api';
export { DownloadService, type StartDownloadRequest, type StartDownloadResult } from './download-service';
export {
  createDownloadJobHandler,
  DOWNLOAD_JOB_KIND,
  DownloadJobParams,
  type DownloadJobDeps,
  type DownloadJobResult,
} from './download-job';
export type { DownloadedModelSink, VerifiedDownload } from './model-sink';
export { loadCatalogue, findCatalogueEntry } from './catalogue';
export { checkDownloadUrl, isLoopbackHost } from './download-url';
export { formatBytes } from './disk-space';
export {
  MemoryTokenStore,
  HF_TOKEN_ENV,
  HF_HOSTS,
  normalizeTokenHost,
  type TokenStore,
  type TokenSource,
} from './token-store';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy';
