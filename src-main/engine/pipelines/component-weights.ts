/**
 * A model component's diffusers weights (`config.json` + `.safetensors`) as the engine builds graphs from them — a
 * VAE encoder, a text encoder with hidden states, LoRA-merged UNets and encoders: what keys a derived build, the
 * config parsed with an error naming the file, the weights opened and closed around the build.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PinholeError } from '../../../src-shared/errors';
import { fileStamp, type FileStamp } from '../runtime';
import { SafetensorsFile } from '../weights';

/** A component's diffusers config and weights. */
export interface ComponentWeightFiles {
  readonly config: string;
  readonly weights: string;
}

/**
 * A component's config text and the stamps a derived build is keyed on (the weights file's, and the config's with
 * its content hash), read now.
 * @throws PinholeError `NOT_FOUND` naming the weights when either file cannot be read.
 */
export async function readComponentSources(
  component: string,
  files: ComponentWeightFiles,
): Promise<{ configText: string; weights: FileStamp; config: FileStamp & { sha256: string } }> {
  try {
    const configText = await readFile(files.config, 'utf8');
    return {
      configText,
      weights: await fileStamp(files.weights),
      config: { ...(await fileStamp(files.config)), sha256: createHash('sha256').update(configText).digest('hex') },
    };
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Cannot read the ${component} weights ${files.weights}`, { cause: error });
  }
}

/**
 * `configText` (read from `file`) as a config object.
 * @throws PinholeError `IMPORT_REJECTED` "`file` is not a `label` config: why".
 */
export function parseComponentConfig<C>(file: string, configText: string, label: string): C {
  try {
    const parsed: unknown = JSON.parse(configText);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as C;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PinholeError('IMPORT_REJECTED', `${file} is not a ${label} config: ${reason}`, { cause: error });
  }
}

/**
 * Runs `use` with the component's weights open, closing them after.
 * @throws PinholeError `IMPORT_REJECTED` naming the file when it cannot be opened as safetensors.
 */
export async function withComponentWeights<T>(
  files: ComponentWeightFiles,
  use: (source: SafetensorsFile) => Promise<T>,
): Promise<T> {
  let source: SafetensorsFile;
  try {
    source = await SafetensorsFile.open(files.weights);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PinholeError('IMPORT_REJECTED', `Cannot read ${files.weights}: ${reason}`, { cause: error });
  }
  try {
    return await use(source);
  } finally {
    await source.close();
  }
}
