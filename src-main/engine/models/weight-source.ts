/**
 * Where a builder's weights come from, by diffusers state-dict name. A diffusers folder reads
 * its safetensors lazily; single-file checkpoints (the model manager) map their own keys onto
 * these names; tests build tiny random weights in memory.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type DType, type Tensor } from '../graph';
import { type SafetensorsFile } from '../weights';

export interface WeightSource {
  has(name: string): boolean;
  /** The tensor (possibly a lazy reference to file bytes); throws naming the key when absent. */
  get(name: string): Tensor;
  names(): Iterable<string>;
}

/** Weights of one safetensors file, as lazy references converted to `dtype` when written or run. */
export function safetensorsWeights(file: SafetensorsFile, dtype: DType = 'float32'): WeightSource {
  return {
    has: (name) => file.has(name),
    get: (name) => {
      if (!file.has(name)) {
        throw new PinholeError('IMPORT_REJECTED', `${file.path}: the weight "${name}" is missing`);
      }
      return file.ref(name, { dtype });
    },
    names: () => file.names,
  };
}

/** Weights held in memory (tests, converted checkpoints). */
export function memoryWeights(tensors: ReadonlyMap<string, Tensor>, label = 'weights'): WeightSource {
  return {
    has: (name) => tensors.has(name),
    get: (name) => {
      const t = tensors.get(name);
      if (!t) throw new PinholeError('IMPORT_REJECTED', `${label}: the weight "${name}" is missing`);
      return t;
    },
    names: () => tensors.keys(),
  };
}
