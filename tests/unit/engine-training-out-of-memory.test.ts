/**
 * A training step that runs out of memory gives the error a user can act on: `UNAVAILABLE`, naming
 * the provider and what to lower (batch, resolution, gradient checkpointing when it is off, float16
 * base weights when a GPU holds them in float32, the rank), with onnxruntime's failure as the cause.
 * The allocation failure is simulated by a backend whose session fails as onnxruntime's arena does;
 * the training graph itself is the real one, built for the sd15-tiny UNet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import { createLora, unetLoraTargets } from '../../src-main/engine/lora';
import type { UNetConfig } from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
import type { InferenceBackend, RawSession } from '../../src-main/engine/runtime';
import { AdamW, LoraTrainer, type LoraTrainerOptions, type StepBatch } from '../../src-main/engine/training';
import { fixture } from '../helpers/fixtures';
import { openUNet, type OpenPart } from '../helpers/training-graph';

/** onnxruntime's message when its CPU arena cannot grow (CUDA's BFC arena says the same). */
const ARENA_FAILURE =
  "Non-zero status code returned while running MatMul node. Name:'/down_blocks.0/attentions.0/MatMul' " +
  'Status Message: bfc_arena.cc:376 AllocateRawInternal Failed to allocate memory for requested buffer of size 2147483648';

/** A backend whose sessions load (without onnxruntime) and fail every run with `failure`. */
function failingBackend(failure: Error): InferenceBackend {
  const session: RawSession = {
    inputs: [],
    outputs: [],
    run: () => Promise.reject(failure),
    release: () => Promise.resolve(),
  };
  return { listProviders: () => ['cpu'], createSession: () => Promise.resolve(session) };
}

const SHAPE = { batch: 1, height: 8, width: 8, sequence: 77 };

describe('out of memory in a training step', () => {
  let unet: OpenPart<UNetConfig>;
  beforeAll(async () => {
    unet = await openUNet(fixture('sd15-tiny'));
  });
  afterAll(async () => {
    await unet?.file.close();
  });

  const batch = (): StepBatch => {
    const width = Number(unet.config.cross_attention_dim);
    return {
      sample: new Float32Array(4 * 8 * 8),
      timesteps: [10],
      cond: new Float32Array(77 * width),
      target: new Float32Array(4 * 8 * 8),
      latentDims: [4, 8, 8],
      condDims: [77, width],
    };
  };

  const stepWith = async (failure: Error, options: LoraTrainerOptions): Promise<unknown> => {
    const lora = createLora(unetLoraTargets(unet.config, unet.weights), { rank: 4, generator: new TorchGenerator(1n) });
    const trainer = await LoraTrainer.create(
      unet.config,
      unet.weights,
      lora,
      new AdamW({ lr: 1e-4 }),
      SHAPE,
      failingBackend(failure),
      options,
    );
    try {
      return await trainer.step(batch()).then(
        () => null,
        (error: unknown) => error,
      );
    } finally {
      await trainer.release();
    }
  };

  it('on the CPU: names batch, resolution, gradient checkpointing and rank, keeps the cause', async () => {
    const cause = new Error(ARENA_FAILURE);
    const error = await stepWith(cause, { provider: 'cpu' });
    expect(error).toBeInstanceOf(PinholeError);
    const e = error as PinholeError;
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/^Out of memory in a training step on cpu\./);
    for (const what of ['the batch size', 'the resolution', 'gradient checkpointing', 'the LoRA rank']) {
      expect(e.message).toContain(what);
    }
    // float16 base weights are for GPU providers (CONTRACTS: the CPU keeps float32): not offered here.
    expect(e.message).not.toContain('float16');
    expect(e.cause).toBe(cause);
  }, 60_000);

  it('on a GPU with float32 base weights and checkpointing on: offers float16, not checkpointing', async () => {
    const error = await stepWith(new Error('CUDA failure 2: out of memory'), {
      provider: 'cuda',
      baseWeights: 'float32',
      gradientCheckpointing: true,
    });
    const e = error as PinholeError;
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain('on cuda');
    expect(e.message).toContain('float16 base weights');
    expect(e.message).not.toContain('gradient checkpointing');
    expect(e.message).toContain('graphics card');
  }, 60_000);

  it('any other failure passes through as it is', async () => {
    const other = new Error('Invalid input name: sample_typo');
    expect(await stepWith(other, { provider: 'cpu' })).toBe(other);
  }, 60_000);
});
