/**
 * What the API offers for downloads, over the queue: start one (from a URL or a catalogue
 * entry), pause and resume it, and tidy the `.part` files no job will continue. Starting a
 * download that is already under way (or was interrupted, paused, or failed with bytes kept)
 * continues that one instead of fetching the file twice.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { JobView } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';
import type { JobQueue } from '../../queue';
import type { CatalogueEntry } from '../../../src-shared/api';
import { findCatalogueEntry, loadCatalogue } from './catalogue';
import { DOWNLOAD_JOB_KIND, DownloadJobParams, partFileOf } from './download-job';
import { checkDownloadUrl } from './download-url';

export type StartDownloadRequest = {
  url?: string | undefined;
  catalogueId?: string | undefined;
  sha256?: string | undefined;
  name?: string | undefined;
  /** Required to download without a known SHA-256: the user saw that it cannot be verified. */
  allowUnverified?: boolean | undefined;
  priority?: number | undefined;
};

export type StartDownloadResult = {
  jobId: string;
  /** True when an earlier download of the same file continues instead of a new one. */
  resumed: boolean;
  verified: boolean;
  license: CatalogueEntry['license'] | null;
};

export class DownloadService {
  constructor(
    private readonly queue: JobQueue,
    private readonly downloadsDir: string,
  ) {}

  start(request: StartDownloadRequest): StartDownloadResult {
    // A catalogue model given by its URL still gets the catalogue's hash, size and license.
    const entry =
      request.catalogueId !== undefined
        ? findCatalogueEntry(request.catalogueId)
        : (loadCatalogue().find((e) => e.url === request.url) ?? null);
    const url = entry?.url ?? request.url;
    if (!url) throw new PinholeError('INVALID_PARAMS', 'Give a URL or a catalogue id to download.');
    checkDownloadUrl(url);
    const sha256 = request.sha256?.toLowerCase() ?? entry?.sha256 ?? null;
    if (sha256 === null && request.allowUnverified !== true) {
      throw new PinholeError(
        'INVALID_PARAMS',
        'No SHA-256 is known for this file, so the download cannot be verified: give the hash, or confirm an unverified download.',
      );
    }
    const params = DownloadJobParams.parse({
      url,
      sha256,
      name: request.name ?? entry?.name ?? null,
      expectedBytes: entry?.sizeBytes ?? null,
      adoptPartOf: null,
    });
    const license = entry?.license ?? null;
    const earlier = this.earlierDownload(params.url, params.sha256);
    if (earlier && earlier.state !== 'failed') {
      return { jobId: this.continueHere(earlier).id, resumed: true, verified: sha256 !== null, license };
    }
    const adoptPartOf = earlier && hasPart(this.downloadsDir, earlier.id) ? earlier.id : null;
    const job = this.queue.enqueue(DOWNLOAD_JOB_KIND, { ...params, adoptPartOf }, { priority: request.priority ?? 0 });
    return { jobId: job.id, resumed: adoptPartOf !== null, verified: sha256 !== null, license };
  }

  /** Stops a download, keeping its bytes for `resume`. */
  pause(jobId: string): JobView {
    this.downloadJob(jobId);
    return this.queue.pause(jobId);
  }

  /** Continues a paused download from its `.part`. */
  resume(jobId: string): JobView {
    this.downloadJob(jobId);
    return this.queue.resume(jobId);
  }

  /** Deletes `.part` files whose job ended for good or no longer exists (failed ones stay to be adopted). */
  sweep(): void {
    let names: string[];
    try {
      names = readdirSync(this.downloadsDir);
    } catch {
      return;
    }
    const keep = new Set(
      this.queue
        .list(['queued', 'running', 'paused', 'interrupted', 'failed'], 10_000)
        .filter((j) => j.kind === DOWNLOAD_JOB_KIND)
        .map((j) => j.id),
    );
    for (const name of names) {
      const jobId = /^(job_[0-9a-f]{20})(\.part|-.+)$/.exec(name)?.[1];
      if (jobId && !keep.has(jobId)) rmSync(path.join(this.downloadsDir, name), { force: true });
    }
  }

  private downloadJob(jobId: string): JobView {
    const job = this.queue.get(jobId);
    if (job.kind !== DOWNLOAD_JOB_KIND) throw new PinholeError('INVALID_PARAMS', `Job ${jobId} is not a download.`);
    return job;
  }

  /** The newest unfinished (or failed) download job of the same URL and hash. */
  private earlierDownload(url: string, sha256: string | null): JobView | null {
    const jobs = this.queue
      .list(['running', 'queued', 'paused', 'interrupted', 'failed'], 1000)
      .filter((j) => j.kind === DOWNLOAD_JOB_KIND);
    for (const job of jobs) {
      const p = DownloadJobParams.safeParse(job.params);
      if (p.success && p.data.url === url && p.data.sha256 === sha256) return job;
    }
    return null;
  }

  /**
   * Makes an unfinished job runnable by this process: a paused one is resumed; a queued one
   * (re-queued after its process died) is paused and resumed, which hands it to whoever asks —
   * a CLI command runs only the jobs it was handed. A running one is followed where it runs.
   */
  private continueHere(job: JobView): JobView {
    if (job.state === 'paused') return this.queue.resume(job.id);
    if (job.state === 'queued') {
      this.queue.pause(job.id);
      return this.queue.resume(job.id);
    }
    return job;
  }
}

function hasPart(downloadsDir: string, jobId: string): boolean {
  try {
    return statSync(partFileOf(downloadsDir, jobId)).size > 0;
  } catch {
    return false;
  }
}
