/**
 * What another page hands to the Generate page (features never import each other): a request
 * to fill the form with ("Use settings" in the gallery), or a job it started for the Generate
 * page to watch ("Re-run"). The Generate page takes it once and clears it.
 */
import { create } from 'zustand';
import type { GenerateParams } from '../../../src-shared/api/schemas';

/**
 * One hand-over. `keepModel`: the settings name a model that is not in the library (an imported PNG's), so the
 * form keeps the model it has.
 */
export type GenerateHandoff =
  | { kind: 'use-settings'; request: GenerateParams; keepModel?: boolean }
  | { kind: 'watch'; jobId: string; seed: string };

/** Handoff slice: at most one pending hand-over. */
export type GenerateHandoffState = { pending: GenerateHandoff | null };

/** The handoff slice. */
export const useGenerateHandoffStore = create<GenerateHandoffState>(() => ({ pending: null }));

/** Leaves a hand-over for the Generate page (replacing one it has not taken yet). */
export function handOffToGenerate(handoff: GenerateHandoff): void {
  useGenerateHandoffStore.setState({ pending: handoff });
}

/** Takes the pending hand-over, if any, so it is applied once. */
export function takeGenerateHandoff(): GenerateHandoff | null {
  const { pending } = useGenerateHandoffStore.getState();
  if (pending) useGenerateHandoffStore.setState({ pending: null });
  return pending;
}
