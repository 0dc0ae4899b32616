/**
 * Architecture configs beside a single-file checkpoint (`model.safetensors` + `model.config.json`, as A1111 reads
 * a `model.yaml` beside a checkpoint, but in diffusers' terms, like `from_single_file(config=…)`): the diffusers
 * configs of the UNet, VAE and text encoders (whole, or the fields that differ), laid over the configs inferred from
 * the weights. For models that
 * depart from their family's conventions in what the weights cannot show (attention head counts above all); the
 * scheduler and tokenizers still follow the family. Every field the weights' shapes decide must agree with the given
 * config where it sets it, so a config for another model is refused rather than half-applied.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import type { ModelComponents } from './components';

export type ArchitecturePart = 'unet' | 'vae' | 'text_encoder' | 'text_encoder_2';
const PARTS: readonly ArchitecturePart[] = ['unet', 'vae', 'text_encoder', 'text_encoder_2'];

/** Configs by component; a component without one keeps its inferred config. */
export type ArchitectureConfigs = Partial<Record<ArchitecturePart, Record<string, unknown>>>;

/** Fields the weights' shapes decide: a given config must agree with the inferred one on each it sets. */
const SHAPE_FIELDS: Readonly<Record<'unet' | 'vae' | 'text', readonly string[]>> = {
  unet: [
    'in_channels',
    'out_channels',
    'block_out_channels',
    'layers_per_block',
    'cross_attention_dim',
    'use_linear_projection',
    'transformer_layers_per_block',
    'down_block_types',
    'up_block_types',
    'addition_embed_type',
    'addition_time_embed_dim',
    'projection_class_embeddings_input_dim',
    'time_embedding_dim',
  ],
  vae: ['in_channels', 'out_channels', 'block_out_channels', 'layers_per_block', 'latent_channels'],
  text: [
    'hidden_size',
    'intermediate_size',
    'num_hidden_layers',
    'vocab_size',
    'max_position_embeddings',
    'projection_dim',
  ],
};

/** The sidecar file beside a checkpoint: `model.safetensors` → `model.config.json`. */
export function architectureSidecar(checkpoint: string): string {
  return path.join(path.dirname(checkpoint), `${path.basename(checkpoint, path.extname(checkpoint))}.config.json`);
}

/**
 * Reads the sidecar beside a single-file checkpoint, when there is one: `{"unet": {…}, "vae": {…},
 * "text_encoder": {…}, "text_encoder_2": {…}}`, each (any may be left out) a diffusers / transformers
 * `config.json` as a diffusers folder has it.
 * @returns undefined when the checkpoint has no sidecar.
 * @throws PinholeError `IMPORT_REJECTED` naming the sidecar when it is not such an object.
 */
export async function readArchitectureConfigs(checkpoint: string): Promise<ArchitectureConfigs | undefined> {
  const file = architectureSidecar(checkpoint);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PinholeError('IMPORT_REJECTED', `${file} is not valid JSON`, { cause: error });
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(value)) throw new PinholeError('IMPORT_REJECTED', `${file} is not a JSON object`);
  const configs: ArchitectureConfigs = {};
  for (const [part, config] of Object.entries(value)) {
    if (!PARTS.includes(part as ArchitecturePart) || !isObject(config)) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${file}: "${part}" is not one of ${PARTS.join(', ')} with a config object`,
      );
    }
    configs[part as ArchitecturePart] = config;
  }
  return configs;
}

/** Equal values; a scalar where the inferred config has a list (diffusers takes `1` for `[1, 1, 1, 1]`) stands for it. */
function sameValue(inferred: unknown, given: unknown): boolean {
  if (Array.isArray(inferred) && !Array.isArray(given)) return inferred.every((v) => sameValue(v, given));
  return JSON.stringify(inferred ?? null) === JSON.stringify(given ?? null);
}

/** The inferred config with the given one's fields over it, after checking those the shapes decide. */
function merged(
  part: ArchitecturePart,
  inferred: Readonly<Record<string, unknown>>,
  given: Readonly<Record<string, unknown>>,
  fields: readonly string[],
  file: string,
): Record<string, unknown> {
  for (const field of fields) {
    if (!(field in given)) continue;
    if (!sameValue(inferred[field], given[field])) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${file}: the given ${part} config says ${field} = ${JSON.stringify(given[field])}, ` +
          `but the weights have ${JSON.stringify(inferred[field] ?? null)}`,
      );
    }
  }
  return { ...inferred, ...given };
}

/**
 * The components with the given configs' fields over the inferred ones (a sidecar may give a whole diffusers config
 * or only what differs, e.g. `{"text_encoder": {"num_attention_heads": 4}}`); the native resolution follows the
 * UNet's `sample_size`.
 * @throws PinholeError `IMPORT_REJECTED` naming the file, the component and the field where a shape disagrees.
 */
export function applyArchitectureConfigs(
  components: ModelComponents,
  configs: ArchitectureConfigs,
  file: string,
): ModelComponents {
  let { unet, vae, textEncoder, textEncoder2, nativeResolution } = components;
  if (configs.unet) unet = { ...unet, config: merged('unet', unet.config, configs.unet, SHAPE_FIELDS.unet, file) };
  if (configs.vae) vae = { ...vae, config: merged('vae', vae.config, configs.vae, SHAPE_FIELDS.vae, file) };
  if (configs.text_encoder) {
    const config = merged('text_encoder', textEncoder.config, configs.text_encoder, SHAPE_FIELDS.text, file);
    textEncoder = { ...textEncoder, config };
  }
  if (configs.text_encoder_2 && textEncoder2) {
    const config = merged('text_encoder_2', textEncoder2.config, configs.text_encoder_2, SHAPE_FIELDS.text, file);
    textEncoder2 = { ...textEncoder2, config };
  }
  const sample = unet.config['sample_size'];
  const blocks = vae.config['block_out_channels'];
  if (typeof sample === 'number' && Array.isArray(blocks)) nativeResolution = sample * 2 ** (blocks.length - 1);
  return { ...components, unet, vae, textEncoder, textEncoder2, nativeResolution };
}
