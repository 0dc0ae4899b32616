/** Waits for a job to end while reporting its progress; resolves with its final view. */
import type { JobView } from '../../src-shared/api';
import { CanceledError, PinholeError } from '../../src-shared/errors';
import type { CoreConnection } from './connection';

const FINAL = new Set(['succeeded', 'failed', 'canceled']);

export async function followJob(
  connection: CoreConnection,
  jobId: string,
  onUpdate: (job: JobView) => void,
  pollMs = 500,
): Promise<JobView> {
  return new Promise<JobView>((resolve, reject) => {
    let done = false;
    const finish = (job: JobView) => {
      if (done) return;
      done = true;
      off();
      clearInterval(timer);
      resolve(job);
    };
    const off = connection.onEvent((message) => {
      if (message.event !== 'job.updated' || message.payload.id !== jobId) return;
      onUpdate(message.payload);
      if (FINAL.has(message.payload.state)) finish(message.payload);
    });
    // Events can be missed (a reconnect, a job run by another process): poll as a safety net.
    const check = () =>
      connection.call('jobs.get', { jobId }).then(
        (job) => FINAL.has(job.state) && finish(job),
        (error: unknown) => {
          if (done) return;
          done = true;
          off();
          clearInterval(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    const timer = setInterval(() => void check(), pollMs);
    void check();
  });
}

/**
 * Follows a job this command queued until it ends: Ctrl-C cancels it, progress goes to the
 * caller, and anything but success becomes the error a script can act on (cancelled → 130;
 * the job's own bad-input codes kept; everything else a failure).
 */
export async function followJobToSuccess(
  connection: CoreConnection,
  jobId: string,
  what: string,
  onUpdate: (job: JobView) => void,
): Promise<JobView> {
  const onSigint = () => void connection.call('jobs.cancel', { jobId }).catch(() => undefined);
  process.once('SIGINT', onSigint);
  let final: JobView;
  try {
    final = await followJob(connection, jobId, onUpdate);
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (final.state === 'canceled') throw new CanceledError(`The ${what} was cancelled.`);
  if (final.state !== 'succeeded') {
    const code = final.error?.code;
    throw new PinholeError(
      code === 'INVALID_PARAMS' || code === 'NOT_FOUND' || code === 'IMPORT_REJECTED' ? code : 'INTERNAL',
      final.error?.message ?? `The ${what} failed.`,
    );
  }
  return final;
}
