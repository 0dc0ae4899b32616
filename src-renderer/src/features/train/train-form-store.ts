/**
 * The Train form's fields, as typed (strings; empty = the preset's or the default value). Kept in
 * a store so switching pages keeps what the user entered.
 */
import { create } from 'zustand';
import { TrainParams } from '../../../../src-shared/api/schemas';
import type { TrainPresetName } from '../../../../src-shared/api/train-presets';

/** Form slice. */
export type TrainFormState = {
  model: string;
  preset: TrainPresetName | '';
  trigger: string;
  steps: string;
  resolution: string;
  rank: string;
  alpha: string;
  lr: string;
  lrSchedule: '' | 'constant' | 'cosine';
  warmupSteps: string;
  saveEvery: string;
  sampleEvery: string;
  /** One sample prompt per line. */
  samplePrompts: string;
  flip: '' | 'on' | 'off';
  captionDropout: string;
  seed: string;
};

const INITIAL: TrainFormState = {
  model: '',
  preset: '',
  trigger: '',
  steps: '',
  resolution: '',
  rank: '',
  alpha: '',
  lr: '',
  lrSchedule: '',
  warmupSteps: '',
  saveEvery: '',
  sampleEvery: '',
  samplePrompts: '',
  flip: '',
  captionDropout: '',
  seed: '',
};

/** The form slice. */
export const useTrainFormStore = create<TrainFormState>(() => INITIAL);

/** Sets some fields. */
export function setTrainForm(values: Partial<TrainFormState>): void {
  useTrainFormStore.setState(values);
}

const number = (text: string): number | undefined => (text.trim() === '' ? undefined : Number(text));

/** The request the form describes for `dataset`, or the first problem (field and message). */
export function trainRequestFromForm(
  form: TrainFormState,
  dataset: string,
): { ok: true; request: TrainParams } | { ok: false; error: string } {
  const prompts = form.samplePrompts
    .split('\n')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const parsed = TrainParams.safeParse({
    model: form.model,
    dataset,
    preset: form.preset || undefined,
    trigger: form.trigger.trim() || undefined,
    steps: number(form.steps),
    resolution: number(form.resolution),
    rank: number(form.rank),
    alpha: number(form.alpha),
    lr: number(form.lr),
    lrSchedule: form.lrSchedule || undefined,
    warmupSteps: number(form.warmupSteps),
    saveEvery: number(form.saveEvery),
    sampleEvery: number(form.sampleEvery),
    samplePrompts: prompts.length > 0 ? prompts : undefined,
    flip: form.flip === '' ? undefined : form.flip === 'on',
    captionDropout: number(form.captionDropout),
    seed: form.seed.trim() || undefined,
  });
  if (parsed.success) return { ok: true, request: parsed.data };
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  return { ok: false, error: `${field ? `${field}: ` : ''}${issue?.message ?? 'invalid settings'}` };
}
