/**
 * The `ss_*` metadata of a trained LoRA, named as kohya-ss's `train_network.py` writes them, so A1111,
 * ComfyUI and model sites show the training settings (trigger word via `ss_tag_frequency`, as kohya
 * counts caption tags per dataset folder) and the base model (name, legacy hash, SHA-256).
 */
import path from 'node:path';
import { kohyaMetadata, type LoraWeights } from '../lora';
import type { BaseModelHashes } from './base-model-hash';
import type { TrainingExample } from './data';
import type { TrainRequest } from './train-api';

/** kohya's `ss_tag_frequency`: {folder: {tag: count}}, tags = the captions split at commas. */
export function tagFrequency(
  examples: readonly TrainingExample[],
  repeats: number,
): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const ex of examples) {
    const folder = `${repeats}_${path.basename(path.dirname(ex.file))}`;
    const counts = (out[folder] ??= {});
    for (const tag of ex.caption
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '')) {
      counts[tag] = (counts[tag] ?? 0) + 1;
    }
  }
  return out;
}

/** kohya's `ss_dataset_dirs`: {folder: {n_repeats, img_count}}. */
function datasetDirs(examples: readonly TrainingExample[], repeats: number) {
  const out: Record<string, { n_repeats: number; img_count: number }> = {};
  for (const ex of examples) {
    const entry = (out[path.basename(path.dirname(ex.file))] ??= { n_repeats: repeats, img_count: 0 });
    entry.img_count++;
  }
  return out;
}

const bool = (b: boolean): string => (b ? 'True' : 'False');

/**
 * Metadata for the LoRA after `stepsDone` steps of `request`; `baseModel`: the hashed base model file
 * (base-model-hash.ts), named as kohya names it (the file's base name; a folder's own name).
 */
export function trainingMetadata(
  lora: LoraWeights,
  request: TrainRequest,
  examples: readonly TrainingExample[],
  stepsDone: number,
  family: 'sd1' | 'sd2' | 'sdxl',
  baseModel?: BaseModelHashes,
): Record<string, string> {
  const scheduler =
    request.lrSchedule === 'cosine' ? 'cosine' : request.warmupSteps > 0 ? 'constant_with_warmup' : 'constant';
  const folders = tagFrequency(examples, request.repeats);
  return kohyaMetadata(lora, {
    baseModelName: path.basename(path.resolve(request.baseModelFile ?? request.model)),
    ...(baseModel ? { baseModelHash: baseModel.legacy, baseModelSha256: baseModel.sha256 } : {}),
    resolution: request.resolution,
    steps: request.steps,
    datasetSize: examples.length * request.repeats,
    ...(request.trigger !== undefined ? { triggerWord: request.trigger } : {}),
    extra: {
      ss_base_model_version: family === 'sdxl' ? 'sdxl_base_v1-0' : family === 'sd2' ? 'sd_v2' : 'sd_v1',
      ss_v2: bool(family === 'sd2'),
      ss_steps: String(stepsDone),
      ss_learning_rate: String(request.lr),
      ss_unet_lr: String(request.lr),
      ss_text_encoder_lr: String(request.textEncoder ? (request.textEncoderLr ?? request.lr) : 0),
      ss_network_train_unet_only: bool(!request.textEncoder),
      ss_lr_scheduler: scheduler,
      ss_lr_warmup_steps: String(request.warmupSteps),
      ss_optimizer: request.optimizer === 'sgd' ? 'torch.optim.SGD' : 'torch.optim.AdamW',
      ss_max_grad_norm: String(request.maxGradNorm),
      ss_seed: request.seed.toString(),
      ss_total_batch_size: String(request.batch),
      ss_batch_size_per_device: String(request.batch),
      ss_shuffle: bool(request.shuffle),
      ss_flip_aug: bool(request.flip),
      ss_caption_dropout_rate: String(request.captionDropout),
      ss_noise_offset: String(request.noiseOffset),
      ss_min_snr_gamma: request.minSnrGamma === undefined ? 'None' : String(request.minSnrGamma),
      ss_enable_bucket: bool(request.buckets),
      ...(request.buckets
        ? {
            ss_min_bucket_reso: String(Math.max(64, Math.floor(request.resolution / 128) * 64)),
            ss_max_bucket_reso: String(2 * request.resolution),
            ss_bucket_no_upscale: 'False',
          }
        : {}),
      ss_num_train_images: String(examples.length * request.repeats),
      ss_dataset_dirs: JSON.stringify(datasetDirs(examples, request.repeats)),
      ss_tag_frequency: JSON.stringify(folders),
      ss_gradient_checkpointing: bool(request.gradientCheckpointing),
      ...(request.convRank !== undefined
        ? {
            ss_network_args: JSON.stringify({
              conv_dim: String(request.convRank),
              conv_alpha: String(request.convAlpha ?? request.convRank),
            }),
          }
        : {}),
      ...(request.initLora !== undefined ? { ss_init_lora: path.basename(request.initLora) } : {}),
    },
  });
}
