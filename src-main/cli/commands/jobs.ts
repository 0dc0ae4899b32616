/** `pinhole jobs [--json]`, `pinhole jobs watch`, `pinhole jobs cancel ID`. */
import { parseArgs } from 'node:util';
import type { JobView } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';
import type { CommandContext } from '../command';
import { connectForCommand, type CoreConnection } from '../connection';
import { EXIT } from '../exit-codes';
import { formatDuration } from '../output';

export const JOBS_USAGE =
  'pinhole jobs [--json] | pinhole jobs watch [--json] | pinhole jobs cancel ID [--json] | pinhole jobs run';

export async function jobsCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, limit: { type: 'string', default: '50' } },
    allowPositionals: true,
    strict: true,
  });
  const [sub, ...rest] = positionals;
  const { out } = ctx;
  const connection = await connectForCommand(ctx, { runJobs: sub === 'run' ? 'all' : 'none', events: sub === 'watch' });
  try {
    if (sub === undefined || sub === 'list') {
      const jobs = await connection.call('jobs.list', { limit: Number(values.limit) || 50 });
      if (out.json) jobs.forEach((j) => out.line(j));
      else if (jobs.length === 0) out.info('No jobs.', true);
      else jobs.forEach((j) => out.info(describeJob(j), true));
      return EXIT.OK;
    }
    if (sub === 'cancel') {
      const [jobId] = rest;
      if (!jobId) throw new PinholeError('INVALID_PARAMS', `Name the job to cancel.\nUsage: ${JOBS_USAGE}`);
      const job = await connection.call('jobs.cancel', { jobId });
      if (out.json) out.line(job);
      else
        out.info(
          job.state === 'running'
            ? `Cancel requested for ${job.id}; it stops within one step.`
            : `${job.id} is ${job.state}.`,
          true,
        );
      return EXIT.OK;
    }
    if (sub === 'watch') return await watch(ctx, connection);
    if (sub === 'run') {
      // Runs queued and interrupted jobs here (or lets the server run them) until none is left.
      if (connection.kind === 'remote') out.info('A server runs the jobs on this data home; following them.');
      return await watch(ctx, connection);
    }
    throw new PinholeError('INVALID_PARAMS', `Unknown jobs command "${sub}".\nUsage: ${JOBS_USAGE}`);
  } finally {
    await connection.close();
  }
}

/** Shows live progress of running and queued jobs until none is left. */
async function watch(ctx: CommandContext, connection: CoreConnection): Promise<number> {
  const { out } = ctx;
  for (;;) {
    const active = await connection.call('jobs.list', { states: ['running', 'queued'], limit: 100 });
    if (out.json) active.forEach((j) => out.line(j));
    if (active.length === 0) {
      out.endProgress();
      out.info('No running or queued jobs.');
      return EXIT.OK;
    }
    const running = active.find((j) => j.state === 'running');
    if (running) out.progress(`${running.title} (+${active.length - 1} queued)`, running.progress);
    else out.progress(`${active.length} queued`, null);
    if (!process.stderr.isTTY && !out.json) out.info(describeJob(running ?? active[0]!));
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function describeJob(job: JobView): string {
  const progress = job.progress ? ` ${job.progress.step}/${job.progress.total}` : '';
  const eta =
    job.state === 'running' && job.progress?.etaMs != null ? ` ETA ${formatDuration(job.progress.etaMs)}` : '';
  const error = job.error && job.state === 'failed' ? ` — ${job.error.message}` : '';
  return `${job.id}  ${job.state.padEnd(11)} ${job.title}${progress}${eta}${error}`;
}
