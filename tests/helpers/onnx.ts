/**
 * Running ONNX models in onnxruntime-node (CPU) and reading the fixtures' raw float32 files and
 * safetensors weights, as the engine's integration tests compare its graphs with the fixtures' exports.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { safetensorsWeights, type WeightSource } from '../../src-main/engine/models';
import { SafetensorsFile } from '../../src-main/engine/weights';

/** One CPU thread: the same numbers on every machine. */
export const CPU_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
};

/** Runs a model (a file or its bytes) once on `feeds` and releases the session. */
export async function runOnnx(
  source: string | Uint8Array,
  feeds: Record<string, ort.Tensor>,
  options: ort.InferenceSession.SessionOptions = CPU_SESSION_OPTIONS,
): Promise<Record<string, ort.Tensor>> {
  const session =
    typeof source === 'string'
      ? await ort.InferenceSession.create(source, options)
      : await ort.InferenceSession.create(source, options);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** A raw little-endian float32 file. */
export function readFloat32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** A safetensors weights file opened as a weight source, with the JSON config beside it (close `file` after). */
export async function openSafetensorsModel<Config>(
  weightsFile: string,
  configFile: string,
): Promise<{ config: Config; weights: WeightSource; file: SafetensorsFile }> {
  const file = await SafetensorsFile.open(weightsFile);
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as Config;
  return { config, weights: safetensorsWeights(file), file };
}
