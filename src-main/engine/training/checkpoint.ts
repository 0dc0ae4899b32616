/**
 * Training checkpoints: at step S, two files in the checkpoint folder, each written under a temporary
 * name and renamed (writeSafetensors), the state first:
 * - `step-000S.state.safetensors`: the LoRA's tensors, the AdamW moments of each optimizer k
 *   (`optimizer<k>.m.<i>`, `optimizer<k>.v.<i>` in the trainer's parameter order) and, in the metadata key
 *   `pinhole_training_state`, JSON with the step, the optimizers' step counts, the generator's state, the
 *   batch order's drawn passes, and the run's history so far (losses, learning rates, earlier
 *   checkpoints, sample images);
 * - `step-000S.safetensors`: the LoRA as a kohya file (usable as it is; "keep this checkpoint").
 * A checkpoint counts once its LoRA file exists, so a crash between the two writes leaves the previous
 * checkpoint as the newest.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { tensorToFloat32, type Tensor } from '../graph';
import { kohyaKeys, kohyaTensors, type LoraWeights } from '../lora';
import { type TorchGeneratorState } from '../random';
import { SafetensorsFile, writeSafetensors } from '../weights';
import type { BatchOrderState } from './batch-order';
import { AdamW, type Optimizer } from './optimizers';
import { sha256 } from './latent-cache';
import type { TrainCheckpoint, TrainRequest, TrainSample } from './train-api';

const STATE_KEY = 'pinhole_training_state';

export type TrainingState = {
  version: 1;
  /** Optimizer steps done. */
  step: number;
  /** `settingsFingerprint` of the run that wrote it: a resume with other settings is refused. */
  settings: string;
  /** Each optimizer's step count (the UNet's, then the text encoders' own). */
  optimizerSteps: number[];
  generator: TorchGeneratorState;
  order: BatchOrderState;
  losses: number[];
  lrs: number[];
  checkpoints: TrainCheckpoint[];
  samples: TrainSample[];
};

export type CheckpointFiles = { lora: string; state: string };

export function checkpointFiles(dir: string, step: number): CheckpointFiles {
  const base = path.join(dir, `step-${String(step).padStart(6, '0')}`);
  return { lora: `${base}.safetensors`, state: `${base}.state.safetensors` };
}

/** Writes the state file, then the LoRA file (with `metadata`). */
export async function writeCheckpoint(
  dir: string,
  lora: LoraWeights,
  optimizers: readonly Optimizer[],
  state: TrainingState,
  loraFile: (file: string) => Promise<void>,
): Promise<CheckpointFiles> {
  const files = checkpointFiles(dir, state.step);
  const tensors: Tensor[] = kohyaTensors(lora);
  optimizers.forEach((optimizer, k) => {
    if (!(optimizer instanceof AdamW)) return;
    const add = (kind: 'm' | 'v', data: Float32Array, i: number) =>
      tensors.push({ name: `optimizer${k}.${kind}.${i}`, dtype: 'float32', dims: [data.length], data: data.slice() });
    optimizer.m.forEach((m, i) => add('m', m, i));
    optimizer.v.forEach((v, i) => add('v', v, i));
  });
  await writeSafetensors(files.state, tensors, { [STATE_KEY]: JSON.stringify(state) });
  await loraFile(files.lora);
  return files;
}

/**
 * What a resumed run must share with the run that wrote the checkpoint: every setting that shapes the
 * training stream except where files go, how often to save or sample, and the step count.
 */
export function settingsFingerprint(request: TrainRequest): string {
  const ignored = new Set<string>([
    'out',
    'cacheDir',
    'checkpointDir',
    'saveEvery',
    'resume',
    'sampleEvery',
    'samplePrompts',
    'sampleSeed',
    'sampleSteps',
    'steps',
    // Metadata only: names the file `model` was converted from, which `model` already stands for.
    'baseModelFile',
  ]);
  const kept = Object.entries(request)
    .filter(([key, value]) => !ignored.has(key) && value !== undefined)
    .map(([key, value]) => [key, typeof value === 'bigint' ? value.toString() : value] as const)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return sha256(JSON.stringify(kept));
}

/** The newest complete checkpoint's step in `dir` (undefined when there is none). */
export async function newestCheckpoint(dir: string): Promise<number | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const steps = names
    .map((n) => /^step-(\d+)\.state\.safetensors$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((s) => names.includes(path.basename(checkpointFiles(dir, s).lora)))
    .sort((a, b) => b - a);
  return steps[0];
}

/**
 * Restores a checkpoint into `lora` and `optimizer` (in place) and returns its state.
 * @throws PinholeError `INVALID_PARAMS` when the checkpoint does not fit this run (other modules or
 *   shapes, another optimizer) or is damaged.
 */
export async function readCheckpoint(
  dir: string,
  step: number,
  lora: LoraWeights,
  optimizers: readonly Optimizer[],
  settings: string,
): Promise<TrainingState> {
  const { state: file } = checkpointFiles(dir, step);
  const bad = (why: string): never => {
    throw new PinholeError('INVALID_PARAMS', `${file}: cannot resume from this checkpoint: ${why}`);
  };
  const st = await SafetensorsFile.open(file);
  try {
    const json = st.metadata[STATE_KEY];
    if (json === undefined) bad('no training state in it');
    const state = JSON.parse(json!) as TrainingState;
    if (state.version !== 1 || state.step !== step) bad('unknown format');
    if (state.settings !== settings) {
      bad(
        'it was written by a run with other settings (model, data, LoRA, optimizer or seed); start a new run instead',
      );
    }
    const read = async (name: string, length: number): Promise<Float32Array> => {
      if (!st.names.includes(name)) bad(`${name} is missing (another LoRA or optimizer?)`);
      const data = tensorToFloat32(await st.read(name, { dtype: 'float32' }));
      if (data.length !== length) bad(`${name} has ${data.length} values, this run needs ${length}`);
      return data;
    };
    for (const m of lora.modules.values()) {
      const keys = kohyaKeys(m.name);
      m.down.set(await read(keys.down, m.down.length));
      m.up.set(await read(keys.up, m.up.length));
    }
    if (state.optimizerSteps.length !== optimizers.length) bad('it was written with other optimizer settings');
    for (const [k, optimizer] of optimizers.entries()) {
      optimizer.steps = state.optimizerSteps[k]!;
      if (!(optimizer instanceof AdamW)) continue;
      const prefix = `optimizer${k}.`;
      const entries = st.entries().filter((e) => e.name.startsWith(`${prefix}m.`));
      if (entries.length === 0 && optimizer.steps > 0) bad('it holds no AdamW state');
      optimizer.m = [];
      optimizer.v = [];
      for (let i = 0; i < entries.length; i++) {
        const len = entries.find((e) => e.name === `${prefix}m.${i}`)?.shape[0] ?? -1;
        optimizer.m.push(await read(`${prefix}m.${i}`, len));
        optimizer.v.push(await read(`${prefix}v.${i}`, len));
      }
    }
    return state;
  } catch (error) {
    if (error instanceof PinholeError) throw error;
    throw new PinholeError('INVALID_PARAMS', `${file}: cannot resume from this checkpoint (damaged)`, { cause: error });
  } finally {
    await st.close();
  }
}
