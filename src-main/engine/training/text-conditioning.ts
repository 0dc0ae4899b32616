/**
 * Caption → the UNet's text conditioning for training, computed with the model folder's own text
 * encoder(s) (diffusers layout), cached per (encoder identity, caption):
 * - SD 1.x / 2.x: `last_hidden_state` [77, hidden] (the reference loop's `text_encoder(ids)[0]`);
 * - SDXL: the penultimate hidden states of both encoders concatenated [77, h1 + h2], and the pooled
 *   embeddings = `text_embeds` of the second (as CONTRACTS.md states for generation).
 * Sessions are created on the first cache miss only, so a fully cached run runs no text encoder.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildClipTextModel, safetensorsWeights, type ClipTextConfig } from '../models';
import { type InferenceBackend, type RawSession } from '../runtime';
import { ClipTokenizer } from '../text';
import { SafetensorsFile } from '../weights';
import { modelPartIdentity, type TrainingCache } from './latent-cache';
import { createBuiltSession } from './built-model';

export type TextConditioning = {
  /** [tokens, hidden] float32. */
  cond: Float32Array;
  /** SDXL: [projection dim] float32. */
  pooled?: Float32Array | undefined;
  /** Token ids per encoder (padded to 77), for a run that trains the text encoder(s). */
  ids?: Int32Array | undefined;
  ids2?: Int32Array | undefined;
};

type EncoderPart = {
  dir: string;
  tokenizerDir: string;
  config: ClipTextConfig;
  /** hidden_size and num_hidden_layers with transformers' defaults. */
  hidden: number;
  layers: number;
  session?: RawSession;
  tokenizer?: ClipTokenizer;
};

export class TrainingTextEncoder {
  private constructor(
    private readonly parts: EncoderPart[],
    private readonly identity: string,
    private readonly backend: InferenceBackend,
    private readonly cache: TrainingCache,
    /** [tokens, hidden]. */
    readonly condDims: [number, number],
    /** SDXL's pooled width; undefined otherwise. */
    readonly pooledDim: number | undefined,
  ) {}

  /** Reads the encoder configs (one for SD 1.x/2.x, two for SDXL); nothing is built yet. */
  static async open(
    modelDir: string,
    sdxl: boolean,
    backend: InferenceBackend,
    cache: TrainingCache,
  ): Promise<TrainingTextEncoder> {
    const names = sdxl
      ? [
          ['text_encoder', 'tokenizer'],
          ['text_encoder_2', 'tokenizer_2'],
        ]
      : [['text_encoder', 'tokenizer']];
    const parts: EncoderPart[] = [];
    const ids: string[] = [];
    for (const [enc, tok] of names) {
      const dir = path.join(modelDir, enc!);
      const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as ClipTextConfig;
      const hidden = config.hidden_size ?? 512;
      parts.push({ dir, tokenizerDir: tok!, config, hidden, layers: config.num_hidden_layers ?? 12 });
      ids.push(await modelPartIdentity(path.join(dir, 'config.json'), path.join(dir, 'model.safetensors')));
    }
    const hidden = parts.reduce((s, p) => s + p.hidden, 0);
    const tokens = parts[0]!.config.max_position_embeddings ?? 77;
    const pooledDim = sdxl ? (parts[1]!.config.projection_dim ?? parts[1]!.hidden) : undefined;
    return new TrainingTextEncoder(parts, ids.join(':'), backend, cache, [tokens, hidden], pooledDim);
  }

  /** The padded token ids of `caption` for each encoder (tokenizers only, no session). */
  async tokenize(modelDir: string, caption: string): Promise<{ ids: Int32Array; ids2?: Int32Array }> {
    const ids: Int32Array[] = [];
    for (const part of this.parts) {
      part.tokenizer ??= await ClipTokenizer.fromModelFolder(modelDir, part.tokenizerDir);
      ids.push(Int32Array.from(part.tokenizer.encodePadded(caption).ids));
    }
    return ids.length > 1 ? { ids: ids[0]!, ids2: ids[1]! } : { ids: ids[0]! };
  }

  /** The conditioning for `caption` (from the cache when there). */
  async encode(modelDir: string, caption: string): Promise<TextConditioning> {
    const condLen = this.condDims[0] * this.condDims[1];
    const total = condLen + (this.pooledDim ?? 0);
    const key = { v: 1, model: this.identity, caption };
    let flat = await this.cache.get('text', key, total);
    if (!flat) {
      flat = await this.run(modelDir, caption, total);
      await this.cache.put('text', key, flat);
    }
    const cond = flat.slice(0, condLen);
    return this.pooledDim === undefined ? { cond } : { cond, pooled: flat.slice(condLen) };
  }

  private async run(modelDir: string, caption: string, total: number): Promise<Float32Array> {
    const sdxl = this.pooledDim !== undefined;
    const [tokens] = this.condDims;
    const out = new Float32Array(total);
    let offset = 0;
    const hiddenParts: Float32Array[] = [];
    for (const [k, part] of this.parts.entries()) {
      part.tokenizer ??= await ClipTokenizer.fromModelFolder(modelDir, part.tokenizerDir);
      if (!part.session) {
        const file = await SafetensorsFile.open(path.join(part.dir, 'model.safetensors'));
        try {
          const model = buildClipTextModel(part.config, safetensorsWeights(file), {
            hiddenStates: sdxl ? 'all' : 'none',
          });
          part.session = await createBuiltSession(this.backend, model, { executionProvider: 'cpu' });
        } finally {
          await file.close();
        }
      }
      const ids = part.tokenizer.encodePadded(caption).ids;
      const enc = await part.session.run({ input_ids: { type: 'int32', data: ids, dims: [1, ids.length] } });
      const name = sdxl ? `hidden_states.${part.layers - 1}` : 'last_hidden_state';
      hiddenParts.push(enc[name]!.data as Float32Array);
      if (sdxl && k === 1) out.set(enc['text_embeds']!.data as Float32Array, tokens * this.condDims[1]);
    }
    // Concatenate along the hidden axis, token by token.
    for (let t = 0; t < tokens; t++) {
      for (const [k, h] of hiddenParts.entries()) {
        const width = this.parts[k]!.hidden;
        out.set(h.subarray(t * width, (t + 1) * width), offset);
        offset += width;
      }
    }
    return out;
  }

  async release(): Promise<void> {
    for (const part of this.parts) {
      await part.session?.release();
      delete part.session;
    }
  }
}
