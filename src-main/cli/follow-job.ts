/** Waits for a job to end while reporting its progress; resolves with its final view. */
import type { JobView } from '../../src-shared/api';
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
