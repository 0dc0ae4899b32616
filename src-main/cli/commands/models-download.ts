/**
 * `pinhole models download URL|CATALOGUE_ID [--sha256 HEX] [--name N] [--allow-unverified] [--json]`
 * and `pinhole models download --catalogue`. Runs the download job here (or on the server of this
 * data home), with a progress bar in bytes, speed and ETA on stderr; running it again after an
 * interruption continues the same download with a Range request. With --json: progress lines
 * `{"event":"progress","bytes","totalBytes","bytesPerSecond","etaMs"}`, then `{"event":"done",…}`.
 */
import { parseArgs } from 'node:util';
import type { CatalogueEntry, JobProgress, JobView } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';
import type { CommandContext } from '../command';
import { connectForCommand } from '../connection';
import { EXIT } from '../exit-codes';
import { followJobToSuccess } from '../follow-job';
import type { Output } from '../output';

export const MODELS_DOWNLOAD_USAGE =
  'pinhole models download URL|CATALOGUE_ID [--sha256 HEX] [--name N] [--allow-unverified] [--json] | --catalogue';

type DoneResult = { file: string; name: string | null; sha256: string; verified: boolean; bytes: number };

export async function modelsDownloadCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      sha256: { type: 'string' },
      name: { type: 'string' },
      'allow-unverified': { type: 'boolean', default: false },
      catalogue: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const { out } = ctx;
  if (values.catalogue) return printCatalogue(ctx);
  const [target, ...extra] = positionals;
  if (target === undefined || extra.length > 0)
    throw new PinholeError('INVALID_PARAMS', `Name one URL or catalogue id.\nUsage: ${MODELS_DOWNLOAD_USAGE}`);
  const fromCatalogue = !target.includes('://');
  const connection = await connectForCommand(ctx, { runJobs: 'own', events: true });
  try {
    if (fromCatalogue) {
      const entry = (await connection.call('downloads.catalogue', {})).find((e) => e.id === target);
      if (!entry) throw new PinholeError('NOT_FOUND', `No model "${target}" in the catalogue (see --catalogue).`);
      out.info(`${entry.name}: license ${entry.license.name} — ${entry.license.url}`);
      if (entry.sha256 === null && values.sha256 === undefined && !values['allow-unverified']) {
        throw new PinholeError(
          'INVALID_PARAMS',
          `No published SHA-256 is known for ${entry.name}, so the download cannot be verified. ` +
            'Pass --sha256 HEX, or --allow-unverified to download it anyway.',
        );
      }
    } else if (values.sha256 === undefined) {
      out.info('No --sha256 given: the file will be downloaded unverified (its SHA-256 is printed at the end).');
    }
    const started = await connection.call('downloads.start', {
      ...(fromCatalogue ? { catalogueId: target } : { url: target }),
      ...(values.sha256 !== undefined ? { sha256: values.sha256 } : {}),
      ...(values.name !== undefined ? { name: values.name } : {}),
      // A plain URL without --sha256 is the user's own choice; a catalogue entry needs the flag (checked above).
      allowUnverified: !fromCatalogue || values['allow-unverified'],
    });
    if (started.resumed) out.info(`Continuing the earlier download (job ${started.jobId}).`);
    const report = progressPrinter(out);
    const final = await followJobToSuccess(connection, started.jobId, 'download', report);
    out.endProgress();
    const result = final.result as DoneResult;
    if (out.json) out.line({ event: 'done', jobId: final.id, ...result });
    else
      out.info(
        `Downloaded ${result.name ?? result.file} (${result.bytes} bytes, SHA-256 ${result.sha256}, ` +
          `${result.verified ? 'verified' : 'unverified'}) → ${result.file}`,
        true,
      );
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

/** Progress as JSON lines (one per new byte count) or as a bar in megabytes with speed and ETA. */
function progressPrinter(out: Output): (job: JobView) => void {
  let lastBytes = -1;
  return (job) => {
    const metrics = job.progress?.metrics;
    if (!job.progress || !metrics || metrics['bytes'] === undefined) return;
    if (out.json) {
      if (metrics['bytes'] === lastBytes) return;
      lastBytes = metrics['bytes'];
      out.line({
        event: 'progress',
        bytes: metrics['bytes'],
        totalBytes: metrics['totalBytes'] ?? null,
        bytesPerSecond: metrics['bytesPerSecond'] ?? 0,
        etaMs: metrics['etaMs'] ?? null,
      });
      return;
    }
    out.progress(`Downloading ${job.title.replace(/^Download /, '')} (MB)`, inMegabytes(job.progress));
  };
}

/** The bar counts megabytes (not bytes) and uses the smoothed-speed ETA the job reports. */
function inMegabytes(progress: JobProgress): JobProgress {
  const metrics = progress.metrics ?? {};
  return {
    ...progress,
    step: Math.floor((metrics['bytes'] ?? progress.step) / 1e6),
    total: Math.ceil((metrics['totalBytes'] ?? progress.total) / 1e6),
    etaMs: metrics['etaMs'] ?? progress.etaMs,
  };
}

async function printCatalogue(ctx: CommandContext): Promise<number> {
  const connection = await connectForCommand(ctx, { runJobs: 'none', events: false });
  try {
    const entries = await connection.call('downloads.catalogue', {});
    for (const entry of entries) {
      if (ctx.out.json) ctx.out.line(entry);
      else ctx.out.info(describeEntry(entry), true);
    }
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

function describeEntry(e: CatalogueEntry): string {
  const size = e.sizeBytes !== null ? `${(e.sizeBytes / 1e9).toFixed(2)} GB` : 'size unknown';
  const hash = e.sha256 !== null ? `sha256 ${e.sha256.slice(0, 10)}…` : 'unverified (no published hash)';
  return `${e.id.padEnd(14)} ${e.name} — ${e.kind}, ${e.family}, ${size}, ${hash}\n${' '.repeat(15)}license: ${e.license.name} (${e.license.url})`;
}
