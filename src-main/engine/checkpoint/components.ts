/**
 * A single-file checkpoint (A1111 / ComfyUI layout) split into diffusers components: UNet, VAE and
 * one or two text encoders, each as a config plus weights under diffusers / transformers names,
 * with the family's conventions (CONTRACTS: "Single-file checkpoints"). EMA weights
 * (`model_ema.*`) and other extra keys are ignored: the live weights are what A1111 and diffusers load.
 */
import { PinholeError } from '../../../src-shared/errors';
import { tensorToFloat32, type Tensor } from '../graph';
import { applyArchitectureConfigs, type ArchitectureConfigs } from './architecture-configs';
import { mapOpenClip, mapTransformersClip, underPrefix, type ClipComponent } from './clip-keys';
import {
  checkpointFamily,
  sd2Prediction,
  stateDictKind,
  TEXT_PREFIXES,
  type CheckpointFamily,
  type PredictionType,
} from './family';
import { type StateDict } from './state-dict';
import { diffusersUNetName, readUNetLayout, UNET_PREFIX, unetConfigFor } from './unet-keys';
import { isLdmVae, mapVaeWeights, readVaeLayout, VAE_PREFIX, vaeConfigFor } from './vae-keys';

export type Component = { config: Record<string, unknown>; weights: Map<string, Tensor> };

/** Everything a model folder is built from. */
export type ModelComponents = {
  family: CheckpointFamily;
  prediction: PredictionType;
  inpainting: boolean;
  /** Native image size in pixels (the UNet's `sample_size` × the VAE's scale). */
  nativeResolution: number;
  unet: Component;
  vae: Component;
  textEncoder: ClipComponent;
  textEncoder2: ClipComponent | undefined;
};

export type ComponentOptions = {
  /** Overrides the inferred prediction type (SD 2.x's v-prediction heuristic can be wrong for fine-tunes). */
  prediction?: PredictionType;
  /** Component configs that replace the inferred ones (see architecture-configs.ts). */
  architecture?: ArchitectureConfigs;
};

/** VAE latent scaling per family. */
export const VAE_SCALING: Readonly<Record<CheckpointFamily, number>> = { sd1: 0.18215, sd2: 0.18215, sdxl: 0.13025 };

function reject(file: string, reason: string): never {
  throw new PinholeError('IMPORT_REJECTED', `${file}: ${reason}`);
}

/** Why a state dict that is not a checkpoint cannot be converted as one. */
export function notACheckpoint(dict: StateDict): PinholeError {
  const names = [...dict.tensors.keys()];
  const kind = stateDictKind(names);
  const why =
    kind === 'lora'
      ? 'it is a LoRA, not a checkpoint (use it with --lora or import it as a LoRA)'
      : kind === 'vae'
        ? 'it is a VAE alone, not a checkpoint (give it as a model’s separate VAE)'
        : kind === 'embedding'
          ? 'it is a textual-inversion embedding, not a checkpoint'
          : names.length === 0
            ? 'it holds no tensors'
            : `its weights match no known model architecture (first keys: ${names.slice(0, 3).join(', ')})`;
  return new PinholeError('IMPORT_REJECTED', `${dict.path} is not a Stable Diffusion checkpoint: ${why}`);
}

/**
 * Splits a single-file checkpoint into components.
 * @throws PinholeError `IMPORT_REJECTED` naming the file: not a checkpoint (a LoRA, a VAE, …), an unknown
 *   architecture (e.g. SDXL's refiner, a UNet without text encoder), missing weights.
 */
export function singleFileComponents(dict: StateDict, options: ComponentOptions = {}): ModelComponents {
  const names = [...dict.tensors.keys()];
  if (stateDictKind(names) !== 'checkpoint') throw notACheckpoint(dict);
  // A LoRA saved under a checkpoint's module paths (`model.diffusion_model.….lora_down.weight`) is still a LoRA.
  const loraKey = names.find((n) => /\.(lora_(down|up|A|B)|hada_w\d_[ab]|lokr_w\d)(\.|$)/.test(n));
  if (loraKey !== undefined) {
    reject(dict.path, `it holds LoRA weights (${loraKey}), not a checkpoint's: use it as a LoRA, not as a model`);
  }
  const family =
    checkpointFamily(names) ??
    reject(
      dict.path,
      'the checkpoint has no text encoder of SD 1.x, SD 2.x or SDXL base (an unknown architecture, or SDXL’s refiner)',
    );
  const ldmUNet = underPrefix(dict.tensors, UNET_PREFIX);
  const layout = readUNetLayout(ldmUNet, dict.path);

  const textEncoder =
    family === 'sd1'
      ? mapTransformersClip(underPrefix(dict.tensors, TEXT_PREFIXES.sd1), dict.path)
      : family === 'sd2'
        ? mapOpenClip(underPrefix(dict.tensors, TEXT_PREFIXES.sd2), dict.path, true)
        : mapTransformersClip(underPrefix(dict.tensors, TEXT_PREFIXES.sdxl1), dict.path);
  const textEncoder2 =
    family === 'sdxl' ? mapOpenClip(underPrefix(dict.tensors, TEXT_PREFIXES.sdxl2), dict.path, false) : undefined;
  const context =
    (textEncoder.config['hidden_size'] as number) + ((textEncoder2?.config['hidden_size'] as number | undefined) ?? 0);
  if (context !== layout.crossAttentionDim) {
    reject(dict.path, `the UNet attends to ${layout.crossAttentionDim}-wide text, its text encoder gives ${context}`);
  }

  const ldmVae = underPrefix(dict.tensors, VAE_PREFIX);
  if (!isLdmVae(new Set(ldmVae.keys()))) reject(dict.path, 'the checkpoint has no VAE (first_stage_model.*)');
  const vaeLayout = readVaeLayout(ldmVae, dict.path);
  const vaeScale = 2 ** (vaeLayout.blockOutChannels.length - 1);

  const inpainting = layout.inChannels === 9;
  const prediction =
    options.prediction ??
    (family === 'sd2'
      ? sd2Prediction(new Set(names), (n) => tensorToFloat32(dict.tensors.get(n)!), layout.inChannels)
      : names.includes('v_pred')
        ? 'v_prediction'
        : 'epsilon');
  const nativeResolution = family === 'sdxl' ? 1024 : family === 'sd2' && prediction === 'v_prediction' ? 768 : 512;
  const pooled = textEncoder2?.config['projection_dim'] as number | undefined;
  const unetConfig = unetConfigFor(layout, family, Math.round(nativeResolution / vaeScale), pooled);

  const unetWeights = new Map<string, Tensor>();
  for (const [name, t] of ldmUNet) {
    const target = diffusersUNetName(name, layout);
    if (target) unetWeights.set(target, { ...t, name: target });
  }
  const components: ModelComponents = {
    family,
    prediction,
    inpainting,
    nativeResolution,
    unet: { config: unetConfig, weights: unetWeights },
    vae: { config: vaeConfigFor(vaeLayout, VAE_SCALING[family]), weights: mapVaeWeights(ldmVae, vaeLayout, dict.path) },
    textEncoder,
    textEncoder2,
  };
  return options.architecture ? applyArchitectureConfigs(components, options.architecture, dict.path) : components;
}

/** A standalone VAE file (LDM names, or a diffusers `AutoencoderKL` state dict) as a component. */
export function vaeComponent(dict: StateDict, family: CheckpointFamily): Component {
  const names = new Set(dict.tensors.keys());
  const prefixed = [...names].some((n) => n.startsWith(VAE_PREFIX));
  const tensors = prefixed ? underPrefix(dict.tensors, VAE_PREFIX) : new Map(dict.tensors);
  if (isLdmVae(new Set(tensors.keys()))) {
    const layout = readVaeLayout(tensors, dict.path);
    return { config: vaeConfigFor(layout, VAE_SCALING[family]), weights: mapVaeWeights(tensors, layout, dict.path) };
  }
  if (tensors.has('encoder.down_blocks.0.resnets.0.conv1.weight') && tensors.has('decoder.conv_in.weight')) {
    const blockOutChannels: number[] = [];
    while (tensors.has(`encoder.down_blocks.${blockOutChannels.length}.resnets.0.conv2.weight`)) {
      blockOutChannels.push(
        tensors.get(`encoder.down_blocks.${blockOutChannels.length}.resnets.0.conv2.weight`)!.dims[0]!,
      );
    }
    let layersPerBlock = 0;
    while (tensors.has(`encoder.down_blocks.0.resnets.${layersPerBlock}.conv1.weight`)) layersPerBlock++;
    const layout = {
      inChannels: tensors.get('encoder.conv_in.weight')?.dims[1] ?? 3,
      outChannels: tensors.get('decoder.conv_out.weight')?.dims[0] ?? 3,
      latentChannels: tensors.get('decoder.conv_in.weight')!.dims[1]!,
      blockOutChannels,
      layersPerBlock,
    };
    return { config: vaeConfigFor(layout, VAE_SCALING[family]), weights: tensors };
  }
  throw new PinholeError(
    'IMPORT_REJECTED',
    `${dict.path} is not a VAE: it has no autoencoder weights (encoder.*/decoder.* in LDM or diffusers names)`,
  );
}
