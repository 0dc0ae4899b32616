/**
 * `pinhole train --model DIR --images DIR --out FILE.safetensors [options]`: queues a LoRA training
 * run (GPU lane, in the engine process), shows a progress bar with the loss, and writes a kohya
 * LoRA. With --json: one `{"event":"step","step","loss","lr"}` line per optimizer step, in order,
 * then `{"event":"done","file",…}`.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeIssues, TrainParams, type JobProgress } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';

/** The train job's result (the engine's `TrainResult`), as the CLI reads it. */
type TrainJobResult = {
  file: string;
  steps: number;
  losses: number[];
  lrs: number[];
  rank: number;
  alpha: number;
  modules: number;
  datasetSize: number;
  timings: { totalMs: number; msPerStep: number };
};
import type { CommandContext } from '../command';
import { connectForCommand } from '../connection';
import { EXIT } from '../exit-codes';
import { followJobToSuccess } from '../follow-job';

export const TRAIN_USAGE =
  'pinhole train --model DIR --images DIR --out FILE.safetensors [--rank R] [--alpha A] [--steps N] [--batch B]\n' +
  '                 [--lr X] [--optimizer adamw|sgd] [--weight-decay W] [--max-grad-norm X] [--seed S]\n' +
  '                 [--resolution PX] [--no-shuffle] [--init-lora FILE] [--json]';

const int = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new PinholeError('INVALID_PARAMS', `--${name} must be a whole number, not "${value}"`);
  return Number(value);
};
const num = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new PinholeError('INVALID_PARAMS', `--${name} must be a number, not "${value}"`);
  }
  return n;
};

export async function trainCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      images: { type: 'string' },
      out: { type: 'string' },
      rank: { type: 'string' },
      alpha: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      'weight-decay': { type: 'string' },
      'max-grad-norm': { type: 'string' },
      seed: { type: 'string' },
      resolution: { type: 'string' },
      'no-shuffle': { type: 'boolean', default: false },
      'init-lora': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.model || !values.images || !values.out) {
    throw new PinholeError('INVALID_PARAMS', `--model, --images and --out are required.\nUsage: ${TRAIN_USAGE}`);
  }
  const parsed = TrainParams.safeParse({
    model: path.resolve(values.model),
    images: path.resolve(values.images),
    out: path.resolve(values.out),
    rank: int('rank', values.rank),
    alpha: num('alpha', values.alpha),
    steps: int('steps', values.steps),
    batch: int('batch', values.batch),
    lr: num('lr', values.lr),
    optimizer: values.optimizer,
    weightDecay: num('weight-decay', values['weight-decay']),
    maxGradNorm: num('max-grad-norm', values['max-grad-norm']),
    seed: values.seed,
    resolution: int('resolution', values.resolution),
    shuffle: values['no-shuffle'] ? false : undefined,
    initLora: values['init-lora'] ? path.resolve(values['init-lora']) : undefined,
  });
  if (!parsed.success) throw new PinholeError('INVALID_PARAMS', describeIssues(parsed.error));

  const { out } = ctx;
  const connection = await connectForCommand(ctx, { runJobs: 'own', events: true });
  try {
    const { jobId, seed } = await connection.call('train.start', { request: parsed.data });
    out.info(`Training with seed ${seed} (job ${jobId})`);
    // Step lines go out live while they arrive in order; progress events are throttled, so any
    // step missed is printed from the job's result (exact losses), keeping the lines in order.
    let printed = 0;
    const final = await followJobToSuccess(connection, jobId, 'training', (job) => {
      const p = job.progress;
      if (p && out.json && p.step === printed + 1) {
        const step = stepMetrics(p);
        if (step) {
          out.line({ event: 'step', step: p.step, loss: step.loss, lr: step.lr });
          printed = p.step;
        }
      }
      const step = p ? stepMetrics(p) : null;
      out.progress(step ? `Training (loss ${step.loss.toFixed(4)})` : 'Training', p);
    }).finally(() => out.endProgress());
    const result = final.result as TrainJobResult;
    if (out.json) {
      for (let i = printed; i < result.losses.length; i++) {
        out.line({ event: 'step', step: i + 1, loss: result.losses[i], lr: result.lrs[i] });
      }
      out.line({
        event: 'done',
        file: result.file,
        steps: result.steps,
        loss: result.losses.at(-1) ?? null,
        rank: result.rank,
        alpha: result.alpha,
        modules: result.modules,
        datasetSize: result.datasetSize,
        seed,
        msPerStep: result.timings.msPerStep,
        totalMs: result.timings.totalMs,
      });
    } else {
      out.info(
        `${result.file}  ${result.steps} steps  final loss ${result.losses.at(-1)?.toFixed(4) ?? '-'}  rank ${result.rank} alpha ${result.alpha}  ${result.timings.msPerStep.toFixed(0)} ms/step`,
        true,
      );
    }
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

/** A training step's loss and learning rate from the job's progress, or null. */
function stepMetrics(progress: JobProgress): { loss: number; lr: number } | null {
  const loss = progress.metrics?.['loss'];
  const lr = progress.metrics?.['lr'];
  return loss === undefined || lr === undefined ? null : { loss, lr };
}
