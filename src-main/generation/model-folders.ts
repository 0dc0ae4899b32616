/**
 * Model folders the studio offers besides the library's files: every folder with a
 * `model_index.json` in the data home's models/ folder and in $PINHOLE_MODELS (a path list).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { ModelEntry } from '../../src-shared/api';
import { loadModelFolder } from '../engine';

export function modelRoots(dataHomeModels: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = (env['PINHOLE_MODELS'] ?? '').split(path.delimiter).filter(Boolean);
  return [dataHomeModels, ...extra.map((p) => path.resolve(p))];
}

export async function listModelFolders(roots: readonly string[]): Promise<ModelEntry[]> {
  const found: ModelEntry[] = [];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    // A root that is itself a model folder counts too.
    const candidates = existsSync(path.join(root, 'model_index.json'))
      ? [root]
      : readdirSync(root, { withFileTypes: true })
          .filter((e) => e.isDirectory() && existsSync(path.join(root, e.name, 'model_index.json')))
          .map((e) => path.join(root, e.name));
    for (const dir of candidates.sort()) {
      try {
        const folder = await loadModelFolder(dir);
        found.push(folderEntry(folder.name, dir, folder.traits.family, null));
      } catch (error) {
        found.push(folderEntry(path.basename(dir), dir, null, (error as Error).message));
      }
    }
  }
  return found;
}

/** A model folder as the models list shows it: a checkpoint from source `folder`, not a library row. */
function folderEntry(name: string, dir: string, family: string | null, error: string | null): ModelEntry {
  return {
    id: null,
    name,
    path: dir,
    kind: 'checkpoint',
    family,
    variant: null,
    nativeResolution: null,
    sizeBytes: null,
    sha256: null,
    shortHash: null,
    source: 'folder',
    origin: dir,
    addedAt: null,
    lastUsedAt: null,
    isDefault: false,
    prediction: null,
    error,
  };
}
