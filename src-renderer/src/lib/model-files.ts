/**
 * Which dropped files are model files. Shared by the window-wide drop (src/app), which sends them
 * to the models library from any page, and by the pages' own drop zones, which leave them alone
 * so a mixed drop (photos and a checkpoint) puts each file where it belongs.
 */

/** Name endings the models library imports: checkpoints, LoRAs, VAEs and embeddings. */
export const MODEL_FILE_EXTENSIONS = ['.safetensors', '.ckpt', '.pt', '.bin', '.pth'] as const;

/** True for a model file's name (case-insensitive), judged by its ending only. */
export function isModelFile(name: string): boolean {
  const lower = name.toLowerCase();
  return MODEL_FILE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** The files that are not model files (what a photo or image drop zone takes). */
export function withoutModelFiles<T extends { name: string }>(files: readonly T[]): T[] {
  return files.filter((f) => !isModelFile(f.name));
}

/** Whether a drag carries files from outside the page (not selected text or a dragged link). */
export function carriesFiles(transfer: DataTransfer | null): boolean {
  return transfer !== null && Array.from(transfer.types).includes('Files');
}
