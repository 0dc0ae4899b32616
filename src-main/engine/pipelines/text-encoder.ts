import { PinholeError } from '../../../src-shared/errors';
import { hostTensor, type ModelSession } from '../runtime';
import type { LayerNormParams } from './onnx-initializers';

/**
 * A CLIP text encoder session, adapted to how it was exported: `input_ids` int32 or int64, a fixed or dynamic
 * batch, `last_hidden_state` plus optional `hidden_states.0…N` (optimum exports those for SDXL), and a pooled
 * output (`text_embeds` with a projection, `pooler_output` without).
 */

/** Which layer the UNet is conditioned on. */
export type LayerChoice =
  /** The encoder's output (after its final layer norm). */
  | { readonly kind: 'last' }
  /**
   * `hidden_states[-fromEnd]` (1 = the last layer's raw output, 2 = the penultimate), optionally passed through
   * the final layer norm as A1111 and diffusers do for clip skip on SD 1.x/2.x.
   */
  | { readonly kind: 'hidden'; readonly fromEnd: number; readonly norm?: LayerNormParams & { readonly eps: number } };

/** Encoder outputs for `n` sequences. */
export interface EncoderOutput {
  /** float32 [n, tokens, channels]. */
  readonly hidden: Float32Array;
  readonly n: number;
  readonly tokens: number;
  readonly channels: number;
  /** float32 [n, pooledDim]: `text_embeds` (projected) when declared, else `pooler_output`; absent if neither. */
  readonly pooled?: Float32Array;
  readonly pooledDim: number;
}

/** `y = (x − mean) / √(var + ε) · w + b` over the last axis of [rows, channels], in place. */
export function layerNorm(values: Float32Array, channels: number, norm: LayerNormParams, eps: number): void {
  for (let row = 0; row < values.length / channels; row++) {
    const base = row * channels;
    let mean = 0;
    for (let c = 0; c < channels; c++) mean += values[base + c]!;
    mean /= channels;
    let variance = 0;
    for (let c = 0; c < channels; c++) variance += (values[base + c]! - mean) ** 2;
    variance /= channels;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < channels; c++) {
      values[base + c] = (values[base + c]! - mean) * inv * norm.weight[c]! + norm.bias[c]!;
    }
  }
}

export class TextEncoder {
  /** Number of `hidden_states.N` outputs (0 when the export has none). */
  readonly hiddenStateCount: number;

  constructor(readonly session: ModelSession) {
    this.hiddenStateCount = session.outputs.filter((o) => /^hidden_states\.\d+$/.test(o.name)).length;
  }

  /**
   * Encodes `n` id sequences of `length` tokens each.
   * @param ids int32 [n × length] (one 77-token chunk per row).
   * @throws PinholeError `INVALID_PARAMS` when the choice needs `hidden_states` outputs the export lacks.
   */
  async encode(ids: Int32Array, n: number, length: number, layer: LayerChoice): Promise<EncoderOutput> {
    const outputName = this.layerOutput(layer);
    const pooledName = this.session.output('text_embeds')
      ? 'text_embeds'
      : this.session.output('pooler_output')
        ? 'pooler_output'
        : undefined;
    const fetches = pooledName ? [outputName, pooledName] : [outputName];
    const idsSpec = this.session.requireInput('input_ids');
    const fixedBatch = typeof idsSpec.shape[0] === 'number' && idsSpec.shape[0] > 0 ? idsSpec.shape[0] : n;
    if (n % fixedBatch !== 0) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${this.session.modelPath} takes batches of ${fixedBatch} sequences, not ${n}`,
      );
    }
    const hiddenParts: Float32Array[] = [];
    const pooledParts: Float32Array[] = [];
    let tokens = length;
    let channels = 0;
    let pooledDim = 0;
    for (let start = 0; start < n; start += fixedBatch) {
      const slice = ids.subarray(start * length, (start + fixedBatch) * length);
      const out = await this.session.runFloat({ input_ids: hostTensor('int32', slice, [fixedBatch, length]) }, fetches);
      const hidden = out[outputName]!;
      tokens = hidden.dims[1] ?? length;
      channels = hidden.dims[2] ?? 0;
      hiddenParts.push(hidden.data);
      if (pooledName) {
        const pooled = out[pooledName]!;
        pooledDim = pooled.dims[pooled.dims.length - 1] ?? 0;
        pooledParts.push(pooled.data);
      }
    }
    const hidden = concat(hiddenParts);
    if (layer.kind === 'hidden' && layer.norm) {
      // `concat` copied the outputs, so the norm can work in place.
      layerNorm(hidden, channels, layer.norm, layer.norm.eps);
    }
    return {
      hidden,
      n,
      tokens,
      channels,
      ...(pooledName ? { pooled: concat(pooledParts) } : {}),
      pooledDim,
    };
  }

  /** The output name a layer choice reads. */
  layerOutput(layer: LayerChoice): string {
    if (layer.kind === 'last') return this.session.requireOutput('last_hidden_state').name;
    const count = this.hiddenStateCount;
    const index = count - layer.fromEnd;
    if (count === 0 || index < 0) {
      throw new PinholeError(
        'INVALID_PARAMS',
        count === 0
          ? `${this.session.modelPath} was exported without hidden_states outputs, so it cannot give an inner layer (clip skip)`
          : `${this.session.modelPath} has ${count} hidden states; layer ${layer.fromEnd} from the end does not exist`,
      );
    }
    return `hidden_states.${index}`;
  }
}

/** Concatenates float32 arrays into a new one (always a copy, so callers may modify it). */
export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
