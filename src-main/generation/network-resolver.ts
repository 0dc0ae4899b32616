/**
 * What names in prompts stand for — `<lora:NAME:W>` and textual-inversion embeddings — for the engine, which
 * takes them as name → file tables (`GenerateRequest.networks`) and never looks for files itself.
 *
 * Names come first from the models library (its LoRAs and embeddings, by library name), then from the models
 * folders: `<root>/loras/NAME.safetensors` and `<root>/embeddings/NAME.{safetensors,pt}` for the data home's
 * `models/` folder and every $PINHOLE_MODELS root (A1111 names them by file name the same way). The first file
 * of a name wins.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelEntry } from '../../src-shared/api';
import { parseLoraTags, type PromptNetworks } from '../engine';

/** The kinds of file a prompt can name. */
export type NetworkKind = 'lora' | 'embedding';

/** A named file a prompt can use. */
export type NamedNetworkFile = { readonly name: string; readonly path: string; readonly sizeBytes: number | null };

/** Lists what prompts can name; the studio builds one, tests may fake it. */
export interface NetworkResolver {
  /** Every file of a kind, the first of each name only, library first. */
  list(kind: NetworkKind): Promise<NamedNetworkFile[]>;
}

const FOLDERS: Readonly<Record<NetworkKind, { dir: string; ext: RegExp }>> = {
  lora: { dir: 'loras', ext: /\.safetensors$/i },
  embedding: { dir: 'embeddings', ext: /\.(safetensors|pt)$/i },
};

/** The files of a kind in `<root>/loras/` or `<root>/embeddings/` of each root (missing folders are skipped). */
export async function listNetworkFolders(roots: readonly string[], kind: NetworkKind): Promise<NamedNetworkFile[]> {
  const { dir, ext } = FOLDERS[kind];
  const found: NamedNetworkFile[] = [];
  for (const root of roots) {
    const folder = path.join(root, dir);
    let names: string[];
    try {
      names = (await readdir(folder)).filter((n) => ext.test(n)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const file = path.join(folder, name);
      try {
        const info = await stat(file);
        if (info.isFile()) found.push({ name: name.replace(ext, ''), path: file, sizeBytes: info.size });
      } catch {
        // Removed while listing: not offered.
      }
    }
  }
  return found;
}

/**
 * The studio's resolver: the library's files (`library(kind)`, e.g. `ModelLibrary.list`), then the models
 * folders under `roots`.
 */
export function createNetworkResolver(options: {
  readonly roots: readonly string[];
  readonly library?: (kind: NetworkKind) => readonly Pick<ModelEntry, 'name' | 'path' | 'sizeBytes'>[];
}): NetworkResolver {
  return {
    list: async (kind) => {
      const all = [
        ...(options.library?.(kind) ?? []).map((e) => ({ name: e.name, path: e.path, sizeBytes: e.sizeBytes })),
        ...(await listNetworkFolders(options.roots, kind)),
      ];
      const seen = new Set<string>();
      return all.filter((f) => !seen.has(f.name) && seen.add(f.name));
    },
  };
}

/**
 * The name tables a request needs: the LoRAs its prompts' `<lora:…>` tags name (names nobody knows are left out:
 * the engine then says which), and every embedding (the engine reads only those a prompt uses).
 */
export async function promptNetworks(resolver: NetworkResolver, prompts: readonly string[]): Promise<PromptNetworks> {
  const names = new Set<string>();
  for (const prompt of prompts) {
    try {
      for (const tag of parseLoraTags(prompt)) names.add(tag.name);
    } catch {
      // A malformed tag: the engine reports it with the same parser.
    }
  }
  const loras: Record<string, string> = {};
  if (names.size > 0) {
    for (const file of await resolver.list('lora')) if (names.has(file.name)) loras[file.name] = file.path;
  }
  const embeddings: Record<string, string> = {};
  for (const file of await resolver.list('embedding')) embeddings[file.name] = file.path;
  return { loras, embeddings };
}

/**
 * The LoRAs or embeddings of the models folders as the models list shows them (source `folder`, not library
 * rows), leaving out names in `taken` (the library's, which win).
 */
export async function networkFolderEntries(
  roots: readonly string[],
  kind: NetworkKind,
  taken: ReadonlySet<string> = new Set(),
): Promise<ModelEntry[]> {
  const seen = new Set(taken);
  const entries: ModelEntry[] = [];
  for (const file of await listNetworkFolders(roots, kind)) {
    if (seen.has(file.name)) continue;
    seen.add(file.name);
    entries.push({
      id: null,
      name: file.name,
      path: file.path,
      kind,
      family: null,
      variant: null,
      nativeResolution: null,
      sizeBytes: file.sizeBytes,
      sha256: null,
      shortHash: null,
      source: 'folder',
      origin: file.path,
      addedAt: null,
      lastUsedAt: null,
      isDefault: false,
      prediction: null,
      error: null,
    });
  }
  return entries;
}
