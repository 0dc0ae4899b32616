/**
 * `pinhole generate --model DIR --prompt TEXT [options]`: queues a generation, shows a
 * progress bar, and writes the PNGs (with their A1111 parameters) where --out says. A single-file
 * checkpoint or diffusers folder is converted first, with its progress (model-conversion.ts). With --json,
 * stdout has one line per image (`{"file","sha256","seed","width","height"}`), preceded by
 * `{"event":"converting","stage","fraction"}` lines while a model is converted.
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GenerateParams } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';
import { describeIssues } from '../../../src-shared/api';
import { libraryImageFile } from '../../studio';
import type { CommandContext } from '../command';
import { connectForCommand } from '../connection';
import { EXIT } from '../exit-codes';
import { followJobToSuccess } from '../follow-job';
import { modelArgument } from '../model-argument';
import { convertAheadOfJob } from '../convert-ahead';

export const GENERATE_USAGE =
  'pinhole generate --model DIR --prompt TEXT [--negative TEXT] [--sampler euler|euler_a|ddim|dpmpp_2m|dpmpp_2m_karras|lcm|heun]\n' +
  '                 [--steps N] [--cfg X] [--seed N] [--width W] [--height H] [--batch N] [--count N] [--clip-skip N]\n' +
  '                 [--init IMAGE --strength S] [--mask IMAGE] [--lora FILE[:WEIGHT]]...\n' +
  '                 [--vae NAME|FILE] [--prediction epsilon|v_prediction] [--out FILE.png] [--json]';

/** `--lora FILE[:WEIGHT]` → { path, weight } (weight 1 by default; a Windows drive's colon is not a weight). */
export function parseLoraArg(value: string): { path: string; weight: number } {
  const m = /^(.+):([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)$/i.exec(value);
  const file = m ? m[1]! : value;
  const weight = m ? Number(m[2]) : 1;
  if (file === '' || !Number.isFinite(weight)) {
    throw new PinholeError('INVALID_PARAMS', `--lora must be FILE or FILE:WEIGHT, not "${value}"`);
  }
  return { path: path.resolve(file), weight };
}

const int = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new PinholeError('INVALID_PARAMS', `--${name} must be a whole number, not "${value}"`);
  return Number(value);
};
const num = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new PinholeError('INVALID_PARAMS', `--${name} must be a number, not "${value}"`);
  return n;
};

/** `out.png` for one image; `out-1.png`, `out-2.png`… for several. */
export function outputNames(out: string, count: number): string[] {
  if (count === 1) return [out];
  const ext = path.extname(out) || '.png';
  const base = out.slice(0, out.length - path.extname(out).length);
  return Array.from({ length: count }, (_, i) => `${base}-${i + 1}${ext}`);
}

export async function generateCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      negative: { type: 'string' },
      sampler: { type: 'string' },
      steps: { type: 'string' },
      cfg: { type: 'string' },
      seed: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      batch: { type: 'string' },
      count: { type: 'string' },
      'clip-skip': { type: 'string' },
      init: { type: 'string' },
      strength: { type: 'string' },
      mask: { type: 'string' },
      lora: { type: 'string', multiple: true },
      vae: { type: 'string' },
      prediction: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.model || values.prompt === undefined) {
    throw new PinholeError('INVALID_PARAMS', `--model and --prompt are required.\nUsage: ${GENERATE_USAGE}`);
  }
  // A library name is resolved (and its checkpoint converted) by the generate job, which records its hash; a
  // file or folder is converted here first, with progress (convert-ahead.ts).
  const model = modelArgument(values.model);
  const vae = values.vae === undefined ? undefined : modelArgument(values.vae);
  const parsed = GenerateParams.safeParse({
    model: model.kind === 'name' ? model.name : model.path,
    prompt: values.prompt,
    negativePrompt: values.negative,
    sampler: values.sampler,
    steps: int('steps', values.steps),
    cfgScale: num('cfg', values.cfg),
    seed: values.seed,
    width: int('width', values.width),
    height: int('height', values.height),
    batchSize: int('batch', values.batch),
    batchCount: int('count', values.count),
    clipSkip: int('clip-skip', values['clip-skip']),
    strength: num('strength', values.strength),
    initImage: values.init ? { path: path.resolve(values.init) } : undefined,
    maskImage: values.mask ? { path: path.resolve(values.mask) } : undefined,
    loras: values.lora && values.lora.length > 0 ? values.lora.map(parseLoraArg) : undefined,
    vae: vae === undefined ? undefined : vae.kind === 'name' ? vae.name : vae.path,
    prediction: values.prediction,
  });
  if (!parsed.success) throw new PinholeError('INVALID_PARAMS', describeIssues(parsed.error));

  const { out } = ctx;
  const connection = await connectForCommand(ctx, { runJobs: 'own', events: true });
  try {
    if (model.kind === 'path') {
      await convertAheadOfJob(connection, out, ctx.dataDir, {
        model: model.path,
        vae,
        prediction: parsed.data.prediction,
      });
    }
    const { jobId, seed } = await connection.call('generate.start', { request: parsed.data });
    out.info(`Generating with seed ${seed} (job ${jobId})`);
    const final = await followJobToSuccess(connection, jobId, 'generation', (job) =>
      out.progress('Generating', job.progress),
    ).finally(() => out.endProgress());
    const { images } = final.result as { images: { sha256: string; seed: string; width: number; height: number }[] };
    const files = values.out ? outputNames(path.resolve(values.out), images.length) : [];
    for (const [i, image] of images.entries()) {
      const file = files[i] ?? null;
      if (file) await copyFile(libraryImageFile(ctx.dataDir, image.sha256), file);
      if (out.json) out.line({ file, ...image });
      else out.info(`${file ?? image.sha256}  seed ${image.seed}  ${image.width}×${image.height}`, true);
    }
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}
