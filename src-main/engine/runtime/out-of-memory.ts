import { PinholeError } from '../../../src-shared/errors';

/** Whether an onnxruntime failure looks like running out of (device) memory. */
export function isOutOfMemory(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /out of memory|failed to allocate|bad_alloc|allocation failed|OOM|E_OUTOFMEMORY/i.test(message);
}

/**
 * The error a user can act on when a run runs out of memory: activations grow with the image
 * size and the batch (attention quadratically with the latent's pixels), weights do not.
 */
export function outOfMemoryDuringRun(modelPath: string, provider: string, error: unknown): PinholeError {
  return new PinholeError(
    'UNAVAILABLE',
    `Out of memory running ${modelPath} on ${provider}. Try a smaller image size or batch size, ` +
      'or close other programs using the graphics card.',
    { cause: error },
  );
}
