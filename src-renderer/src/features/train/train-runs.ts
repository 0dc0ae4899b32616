/**
 * Which job is "the training run" of a dataset, and what a train job's view holds (artifacts, the
 * final losses) read defensively: `JobView.params` and `result` are untyped on the wire.
 */
import { TrainParams, type Dataset, type JobView, type TrainArtifacts } from '../../../../src-shared/api/schemas';
import type { JobsState } from '../../state/jobs-store';

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
}

/** The train request's field `key`, or null. */
export function trainRequestField(job: JobView, key: string): unknown {
  return record(record(job.params)?.['request'])?.[key] ?? null;
}

/** The run's request, or null when it does not parse (a job stored by another version). */
export function trainRequestOf(job: JobView): TrainParams | null {
  const parsed = TrainParams.safeParse(record(job.params)?.['request']);
  return parsed.success ? parsed.data : null;
}

/** True when `job` trains on `dataset` (names compare case-insensitively, as the core does). */
export function isTrainingOn(job: JobView, dataset: Pick<Dataset, 'name'>): boolean {
  const name = trainRequestField(job, 'dataset');
  return job.kind === 'train' && typeof name === 'string' && name.toLowerCase() === dataset.name.toLowerCase();
}

/** Selector: the newest training run of a dataset, or null. */
export function selectLatestTraining(dataset: Pick<Dataset, 'name'> | null): (s: JobsState) => JobView | null {
  return (s) => {
    if (!dataset) return null;
    let latest: JobView | null = null;
    for (const job of Object.values(s.jobs)) {
      if (isTrainingOn(job, dataset) && (!latest || job.createdAt > latest.createdAt)) latest = job;
    }
    return latest;
  };
}

const NO_ARTIFACTS: TrainArtifacts = { checkpoints: [], samples: [], bestStep: null };

/** Checkpoints and samples so far: the result's once the run succeeded, else the last progress's. */
export function runArtifacts(job: JobView): TrainArtifacts {
  const fromResult = record(job.result)?.['artifacts'] as TrainArtifacts | undefined;
  return fromResult ?? job.progress?.artifacts ?? NO_ARTIFACTS;
}

/**
 * The finished run's per-step losses, its LoRA file and the name the models library knows it by (null when
 * it is not there), or null before it has succeeded.
 */
export function runResult(job: JobView): { losses: number[]; file: string; libraryName: string | null } | null {
  const result = record(job.result);
  const losses = result?.['losses'];
  const file = result?.['file'];
  const name = record(result?.['lora'])?.['name'];
  return Array.isArray(losses) && typeof file === 'string'
    ? { losses: losses as number[], file, libraryName: typeof name === 'string' ? name : null }
    : null;
}
