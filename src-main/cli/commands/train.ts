/**
 * `pinhole train --model DIR (--dataset NAME | --images DIR) --out FILE.safetensors [options]`:
 * queues a LoRA training run (GPU lane, in the engine process), shows a progress bar (step/total,
 * loss, smoothed loss, lr, it/s, ETA) and writes a kohya LoRA. Checkpoints and samples of a CLI run
 * live next to the LoRA in `<out>.checkpoints/`; `--resume` continues from the newest one there.
 * With --json, stdout has one line per event, in order: `{"event":"caching","done","total"}`,
 * `{"event":"step","step","totalSteps","loss","smoothLoss","lr",…}` per optimizer step (exactly one
 * each, see train-event-lines.ts), `{"event":"sample",…}` and `{"event":"checkpoint",…}` after their
 * step, then `{"event":"done","file","libraryName",…}`. The LoRA is also kept in the models library
 * (a copy: the --out file stays the user's).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeIssues, TrainParams, type JobProgress } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';
import type { CommandContext } from '../command';
import { connectForCommand } from '../connection';
import { EXIT } from '../exit-codes';
import { followJobToSuccess } from '../follow-job';
import { modelArgument } from '../model-argument';
import { TrainEventLines, type TrainLinesResult } from '../train-event-lines';
import { conversionPrinter } from '../model-conversion';
import { conversionProgress } from '../../studio';

/** The train job's result, as the CLI reads it. */
type TrainJobResult = TrainLinesResult & {
  file: string;
  rank: number;
  alpha: number;
  modules: number;
  datasetSize: number;
  timings: { totalMs: number; msPerStep: number };
  /** The models-library LoRA it became (absent from older versions, null when it could not be kept). */
  lora?: { name: string; file: string } | null;
  libraryError?: string;
};

export const TRAIN_USAGE =
  'pinhole train --model DIR (--dataset NAME | --images DIR) --out FILE.safetensors [--preset sd1|sd2|sdxl]\n' +
  '                 [--rank R] [--alpha A] [--steps N] [--batch B] [--lr X] [--optimizer adamw|sgd] [--weight-decay W]\n' +
  '                 [--lr-schedule constant|cosine] [--warmup N] [--max-grad-norm X] [--seed S] [--resolution PX]\n' +
  '                 [--buckets | --no-buckets] [--no-shuffle] [--repeats N] [--flip] [--caption-dropout P]\n' +
  '                 [--trigger WORD] [--noise-offset X] [--min-snr-gamma G] [--text-encoder] [--text-encoder-lr X]\n' +
  '                 [--conv-rank R] [--conv-alpha A] [--init-lora FILE] [--sample-every N --sample-prompt TEXT…]\n' +
  '                 [--sample-steps N] [--save-every N] [--resume] [--save-precision fp32|fp16|bf16]\n' +
  '                 [--gradient-checkpointing] [--json]';

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
/** A boolean flag: true when given, else absent (the preset or the default decides). */
const flag = (value: boolean | undefined) => (value ? true : undefined);

const OPTIONS = {
  model: { type: 'string' },
  dataset: { type: 'string' },
  images: { type: 'string' },
  out: { type: 'string' },
  preset: { type: 'string' },
  rank: { type: 'string' },
  alpha: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  'weight-decay': { type: 'string' },
  'lr-schedule': { type: 'string' },
  warmup: { type: 'string' },
  'max-grad-norm': { type: 'string' },
  seed: { type: 'string' },
  resolution: { type: 'string' },
  buckets: { type: 'boolean' },
  'no-buckets': { type: 'boolean' },
  'no-shuffle': { type: 'boolean' },
  repeats: { type: 'string' },
  flip: { type: 'boolean' },
  'caption-dropout': { type: 'string' },
  trigger: { type: 'string' },
  'noise-offset': { type: 'string' },
  'min-snr-gamma': { type: 'string' },
  'text-encoder': { type: 'boolean' },
  'text-encoder-lr': { type: 'string' },
  'conv-rank': { type: 'string' },
  'conv-alpha': { type: 'string' },
  'init-lora': { type: 'string' },
  'sample-every': { type: 'string' },
  'sample-prompt': { type: 'string', multiple: true },
  'sample-steps': { type: 'string' },
  'save-every': { type: 'string' },
  resume: { type: 'boolean' },
  'save-precision': { type: 'string' },
  'gradient-checkpointing': { type: 'boolean' },
  json: { type: 'boolean', default: false },
} as const;

/** The command line as `TrainParams` (validated); INVALID_PARAMS naming the flag otherwise. */
export function parseTrainArgs(argv: string[]): TrainParams {
  const { values: v } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (!v.model || !v.out || (v.dataset === undefined) === (v.images === undefined)) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `--model, --out and one of --dataset or --images are required.\nUsage: ${TRAIN_USAGE}`,
    );
  }
  if (v.buckets && v['no-buckets'])
    throw new PinholeError('INVALID_PARAMS', '--buckets and --no-buckets contradict each other');
  const model = modelArgument(v.model);
  const parsed = TrainParams.safeParse({
    // A library name goes to the core as given: `train.start` resolves it to its converted checkpoint.
    model: model.kind === 'name' ? model.name : model.path,
    dataset: v.dataset,
    images: v.images !== undefined ? path.resolve(v.images) : undefined,
    out: path.resolve(v.out),
    preset: v.preset,
    rank: int('rank', v.rank),
    alpha: num('alpha', v.alpha),
    steps: int('steps', v.steps),
    batch: int('batch', v.batch),
    lr: num('lr', v.lr),
    optimizer: v.optimizer,
    weightDecay: num('weight-decay', v['weight-decay']),
    lrSchedule: v['lr-schedule'],
    warmupSteps: int('warmup', v.warmup),
    maxGradNorm: num('max-grad-norm', v['max-grad-norm']),
    seed: v.seed,
    resolution: int('resolution', v.resolution),
    buckets: v.buckets ? true : v['no-buckets'] ? false : undefined,
    shuffle: v['no-shuffle'] ? false : undefined,
    repeats: int('repeats', v.repeats),
    flip: flag(v.flip),
    captionDropout: num('caption-dropout', v['caption-dropout']),
    trigger: v.trigger,
    noiseOffset: num('noise-offset', v['noise-offset']),
    minSnrGamma: num('min-snr-gamma', v['min-snr-gamma']),
    textEncoder: flag(v['text-encoder']),
    textEncoderLr: num('text-encoder-lr', v['text-encoder-lr']),
    convRank: int('conv-rank', v['conv-rank']),
    convAlpha: num('conv-alpha', v['conv-alpha']),
    initLora: v['init-lora'] !== undefined ? path.resolve(v['init-lora']) : undefined,
    sampleEvery: int('sample-every', v['sample-every']),
    samplePrompts: v['sample-prompt'],
    sampleSteps: int('sample-steps', v['sample-steps']),
    saveEvery: int('save-every', v['save-every']),
    resume: flag(v.resume),
    savePrecision: v['save-precision'],
    gradientCheckpointing: flag(v['gradient-checkpointing']),
  });
  if (!parsed.success) throw new PinholeError('INVALID_PARAMS', describeIssues(parsed.error));
  return parsed.data;
}

export async function trainCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const request = parseTrainArgs(argv);
  if (request.resume && !existsSync(`${request.out}.checkpoints`)) {
    throw new PinholeError(
      'NOT_FOUND',
      `Nothing to resume: no checkpoints in ${request.out}.checkpoints/ (a run with this --out and --save-every writes them).`,
    );
  }

  const { out } = ctx;
  const connection = await connectForCommand(ctx, { runJobs: 'own', events: true });
  try {
    const { jobId, seed } = await connection.call('train.start', { request });
    out.info(`Training with seed ${seed} (job ${jobId})`);
    const lines = new TrainEventLines(out, request.resume === true);
    // A single-file checkpoint is converted inside the job first: the same lines as `generate` prints for it.
    const converting = conversionPrinter(out, request.model);
    const final = await followJobToSuccess(connection, jobId, 'training', (job) => {
      const p = job.progress;
      const conversion = p ? conversionProgress(p) : undefined;
      if (conversion && (out.json || !out.bars)) {
        converting(conversion);
        return;
      }
      if (p) lines.progress(p);
      out.progress('Training', p ? { ...p, message: progressMessage(p) } : null);
    }).finally(() => out.endProgress());
    const result = final.result as TrainJobResult;
    lines.finish(result);
    if (out.json) {
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
        checkpoints: result.artifacts?.checkpoints.length ?? 0,
        bestStep: result.artifacts?.bestStep ?? null,
        // Its name in the studio's models library (`<lora:NAME>`), null when it could not be added.
        libraryName: result.lora?.name ?? null,
      });
      if (result.libraryError) out.info(result.libraryError);
    } else {
      out.info(
        `${result.file}  ${result.steps} steps  final loss ${result.losses.at(-1)?.toFixed(4) ?? '-'}  rank ${result.rank} alpha ${result.alpha}  ${result.timings.msPerStep.toFixed(0)} ms/step`,
        true,
      );
      const best = result.artifacts?.bestStep;
      if (best !== null && best !== undefined) out.info(`Best checkpoint by validation loss: step ${best}`);
      if (result.lora) out.info(`In the models library as "${result.lora.name}" (<lora:${result.lora.name}>)`);
      if (result.libraryError) out.info(result.libraryError);
    }
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

/** `loss 0.1234 (avg 0.1250) lr 1.00e-4 2.31 it/s`, or the caching count. */
function progressMessage(p: JobProgress): string {
  const m = p.metrics ?? {};
  if (m['cachingTotal'] !== undefined && m['loss'] === undefined) return p.message ?? 'Caching';
  if (m['loss'] === undefined) return p.message ?? '';
  const parts = [`loss ${m['loss'].toFixed(4)}`];
  if (m['smoothLoss'] !== undefined) parts.push(`(avg ${m['smoothLoss'].toFixed(4)})`);
  if (m['lr'] !== undefined) parts.push(`lr ${m['lr'].toExponential(2)}`);
  if (m['stepsPerSec'] !== undefined) parts.push(`${m['stepsPerSec'].toFixed(2)} it/s`);
  return parts.join(' ');
}
