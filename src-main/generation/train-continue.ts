/**
 * "Resume from step N" for a cancelled training run. A cancel keeps the last completed step as a
 * checkpoint but ends the job (cancelled is final: whoever waited on it has been told), so the run
 * goes on as a new job that `continues` it: the same run folder, output file and artifacts, resumed
 * from the newest checkpoint — the LoRA it ends with is the one the uninterrupted run gives.
 */
import { existsSync } from 'node:fs';
import type { JobView } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { JobQueue } from '../queue';
import { jobArtifacts } from './train-artifacts';
import { TrainJobParams, trainRunId } from './train-job';

/** Job states in which a continuation still has work to do (another one would share its folder). */
const UNFINISHED = ['queued', 'running', 'paused', 'interrupted'] as const;

/**
 * Queues the job that carries on the cancelled run `job`, with its priority; returns it.
 * @throws PinholeError `CONFLICT` when the run kept no checkpoint, or another job already continues it.
 */
export function continueCanceledRun(queue: JobQueue, job: JobView): JobView {
  const params = TrainJobParams.parse(job.params);
  const runId = trainRunId(params, job.id);
  const artifacts = jobArtifacts(job) ?? { checkpoints: [], samples: [], bestStep: null };
  const newest = artifacts.checkpoints.reduce<(typeof artifacts.checkpoints)[number] | null>(
    (a, c) => (a === null || c.step > a.step ? c : a),
    null,
  );
  if (!newest || !existsSync(newest.file)) {
    throw new PinholeError('CONFLICT', `Job ${job.id} kept no checkpoint to resume from; start a new run instead.`);
  }
  const running = queue
    .list([...UNFINISHED], 10_000)
    .find((j) => j.kind === job.kind && TrainJobParams.safeParse(j.params).data?.continues?.jobId === runId);
  if (running) throw new PinholeError('CONFLICT', `This run already goes on as job ${running.id}.`);
  return queue.enqueue(
    job.kind,
    { request: params.request, continues: { jobId: runId, artifacts } },
    { priority: job.priority },
  );
}
