/**
 * Frozen base weights in float16: half the memory of the model's weights on GPU providers. The
 * builders cast each float16 weight to float32 where it is used (`Layers.param`), so activations,
 * the LoRA, gradients and optimizer state stay float32.
 */
import { float32ToFloat16Array, isExternal, type Tensor } from '../graph';
import { type WeightSource } from '../models';
import { type ExecutionProviderName } from '../runtime';

/** How the frozen base weights are stored: 'auto' = float16 on GPU providers, float32 on the CPU. */
export type BaseWeightsPrecision = 'auto' | 'float32' | 'float16';

/** The dtype 'auto' means on `provider` (CONTRACTS: the CPU keeps float32 base weights). */
export function resolveBaseWeights(
  precision: BaseWeightsPrecision,
  provider: ExecutionProviderName,
): 'float32' | 'float16' {
  if (precision !== 'auto') return precision;
  return provider === 'cpu' ? 'float32' : 'float16';
}

/**
 * `source` with every float32 weight served as float16: lazy file references are converted
 * when the model is written (their `sourceDtype` says what the file holds), in-memory tensors
 * right away. Other dtypes pass unchanged.
 */
export function halfPrecisionWeights(source: WeightSource): WeightSource {
  const half = (t: Tensor): Tensor => {
    if (t.dtype !== 'float32') return t;
    if (isExternal(t.data))
      return { ...t, dtype: 'float16', data: { ...t.data, sourceDtype: t.data.sourceDtype ?? 'float32' } };
    return { ...t, dtype: 'float16', data: float32ToFloat16Array(t.data as Float32Array) };
  };
  return { has: (name) => source.has(name), get: (name) => half(source.get(name)), names: () => source.names() };
}
