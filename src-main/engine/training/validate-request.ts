/**
 * Checks a training request before anything is read or written, so bad input fails at once with a
 * message naming the setting (nothing half-done to clean up).
 */
import { PinholeError } from '../../../src-shared/errors';
import type { TrainRequest } from './train-api';

function fail(message: string): never {
  throw new PinholeError('INVALID_PARAMS', message);
}

const positiveInt = (v: number) => Number.isInteger(v) && v > 0;

/** @throws PinholeError `INVALID_PARAMS` naming the first bad setting. */
export function validateTrainRequest(r: TrainRequest): void {
  if ((r.images === undefined) === (r.items === undefined))
    fail('give either an images folder or a list of items, not both or neither');
  if (r.items !== undefined && r.items.length === 0) fail('the dataset has no images');
  if (!positiveInt(r.steps)) fail(`steps must be a positive integer, not ${r.steps}`);
  if (!positiveInt(r.batch)) fail(`batch must be a positive integer, not ${r.batch}`);
  if (!positiveInt(r.resolution) || r.resolution % 8 !== 0)
    fail(`resolution must be a multiple of 8, not ${r.resolution}`);
  if (r.buckets && (r.resolution < 64 || r.resolution % 64 !== 0)) {
    fail(`aspect-ratio buckets need a resolution that is a multiple of 64, not ${r.resolution}`);
  }
  if (!positiveInt(r.repeats)) fail(`repeats must be a positive integer, not ${r.repeats}`);
  if (!(r.lr >= 0) || !Number.isFinite(r.lr)) fail(`the learning rate must be a finite number ≥ 0, not ${r.lr}`);
  if (!(r.captionDropout >= 0 && r.captionDropout <= 1))
    fail(`caption dropout must be between 0 and 1, not ${r.captionDropout}`);
  if (!(r.noiseOffset >= 0) || !Number.isFinite(r.noiseOffset)) fail(`noise offset must be ≥ 0, not ${r.noiseOffset}`);
  if (r.minSnrGamma !== undefined && !(r.minSnrGamma > 0)) fail(`min-SNR gamma must be > 0, not ${r.minSnrGamma}`);
  if (!Number.isInteger(r.warmupSteps) || r.warmupSteps < 0)
    fail(`warm-up steps must be an integer ≥ 0, not ${r.warmupSteps}`);
  if (r.saveEvery !== undefined && !(Number.isInteger(r.saveEvery) && r.saveEvery >= 0)) {
    fail(`save-every must be an integer ≥ 0, not ${r.saveEvery}`);
  }
  if ((r.saveEvery ?? 0) > 0 && r.checkpointDir === undefined) fail('save-every needs a checkpoint folder');
  if (r.resume === true && r.checkpointDir === undefined) fail('resume needs a checkpoint folder');
  if (r.sampleEvery !== undefined && !(Number.isInteger(r.sampleEvery) && r.sampleEvery >= 0)) {
    fail(`sample-every must be an integer ≥ 0, not ${r.sampleEvery}`);
  }
  if ((r.sampleEvery ?? 0) > 0 && (r.samplePrompts ?? []).length === 0)
    fail('sample-every needs at least one sample prompt');
}
