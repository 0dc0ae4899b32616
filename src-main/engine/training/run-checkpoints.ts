/**
 * A run's history (losses, learning rates, checkpoints, samples) and its checkpoints: writing one
 * after a step (with validation loss) or on cancel, and restoring the newest on resume so the run
 * continues exactly where it stopped (see checkpoint.ts for the files).
 */
import { mkdir } from 'node:fs/promises';
import { writeKohyaLora, type LoraSaveDtype, type LoraWeights } from '../lora';
import { checkpointFiles, newestCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint';
import type { TrainCheckpoint, TrainEvent, TrainSample } from './train-api';
import type { TrainingLoop } from './trainer';

export type RunHistory = {
  losses: number[];
  lrs: number[];
  checkpoints: TrainCheckpoint[];
  samples: TrainSample[];
};

export class RunCheckpoints {
  history: RunHistory = { losses: [], lrs: [], checkpoints: [], samples: [] };

  constructor(
    /** undefined: no checkpoints (saving does nothing, resuming starts fresh). */
    private readonly dir: string | undefined,
    private readonly lora: LoraWeights,
    private readonly options: {
      /** `settingsFingerprint` of the request. */
      settings: string;
      /** The LoRA file's metadata after `step` steps. */
      metadata: (step: number) => Record<string, string>;
      dtype: LoraSaveDtype;
      emit: (event: TrainEvent) => void;
    },
  ) {}

  /** Writes the checkpoint of `step` (measuring validation loss first when `validate`). */
  async save(step: number, loop: TrainingLoop, validate: boolean): Promise<void> {
    if (this.dir === undefined) return;
    await mkdir(this.dir, { recursive: true });
    await loop.syncToHost();
    const validationLoss = validate ? await loop.validationLoss() : undefined;
    const entry: TrainCheckpoint = {
      step,
      file: checkpointFiles(this.dir, step).lora,
      ...(validationLoss !== undefined ? { validationLoss } : {}),
    };
    // The saved history lists this checkpoint too, so a run resumed from it still reports it.
    const checkpoints = [...this.history.checkpoints.filter((c) => c.step !== step), entry];
    const { losses, lrs, samples } = this.history;
    await writeCheckpoint(
      this.dir,
      this.lora,
      loop.optimizers,
      {
        version: 1,
        step,
        settings: this.options.settings,
        optimizerSteps: loop.optimizers.map((o) => o.steps),
        generator: loop.generator.getState(),
        order: loop.order.state(),
        losses,
        lrs,
        checkpoints,
        samples,
      },
      (file) => writeKohyaLora(file, this.lora, this.options.metadata(step), this.options.dtype),
    );
    this.history.checkpoints = checkpoints;
    this.options.emit({ kind: 'checkpoint', ...entry });
  }

  /** Restores the newest checkpoint into the loop; returns its step (undefined: none, start fresh). */
  async resume(loop: TrainingLoop): Promise<number | undefined> {
    if (this.dir === undefined) return undefined;
    const step = await newestCheckpoint(this.dir);
    if (step === undefined) return undefined;
    const state = await readCheckpoint(this.dir, step, this.lora, loop.optimizers, this.options.settings);
    loop.generator.setState(state.generator);
    loop.order.restore(state.order);
    this.history = {
      losses: [...state.losses],
      lrs: [...state.lrs],
      checkpoints: [...state.checkpoints],
      samples: [...state.samples],
    };
    return step;
  }

  /** The checkpoint with the lowest validation loss. */
  best(): TrainCheckpoint | undefined {
    return this.history.checkpoints
      .filter((c) => c.validationLoss !== undefined)
      .reduce<TrainCheckpoint | undefined>(
        (b, c) => (b === undefined || c.validationLoss! < b.validationLoss! ? c : b),
        undefined,
      );
  }
}
