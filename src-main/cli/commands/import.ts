/**
 * `pinhole import <files or folders…> --dataset NAME [--json]`. Exits 0 once every file
 * was processed, rejected ones included; non-zero only when the command itself failed.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ImportFileResult } from '../../../src-shared/api';
import { CanceledError, PinholeError } from '../../../src-shared/errors';
import type { CommandContext } from '../command';
import { connectForCommand } from '../connection';
import { EXIT } from '../exit-codes';
import { followJob } from '../follow-job';

export const IMPORT_USAGE = 'pinhole import <files or folders…> --dataset NAME [--json] [--data-dir DIR]';

export async function importCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { dataset: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (!values.dataset) throw new PinholeError('INVALID_PARAMS', `--dataset NAME is required.\nUsage: ${IMPORT_USAGE}`);
  if (positionals.length === 0)
    throw new PinholeError('INVALID_PARAMS', `Name at least one file or folder.\nUsage: ${IMPORT_USAGE}`);
  const { out } = ctx;
  const connection = await connectForCommand(ctx, { runJobs: 'own', events: true });
  try {
    const printed = new Set<number>();
    const counts = { accepted: 0, duplicate: 0, rejected: 0 };
    let jobId: string | null = null;
    const print = (r: ImportFileResult) => {
      if (printed.has(r.index)) return;
      printed.add(r.index);
      counts[r.status]++;
      if (out.json) out.line({ file: r.file, status: r.status, ...(r.reason ? { reason: r.reason } : {}) });
      else if (r.status === 'rejected') out.info(`rejected  ${r.file}: ${r.reason ?? 'unknown reason'}`);
      else out.info(`${r.status.padEnd(9)} ${r.file}`);
    };
    // Results can arrive before the job id is known: buffer them until then.
    const early: ImportFileResult[] = [];
    const off = connection.onEvent((m) => {
      if (m.event !== 'import.file') return;
      if (jobId === null) early.push(m.payload);
      else if (m.payload.jobId === jobId) print(m.payload);
    });
    const paths = positionals.map((p) => path.resolve(p));
    ({ jobId } = await connection.call('import.start', { dataset: values.dataset, paths }));
    const id = jobId;
    early.filter((r) => r.jobId === id).forEach(print);

    const onSigint = () => void connection.call('jobs.cancel', { jobId: id }).catch(() => undefined);
    process.once('SIGINT', onSigint);
    const final = await followJob(connection, id, (job) => out.progress('Importing', job.progress));
    process.off('SIGINT', onSigint);
    off();
    out.endProgress();
    // Anything missed on the event stream is read back from the stored results, in order.
    for (const r of await connection.call('import.results', { jobId: id })) print(r);

    out.info(`${counts.accepted} accepted, ${counts.duplicate} duplicate, ${counts.rejected} rejected (job ${id})`);
    if (final.state === 'succeeded') return EXIT.OK;
    if (final.state === 'canceled') throw new CanceledError('The import was cancelled.');
    throw new PinholeError(
      final.error?.code === 'INTERRUPTED' ? 'INTERRUPTED' : 'INTERNAL',
      `The import failed: ${final.error?.message ?? 'unknown error'}`,
    );
  } finally {
    await connection.close();
  }
}
