/**
 * Textual-inversion embeddings (A1111's `modules/textual_inversion`): a name that, written in a prompt, stands
 * for a few learned token vectors. Files: one tensor (`emb_params` [n, width] in `.safetensors`,
 * `string_to_param.*` in A1111's `.pt`, [width] for one vector) for SD 1.x / 2.x, or `clip_l` [n, 768] and
 * `clip_g` [n, 1280] for SDXL's two encoders. The name is the file's name without extension, as in A1111.
 */
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { readTorchFile } from '../checkpoint';
import { tensorToFloat32, type Tensor } from '../graph';
import { SafetensorsFile } from '../weights';

/** Which encoder a set of vectors is for: the only one (SD 1.x / 2.x) or SDXL's first / second. */
export type EmbeddingPart = 'single' | 'clip_l' | 'clip_g';

/** One embedding's vectors: float32 [vectors, width] per part. */
export type TextualInversion = {
  readonly name: string;
  readonly file: string;
  /** Vectors per encoder (the tokens it takes in a prompt). */
  readonly vectors: number;
  readonly parts: ReadonlyMap<EmbeddingPart, { readonly data: Float32Array; readonly width: number }>;
};

/** A1111's embedding name for a file: its base name without extension. */
export function embeddingName(file: string): string {
  return path.basename(file).replace(/\.(safetensors|pt|bin)$/i, '');
}

/** An embedding file's tensors by name: safetensors keys, or a torch file's key paths (`string_to_param.*`). */
async function readEmbeddingTensors(file: string): Promise<Map<string, Tensor>> {
  if (/\.safetensors$/i.test(file)) {
    let source: SafetensorsFile;
    try {
      source = await SafetensorsFile.open(file);
    } catch (error) {
      if (error instanceof PinholeError) throw error;
      throw new PinholeError('NOT_FOUND', `Embedding file not found: ${file}`, { cause: error });
    }
    try {
      const out = new Map<string, Tensor>();
      for (const name of source.names) out.set(name, await source.read(name, { dtype: 'float32' }));
      return out;
    } finally {
      await source.close();
    }
  }
  // `.pt` / `.bin`: the restricted pickle reader (only tensors and plain containers; nothing is executed).
  return readTorchFile(file);
}

/**
 * Reads an embedding file: `.safetensors`, or A1111's `.pt` (`string_to_param` → `*`) and diffusers' `.bin`
 * (one tensor) through the restricted pickle reader.
 * @throws PinholeError `NOT_FOUND` for a missing file; `IMPORT_REJECTED` naming the file when it is not an
 *   embedding (several tensors that are not a `clip_l` / `clip_g` pair, a tensor that is not 1-D or 2-D, pairs
 *   with different vector counts, a pickle that is not plain data).
 */
export async function readTextualInversion(file: string, name = embeddingName(file)): Promise<TextualInversion> {
  const tensors = await readEmbeddingTensors(file);
  const reject = (why: string): never => {
    throw new PinholeError('IMPORT_REJECTED', `${file} is not a textual-inversion embedding: ${why}`);
  };
  const vectorsOf = (key: string) => {
    const t = tensors.get(key)!;
    if (t.dims.length === 1) return { data: tensorToFloat32(t), vectors: 1, width: t.dims[0]! };
    if (t.dims.length !== 2 || t.dims[0]! < 1) reject(`${key} is [${t.dims.join(', ')}], not [vectors, width]`);
    return { data: tensorToFloat32(t), vectors: t.dims[0]!, width: t.dims[1]! };
  };
  const names = [...tensors.keys()];
  const parts = new Map<EmbeddingPart, { data: Float32Array; width: number }>();
  let vectors: number;
  if (names.includes('clip_l') && names.includes('clip_g')) {
    const l = vectorsOf('clip_l');
    const g = vectorsOf('clip_g');
    if (l.vectors !== g.vectors) reject(`clip_l has ${l.vectors} vectors, clip_g ${g.vectors}`);
    parts.set('clip_l', l).set('clip_g', g);
    vectors = l.vectors;
  } else {
    // A1111's `.pt`: {"string_to_param": {"*": tensor}, "string_to_token": …, "name", "step", …}.
    const params = names.filter((n) => n.startsWith('string_to_param.'));
    const candidates = params.length > 0 ? params : names;
    if (candidates.length !== 1) {
      reject(`it holds ${candidates.length} tensors (${candidates.slice(0, 5).join(', ')}), not one`);
    }
    const only = vectorsOf(candidates[0]!);
    parts.set('single', only);
    vectors = only.vectors;
  }
  if (vectors > 75) reject(`${vectors} vectors do not fit a 75-token prompt chunk`);
  return { name, file, vectors, parts };
}
