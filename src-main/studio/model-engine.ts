/**
 * Where the models library meets the engine's checkpoint reader: the inspection that accepts or
 * rejects a file (kind, family, variant, native resolution; nothing in a file is executed), and
 * the conversion of a single-file checkpoint into the cached model folder the engine runs. This
 * module is the one place that joins them.
 */
import { cachedSha256, inspectModelFile as inspectWithEngine, type ConvertProgress } from '../engine';
import { convertedModelsDir, resolveModelSource, type ModelConverter } from '../generation';
import type { ModelInspector, ModelLibrary } from '../models';
import type { DataHome } from '../platform/data-home';

/** The engine's inspection, in the library's terms (variants joined: "inpaint, v-prediction"). */
export const inspectModelFile: ModelInspector = async (file) => {
  const info = await inspectWithEngine(file);
  return {
    kind: info.kind,
    family: info.family,
    variant: info.variants && info.variants.length > 0 ? info.variants.join(', ') : undefined,
    nativeResolution: info.nativeResolution,
  };
};

/**
 * Single-file checkpoints and diffusers folders → cached model folders in the data home; ONNX folders as they are
 * (or linked beside a separate VAE). A library checkpoint's stored prediction type applies unless the caller
 * overrides it, so generation and training convert it alike.
 */
export function modelConverter(home: DataHome, models?: ModelLibrary): ModelConverter {
  return (fileOrFolder, { signal, onProgress, vae, prediction, precision }) => {
    const stored = models?.resolve(fileOrFolder, 'checkpoint')?.record.prediction ?? undefined;
    const chosen = prediction ?? stored;
    return resolveModelSource(fileOrFolder, home.root, {
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress: (p: ConvertProgress) => onProgress(p.stage, p.fraction) } : {}),
      ...(vae ? { vae } : {}),
      ...(chosen ? { prediction: chosen } : {}),
      ...(precision ? { precision } : {}),
    });
  };
}

/** A file's SHA-256, remembered per file version in the conversion cache (which computes the same ones). */
export function hashModelFile(home: DataHome): (file: string, signal: AbortSignal | undefined) => Promise<string> {
  return (file, signal) => cachedSha256(file, convertedModelsDir(home.root), signal);
}
