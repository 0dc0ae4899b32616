/**
 * LoRA training: the training graph (UNet + LoRA inputs + MSE loss, differentiated), SGD and AdamW,
 * learning-rate schedules, the cached dataset (buckets, VAE latents, text conditioning), the loop with
 * its features, checkpoints and validation, and one run from a request (`runTraining`).
 */
export { AdamW, Sgd, type AdamWOptions, type Optimizer } from './optimizers';
export {
  listImages,
  prepareTrainingData,
  withTrigger,
  type PrepareTrainingDataOptions,
  type TrainingData,
  type TrainingExample,
} from './data';
export { coverCrop, makeBucketResolutions, selectBucket, type Bucket } from './buckets';
export { BucketBatchOrder, SampleOrder, type BatchOrder, type BatchOrderState } from './batch-order';
export { drawStepBatch, minSnrWeight, type BatchFeatures } from './step-batch';
export {
  buildTrainingModel,
  checkpointSegment,
  LoraTrainer,
  type LoraTrainerOptions,
  type StepBatch,
  type TrainedTextEncoder,
  type TrainingGraphOptions,
  type TrainingShape,
} from './training-graph';
export { halfPrecisionWeights, resolveBaseWeights, type BaseWeightsPrecision } from './base-weights';
export { createTrainingSampler, type TrainingSample } from './sampling';
export { referenceBatch, trainLora, type TrainingLoop, type TrainOptions } from './trainer';
export { clipGradNorm, globalGradNorm } from './clip';
export { constantSchedule, createLrSchedule, type LrSchedule, type LrScheduleOptions } from './lr-schedule';
export { checkpointFiles, newestCheckpoint, settingsFingerprint, type TrainingState } from './checkpoint';
export { validateTrainRequest } from './validate-request';
export { ValidationSet } from './validation';
export {
  runTraining,
  type RunTrainingOptions,
  type TrainCheckpoint,
  type TrainEvent,
  type TrainItem,
  type TrainRequest,
  type TrainResult,
  type TrainSample,
} from './run';
