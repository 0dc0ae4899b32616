/**
 * LoRA training: the training graph (UNet + LoRA inputs + MSE loss, differentiated), SGD and AdamW,
 * the cached dataset (VAE latents, text conditioning), and the reference loop.
 */
export { AdamW, Sgd, type AdamWOptions, type Optimizer } from './optimizers';
export { listImages, prepareTrainingData, type TrainingData, type TrainingExample } from './data';
export { buildTrainingModel, LoraTrainer, type StepBatch, type TrainingShape } from './training-graph';
export { referenceBatch, ShuffledOrder, trainLora, type TrainOptions } from './trainer';
export { clipGradNorm, constantSchedule, globalGradNorm, type LrSchedule } from './clip';
export { runTraining, type RunTrainingOptions, type TrainProgress, type TrainRequest, type TrainResult } from './run';
