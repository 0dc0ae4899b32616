/**
 * Where the models library meets the engine's checkpoint reader: the inspection that accepts or
 * rejects a file (kind, family, variant, native resolution; nothing in a file is executed), and
 * the conversion of a single-file checkpoint into the cached model folder the engine runs. This
 * module is the one place that joins them.
 */
import { inspectModelFile as inspectWithEngine, type ConvertProgress } from '../engine';
import { resolveModelSource, type ModelConverter } from '../generation';
import type { ModelInspector } from '../models';
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

/** Single-file checkpoints and diffusers folders → cached model folders in the data home; ONNX folders as they are. */
export function modelConverter(home: DataHome): ModelConverter {
  return (fileOrFolder, { signal, onProgress }) =>
    resolveModelSource(fileOrFolder, home.root, {
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress: (p: ConvertProgress) => onProgress(p.stage, p.fraction) } : {}),
    });
}
