/**
 * The models the Generate page offers until the model manager arrives: every folder with a
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
        found.push({ name: folder.name, path: dir, family: folder.traits.family, error: null });
      } catch (error) {
        found.push({ name: path.basename(dir), path: dir, family: null, error: (error as Error).message });
      }
    }
  }
  return found;
}
