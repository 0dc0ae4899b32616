/**
 * Textual-inversion embeddings in a generation: which of the caller's embeddings the prompts use, and the extra
 * token rows each text encoder gets for them. The vectors become rows appended to the encoder's token table
 * (ids from its vocabulary size on; see `buildClipTextModel`'s `extraTokens`), so the tokens of an embedding's
 * name are replaced by its vectors' ids when the prompt is chunked — exactly A1111's replacement of the
 * token-embedding output at those positions. Without embeddings nothing of this runs and the folder's encoder is
 * used as it is.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PinholeError } from '../../../src-shared/errors';
import type { Tensor } from '../graph';
import { stripNetworkTags, type LoraComponent } from '../lora';
import { fileStamp, type FileStamp } from '../runtime';
import { cleanText, readTextualInversion, type EmbeddingPart, type TextualInversion } from '../text';
import { SafetensorsFile } from '../weights';

/** The text encoders an embedding can go into. */
export type TextComponent = Exclude<LoraComponent, 'unet'>;

/** An embedding a request uses, with the ids its vectors got in each text encoder. */
export interface PlannedEmbedding {
  readonly inversion: TextualInversion;
  readonly stamp: FileStamp;
  /** A1111's `TI hashes` value: the first 12 hex digits of the file's SHA-256. */
  readonly shortHash: string;
  /** The ids of its vectors, per text encoder (consecutive, from the encoder's vocabulary size on). */
  readonly ids: ReadonlyMap<TextComponent, readonly number[]>;
}

/** The embeddings of a request and the extra rows per text encoder. */
export interface EmbeddingPlan {
  readonly embeddings: readonly PlannedEmbedding[];
  /** float32 [rows, width] per text encoder that gets rows. */
  readonly rows: ReadonlyMap<TextComponent, Tensor>;
}

const TOKEN_TABLE = 'text_model.embeddings.token_embedding.weight';

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', resolve);
  });
  return hash.digest('hex');
}

/** The token table's [vocabulary, width] of a text encoder's weights file (read from the header only). */
async function tokenTable(weights: string): Promise<[number, number]> {
  const source = await SafetensorsFile.open(weights);
  try {
    if (!source.names.includes(TOKEN_TABLE)) {
      throw new PinholeError('IMPORT_REJECTED', `${weights} has no ${TOKEN_TABLE}, so embeddings cannot be added`);
    }
    const [vocab = 0, width = 0] = source.entry(TOKEN_TABLE).shape;
    return [vocab, width];
  } finally {
    await source.close();
  }
}

/**
 * The embeddings whose names the prompts mention (by text, then by tokens when `tokenizer` is given; chunking
 * matches the tokens per weighted run, as A1111 does), read and checked against the model's encoders.
 * @param table embedding name → file.
 * @param textWeights the weights file of each text encoder the model has (`text_encoder`, SDXL's `text_encoder_2`);
 *   undefined where the folder has no diffusers weights for it.
 * @param tokenizer the first encoder's tokenizer.
 * @throws PinholeError `IMPORT_REJECTED` naming the embedding when its vectors do not fit the model (an SD 1.x
 *   embedding on SDXL, a 768-wide one on SD 2.x, …), or when the model lacks an encoder's diffusers weights.
 */
export async function planEmbeddings(
  table: ReadonlyMap<string, string>,
  prompts: readonly string[],
  textWeights: ReadonlyMap<TextComponent, string | undefined>,
  tokenizer?: { encode(text: string): number[] },
): Promise<EmbeddingPlan> {
  const texts = prompts.map((p) => cleanText(stripNetworkTags(p)));
  const tokens = tokenizer ? texts.map((t) => tokenizer.encode(t)) : [];
  const names = [...table.keys()].filter((name) => {
    const clean = cleanText(name);
    if (clean === '' || !texts.some((t) => t.includes(clean))) return false;
    // The text test lets "cat" through in "category"; the tokens decide, as they do when the prompt is chunked.
    return !tokenizer || tokens.some((ids) => containsRun(ids, tokenizer.encode(name)));
  });
  names.sort();
  if (names.length === 0) return { embeddings: [], rows: new Map() };

  const sdxl = textWeights.has('text_encoder_2');
  const partOf = (component: TextComponent): EmbeddingPart =>
    component === 'text_encoder_2' ? 'clip_g' : sdxl ? 'clip_l' : 'single';
  const tables = new Map<TextComponent, [number, number]>();
  for (const [component, weights] of textWeights) {
    if (weights === undefined) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `The prompt uses the embedding "${names[0]}", so the model needs its diffusers text encoder weights: it has no ${component}/config.json + ${component}/model.safetensors`,
      );
    }
    tables.set(component, await tokenTable(weights));
  }

  const embeddings: PlannedEmbedding[] = [];
  const next = new Map<TextComponent, number>([...tables].map(([c, [vocab]]) => [c, vocab]));
  const chunks = new Map<TextComponent, Float32Array[]>();
  for (const name of names) {
    const file = table.get(name)!;
    const inversion = await readTextualInversion(file, name);
    const ids = new Map<TextComponent, number[]>();
    for (const [component, [, width]] of tables) {
      const part = inversion.parts.get(partOf(component));
      if (!part || part.width !== width) {
        const has = [...inversion.parts].map(([p, v]) => `${p} ${v.width} wide`).join(', ');
        throw new PinholeError(
          'IMPORT_REJECTED',
          `Embedding "${name}" (${file}) does not fit this model: its ${component} needs ${partOf(component) === 'single' ? '' : `${partOf(component)} `}vectors ${width} wide, the file has ${has}`,
        );
      }
      const first = next.get(component)!;
      ids.set(
        component,
        Array.from({ length: inversion.vectors }, (_, k) => first + k),
      );
      next.set(component, first + inversion.vectors);
      chunks.set(component, [...(chunks.get(component) ?? []), part.data]);
    }
    embeddings.push({ inversion, stamp: await fileStamp(file), shortHash: (await sha256(file)).slice(0, 12), ids });
  }
  const rows = new Map<TextComponent, Tensor>();
  for (const [component, parts] of chunks) {
    const width = tables.get(component)![1];
    const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      data.set(p, offset);
      offset += p.length;
    }
    rows.set(component, { name: 'extra_tokens', dtype: 'float32', dims: [data.length / width, width], data });
  }
  return { embeddings, rows };
}

/** Whether `run` occurs in `ids` as consecutive tokens. */
function containsRun(ids: readonly number[], run: readonly number[]): boolean {
  if (run.length === 0) return false;
  for (let i = 0; i + run.length <= ids.length; i++) {
    if (run.every((id, k) => ids[i + k] === id)) return true;
  }
  return false;
}

/** A1111's `TI hashes` infotext value: `name: hash, name: hash`. */
export function embeddingHashesInfotext(plan: EmbeddingPlan): string {
  return plan.embeddings.map((e) => `${e.inversion.name.replace(/[:,]/g, '')}: ${e.shortHash}`).join(', ');
}
