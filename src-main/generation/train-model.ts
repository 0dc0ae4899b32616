/**
 * The model folder a training run reads. A single-file checkpoint (`.safetensors`, `.ckpt`, `.pt`; a
 * library model is stored as one) is converted into its cached model folder here, inside the train
 * job: a real checkpoint takes minutes, so the work belongs on the GPU lane with progress and cancel,
 * not in the request that queues the run. A folder is used as it is.
 */
import { statSync } from 'node:fs';
import type { JobContext } from '../queue';
import type { ModelConverter } from './library-source';

/** `metrics` key of a conversion's progress (the fraction done, 0 … 1): the Train page and scripts read it. */
export const CONVERTING_METRIC = 'converting';
const CONVERTING_PREFIX = 'Converting the model: ';

/** The conversion stage and fraction a train job's progress reports, or undefined when it is not converting. */
export function conversionProgress(progress: {
  readonly message?: string | null | undefined;
  readonly metrics?: Readonly<Record<string, number>> | null | undefined;
}): { stage: string; fraction: number } | undefined {
  const fraction = progress.metrics?.[CONVERTING_METRIC];
  if (fraction === undefined) return undefined;
  const message = progress.message ?? '';
  const stage = message.startsWith(CONVERTING_PREFIX)
    ? message.slice(CONVERTING_PREFIX.length).replace(/ \d+%$/, '')
    : 'model';
  return { stage, fraction };
}

/**
 * `model` (a file or a folder) → the folder the engine trains on.
 * @param totalSteps the run's steps, so the progress bar keeps its scale while step 0 says "converting".
 * @throws what `convert` throws: PinholeError `IMPORT_REJECTED` naming the file, `CANCELED` on cancel or pause.
 */
export async function trainModelFolder(
  model: string,
  convert: ModelConverter,
  ctx: Pick<JobContext, 'signal' | 'progress'>,
  totalSteps: number,
): Promise<string> {
  if (statSync(model, { throwIfNoEntry: false })?.isFile() !== true) return model;
  return convert(model, {
    signal: ctx.signal,
    onProgress: (stage, fraction) =>
      ctx.progress({
        step: 0,
        total: totalSteps,
        message: `${CONVERTING_PREFIX}${stage} ${Math.round(fraction * 100)}%`,
        metrics: { [CONVERTING_METRIC]: fraction },
      }),
  });
}
