import { PinholeError } from '../../../src-shared/errors';
import { stripNetworkTags } from '../lora';
import {
  applyTokenWeights,
  buildWeightedChunks,
  type ClipTokenizer,
  type TokenEmbedding,
  type WeightedChunk,
} from '../text';
import type { PlannedEmbedding, TextComponent } from './embedding-plan';
import type { ModelFamily } from './family';
import type { LayerNormParams } from './onnx-initializers';
import { concat, type LayerChoice, type TextEncoder } from './text-encoder';

/**
 * Prompt → text conditioning, A1111 style: prompt weighting and long prompts as 77-token chunks, each encoded
 * on its own, weighted, and concatenated along the token axis. For a prompt without weights that fits one chunk
 * this is exactly diffusers' encoding (the weighting step is the identity).
 */

/** A prompt's conditioning for one image. */
export interface Conditioning {
  /** float32 [tokens, channels]: 77 tokens per chunk. */
  readonly hidden: Float32Array;
  readonly tokens: number;
  readonly channels: number;
  /** SDXL: float32 [pooledDim], the second encoder's `text_embeds` of the first chunk. */
  readonly pooled?: Float32Array;
  readonly pooledDim: number;
}

/** One encoder with its tokenizer. */
export interface EncoderPart {
  readonly tokenizer: ClipTokenizer;
  readonly encoder: TextEncoder;
}

export interface PromptEncoderOptions {
  readonly family: ModelFamily;
  /** A1111's clip skip: 1 = the last layer (default), 2 = the penultimate, … */
  readonly clipSkip?: number;
  /** Parse A1111's weighting syntax (default true); false treats brackets as text. */
  readonly emphasis?: boolean;
  /** Loads the first encoder's final layer norm (needed for clip skip > 1 on SD 1.x/2.x). */
  readonly finalNorm?: () => Promise<LayerNormParams>;
  /** The encoder's `layer_norm_eps` (1e-5 for CLIP). */
  readonly layerNormEps?: number;
  /** Textual-inversion embeddings the encoders have rows for (their names are replaced by their vectors). */
  readonly embeddings?: readonly PlannedEmbedding[];
}

/**
 * Encodes prompts with one encoder (SD 1.x/2.x) or two (SDXL).
 * - SD 1.x/2.x: `last_hidden_state`, or with clip skip k > 1 `hidden_states[-k]` through the final layer norm.
 * - SDXL: both encoders' `hidden_states[-(k + 1)]` (the penultimate layer by default, no final norm),
 *   concatenated along channels; pooled = `text_embeds` of the second encoder.
 */
export class PromptEncoder {
  private emptyCache: Promise<Conditioning> | undefined;

  constructor(
    private readonly first: EncoderPart,
    private readonly second: EncoderPart | undefined,
    private readonly options: PromptEncoderOptions,
  ) {
    if (options.family === 'sdxl' && !second) throw new PinholeError('INTERNAL', 'SDXL needs two text encoders');
  }

  /**
   * The conditioning of `prompt`. Extra-network tags (`<lora:…>`) are removed first, as A1111 does (the LoRAs
   * themselves are merged into the models); embedding names become their vectors.
   */
  async encode(text: string): Promise<Conditioning> {
    const prompt = stripNetworkTags(text);
    const emphasis = this.options.emphasis ?? true;
    const chunkOptions = (part: EncoderPart, component: TextComponent) => ({
      emphasis,
      embeddings: this.tokenEmbeddings(part, component),
    });
    const chunks = buildWeightedChunks(this.first.tokenizer, prompt, chunkOptions(this.first, 'text_encoder'));
    const clipSkip = this.options.clipSkip ?? 1;
    if (this.options.family !== 'sdxl') {
      const layer: LayerChoice =
        clipSkip > 1
          ? {
              kind: 'hidden',
              fromEnd: clipSkip,
              norm: { ...(await this.loadNorm()), eps: this.options.layerNormEps ?? 1e-5 },
            }
          : { kind: 'last' };
      const out = await encodeChunks(this.first, chunks, layer);
      return { hidden: out.hidden, tokens: out.tokens, channels: out.channels, pooledDim: 0 };
    }
    const second = this.second!;
    const chunks2 = buildWeightedChunks(second.tokenizer, prompt, chunkOptions(second, 'text_encoder_2'));
    if (chunks2.length !== chunks.length) {
      throw new PinholeError(
        'INTERNAL',
        `the two tokenizers split the prompt into ${chunks.length} and ${chunks2.length} chunks`,
      );
    }
    const layer: LayerChoice = { kind: 'hidden', fromEnd: clipSkip + 1 };
    const a = await encodeChunks(this.first, chunks, layer);
    const b = await encodeChunks(second, chunks2, layer);
    if (!b.pooled || b.pooledDim === 0) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${second.encoder.session.modelPath} has no text_embeds output (SDXL's pooled embedding)`,
      );
    }
    const channels = a.channels + b.channels;
    const hidden = new Float32Array(a.tokens * channels);
    for (let t = 0; t < a.tokens; t++) {
      hidden.set(a.hidden.subarray(t * a.channels, (t + 1) * a.channels), t * channels);
      hidden.set(b.hidden.subarray(t * b.channels, (t + 1) * b.channels), t * channels + a.channels);
    }
    // A1111 keeps the pooled embedding of the first chunk.
    const pooled = b.pooled.slice(0, b.pooledDim);
    return { hidden, tokens: a.tokens, channels, pooled, pooledDim: b.pooledDim };
  }

  /** The empty prompt's conditioning (one chunk), cached: A1111 pads the shorter of prompt and negative with it. */
  empty(): Promise<Conditioning> {
    this.emptyCache ??= this.encode('');
    return this.emptyCache;
  }

  /** The embeddings as one encoder's chunker sees them: its tokens of each name, and the ids of the vectors. */
  private tokenEmbeddings(part: EncoderPart, component: TextComponent): TokenEmbedding[] {
    return (this.options.embeddings ?? []).map((e) => {
      const ids = e.ids.get(component);
      if (!ids) throw new PinholeError('INTERNAL', `embedding ${e.inversion.name} has no rows in the ${component}`);
      return { nameIds: part.tokenizer.encode(e.inversion.name), ids };
    });
  }

  private async loadNorm(): Promise<LayerNormParams> {
    if (!this.options.finalNorm) throw new PinholeError('INTERNAL', 'clip skip needs the final layer norm');
    return this.options.finalNorm();
  }
}

/** Encodes every chunk (as one batch), applies each chunk's weights, and lays the chunks end to end. */
async function encodeChunks(
  part: EncoderPart,
  chunks: readonly WeightedChunk[],
  layer: LayerChoice,
): Promise<{ hidden: Float32Array; tokens: number; channels: number; pooled?: Float32Array; pooledDim: number }> {
  const length = part.tokenizer.maxLength;
  const ids = new Int32Array(chunks.length * length);
  chunks.forEach((chunk, i) => ids.set(chunk.ids, i * length));
  const out = await part.encoder.encode(ids, chunks.length, length, layer);
  const perChunk = out.tokens * out.channels;
  chunks.forEach((chunk, i) => {
    // All-ones weights leave a chunk unchanged (A1111's mean restore is then exactly 1), so skip the work.
    if (chunk.weights.every((w) => w === 1)) return;
    applyTokenWeights(out.hidden.subarray(i * perChunk, (i + 1) * perChunk), [out.tokens, out.channels], chunk.weights);
  });
  return {
    hidden: out.hidden,
    tokens: out.tokens * chunks.length,
    channels: out.channels,
    ...(out.pooled ? { pooled: out.pooled } : {}),
    pooledDim: out.pooledDim,
  };
}

/** A conditioning of zeros shaped like `like` (SDXL's negative for an empty prompt). */
export function zerosLike(like: Conditioning): Conditioning {
  return {
    hidden: new Float32Array(like.hidden.length),
    tokens: like.tokens,
    channels: like.channels,
    ...(like.pooled ? { pooled: new Float32Array(like.pooled.length) } : {}),
    pooledDim: like.pooledDim,
  };
}

/**
 * Pads the shorter of two conditionings with copies of the empty prompt's until both have as many tokens
 * (A1111's `pad_cond_uncond`), so prompt and negative run in one UNet batch. The pooled embedding is kept.
 */
export function padToSameLength(a: Conditioning, b: Conditioning, empty: Conditioning): [Conditioning, Conditioning] {
  const pad = (c: Conditioning, tokens: number): Conditioning => {
    if (c.tokens === tokens) return c;
    const missing = tokens - c.tokens;
    if (missing % empty.tokens !== 0 || c.channels !== empty.channels) {
      throw new PinholeError('INTERNAL', `cannot pad ${c.tokens} tokens to ${tokens} with chunks of ${empty.tokens}`);
    }
    const parts = [c.hidden];
    for (let i = 0; i < missing / empty.tokens; i++) parts.push(empty.hidden);
    return { ...c, hidden: concat(parts), tokens };
  };
  const tokens = Math.max(a.tokens, b.tokens);
  return [pad(a, tokens), pad(b, tokens)];
}
