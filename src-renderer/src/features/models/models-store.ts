/** UI state of the Models page: the import it watches and the browser upload in flight. */
import { create } from 'zustand';

export type ModelsUiState = {
  /** The `models-import` job whose outcomes the page shows (the latest one started here). */
  importJobId: string | null;
  /** Bytes sent of a browser upload in flight, or null. */
  upload: { sent: number; total: number } | null;
  /** What is happening before the job exists ("Uploading 2 files…"), or null. */
  busy: string | null;
  importError: string | null;
};

export const useModelsUiStore = create<ModelsUiState>(() => ({
  importJobId: null,
  upload: null,
  busy: null,
  importError: null,
}));

export function setModelsUi(patch: Partial<ModelsUiState>): void {
  useModelsUiStore.setState(patch);
}
