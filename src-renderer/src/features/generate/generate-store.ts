/**
 * The Generate page's own state: the form (its text and numbers persisted in localStorage, so
 * a reload keeps them; images are kept for the session only, as they can be megabytes), and
 * the job the page is watching with the seed it was started with.
 */
import { create } from 'zustand';
import { createJSONStorage, persist } from 'zustand/middleware';
import type { GenerateParams, ImageRef } from '../../../../src-shared/api/schemas';
import {
  DEFAULT_VALUES,
  formFromRequest,
  sanitizeValues,
  type FormInputs,
  type FormValues,
  type InitImage,
} from './form-model';

/** The job on show: its id and the seed it runs with (chosen by the core when random). */
export type CurrentRun = { jobId: string; seed: string };

/** Generate slice. */
export type GenerateState = FormInputs & {
  current: CurrentRun | null;
  /** The last preview the current job sent (progress events carry one only every few steps). */
  preview: { jobId: string; dataUrl: string } | null;
  /** Mask brush diameter in screen pixels. */
  brushSize: number;
};

type Persisted = FormValues & { current: CurrentRun | null; brushSize: number };

const STORAGE_KEY = 'pinhole.generate';

function restore(stored: unknown, current: GenerateState): GenerateState {
  const source = (typeof stored === 'object' && stored !== null ? stored : {}) as Record<string, unknown>;
  const run = source['current'] as Partial<CurrentRun> | null | undefined;
  const brush = source['brushSize'];
  return {
    ...current,
    ...sanitizeValues(stored),
    current:
      run && typeof run.jobId === 'string' && typeof run.seed === 'string'
        ? { jobId: run.jobId, seed: run.seed }
        : null,
    brushSize: typeof brush === 'number' && brush >= 1 && brush <= 200 ? brush : current.brushSize,
  };
}

/** The Generate slice. */
export const useGenerateStore = create<GenerateState>()(
  persist(
    (): GenerateState => ({
      ...DEFAULT_VALUES,
      initImage: null,
      mask: null,
      current: null,
      preview: null,
      brushSize: 24,
    }),
    {
      name: STORAGE_KEY,
      version: 1,
      storage: createJSONStorage(() => window.localStorage),
      partialize: (s): Persisted => {
        const values = Object.fromEntries(
          Object.keys(DEFAULT_VALUES).map((key) => [key, s[key as keyof FormValues]]),
        ) as FormValues;
        return { ...values, current: s.current, brushSize: s.brushSize };
      },
      merge: (stored, current) => restore(stored, current),
    },
  ),
);

/** Sets form fields. */
export function setFormValues(values: Partial<FormValues>): void {
  useGenerateStore.setState(values);
}

/** Sets (or removes) the init image; a new image drops the old mask. */
export function setInitImage(image: InitImage | null): void {
  useGenerateStore.setState({ initImage: image, mask: null });
}

/** Records the size of the init image once it has been decoded. */
export function setInitImageSize(src: string, width: number, height: number): void {
  useGenerateStore.setState((s) =>
    s.initImage && s.initImage.src === src ? { initImage: { ...s.initImage, width, height } } : s,
  );
}

/** Sets (or clears) the inpainting mask. */
export function setMask(mask: ImageRef | null): void {
  useGenerateStore.setState({ mask });
}

/** Sets the mask brush size. */
export function setBrushSize(brushSize: number): void {
  useGenerateStore.setState({ brushSize });
}

/**
 * Fills the whole form from a request (the gallery's "Use settings"); the seed comes along. With `keepModel` the
 * form keeps its model (an imported PNG names one the library does not have).
 */
export function applyRequest(request: GenerateParams, keepModel = false): void {
  const { model, ...rest } = formFromRequest(request);
  useGenerateStore.setState(keepModel ? rest : { ...rest, model });
}

/** Watches a job from now on. */
export function watchRun(run: CurrentRun): void {
  useGenerateStore.setState({ current: run, preview: null });
}

/** Keeps the newest preview of the watched job. */
export function notePreview(jobId: string, dataUrl: string): void {
  useGenerateStore.setState((s) =>
    s.current?.jobId === jobId && s.preview?.dataUrl !== dataUrl ? { preview: { jobId, dataUrl } } : s,
  );
}

/** Locks the seed to `seed` (the "reuse seed" button). */
export function reuseSeed(seed: string): void {
  useGenerateStore.setState({ seedMode: 'fixed', seed });
}
