/**
 * The `train` job kind (GPU lane): runs one LoRA training request in the engine process (whose
 * thread `session.run` holds), reports every optimizer step — `message` is `loss L lr X`, exact
 * numbers a client can parse — and cancels within one step. The LoRA file is written by the engine
 * at `request.out`; the job result lists it with the per-step losses and learning rates.
 */
import path from 'node:path';
import { z } from 'zod';
import { Seed, TRAIN_DEFAULTS, TrainParams, type TrainParams as Request } from '../../src-shared/api';
import type { EngineClient, TrainRequest, TrainResult } from '../engine';
import type { JobHandler } from '../queue';

export const TRAIN_JOB_KIND = 'train';

/** A stored train job: the request with its seed fixed, so a re-run is exact. */
export const TrainJobParams = z.object({
  request: TrainParams.and(z.object({ seed: Seed })),
});
export type TrainJobParams = z.infer<typeof TrainJobParams>;

export type TrainJobResult = TrainResult;

/** The request as the engine takes it, defaults filled in (TRAIN_DEFAULTS). */
export function toEngineTrainRequest(request: Request & { seed: string }): TrainRequest {
  const optimizer = request.optimizer ?? TRAIN_DEFAULTS.optimizer;
  return {
    model: request.model,
    images: request.images,
    out: request.out,
    rank: request.rank ?? TRAIN_DEFAULTS.rank,
    alpha: request.alpha,
    steps: request.steps ?? TRAIN_DEFAULTS.steps,
    batch: request.batch ?? TRAIN_DEFAULTS.batch,
    lr: request.lr ?? TRAIN_DEFAULTS.lr,
    optimizer,
    weightDecay: request.weightDecay ?? (optimizer === 'adamw' ? TRAIN_DEFAULTS.adamwWeightDecay : 0),
    maxGradNorm: request.maxGradNorm ?? TRAIN_DEFAULTS.maxGradNorm,
    seed: BigInt(request.seed),
    resolution: request.resolution ?? TRAIN_DEFAULTS.resolution,
    shuffle: request.shuffle ?? TRAIN_DEFAULTS.shuffle,
    initLora: request.initLora,
  };
}

export function createTrainJobHandler(engine: () => EngineClient): JobHandler<TrainJobParams, TrainJobResult> {
  return {
    kind: TRAIN_JOB_KIND,
    lane: 'gpu',
    params: TrainJobParams,
    title: ({ request }) => `Train LoRA ${path.basename(request.out)}`,
    run: async (ctx, { request }) =>
      engine().train(toEngineTrainRequest(request), {
        signal: ctx.signal,
        onProgress: (p) => ctx.progress({ step: p.step, total: p.totalSteps, metrics: { loss: p.loss, lr: p.lr } }),
      }),
  };
}
