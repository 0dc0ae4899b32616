/**
 * The schedulers against diffusers' own scheduler tests (tests/schedulers/test_scheduler_*.py; constants in
 * shared/fixtures/diffusers-scheduler-tests.md), the SD 1.5 reference runs' timesteps, and the spacing formulas.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  HeunDiscreteScheduler,
  LCMScheduler,
  type NoiseSource,
  type Scheduler,
} from '../../src-main/engine/schedulers';
import { TorchGenerator } from '../../src-main/engine/random';
import { FIXTURES } from '../helpers/fixtures';

const readJson = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(`${FIXTURES}/${path}`, 'utf8')) as Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------------------
// diffusers' test fixture (tests/schedulers/test_schedulers.py), in float32.

const SHAPE = [4, 3, 8, 8] as const;
const COUNT = 4 * 3 * 8 * 8;

/**
 * `arange(768)` (or its flip) reshaped to (3, 8, 8, 4), divided by 768, permuted to (3, 0, 1, 2): element
 * [b, c, h, w] of the (4, 3, 8, 8) result is flat index ((c·8 + h)·8 + w)·4 + b of the (3, 8, 8, 4) tensor.
 */
function deterministic(flip: boolean): Float32Array {
  const out = new Float32Array(COUNT);
  let i = 0;
  for (let b = 0; b < 4; b++) {
    for (let c = 0; c < 3; c++) {
      for (let h = 0; h < 8; h++) {
        for (let w = 0; w < 8; w++) {
          const index = ((c * 8 + h) * 8 + w) * 4 + b;
          out[i++] = (flip ? COUNT - 1 - index : index) / COUNT;
        }
      }
    }
  }
  return out;
}
const dummySampleDeter = (): Float32Array => deterministic(false);
const dummyNoiseDeter = (): Float32Array => deterministic(true);

/** `dummy_model(sample, t) = sample · t / (t + 1)`, t cast to the sample's float32. */
function dummyModel(sample: Float32Array, t: number): Float32Array {
  const tf = Math.fround(t);
  const denom = Math.fround(tf + 1);
  return sample.map((v) => Math.fround(v * tf) / denom);
}

/** `dummy_sample_deter * init_noise_sigma` (float32). */
const initial = (scheduler: Scheduler): Float32Array => dummySampleDeter().map((v) => v * scheduler.initNoiseSigma);

/** `sum(|x|)`, `mean(|x|)`. */
function absStats(x: Float32Array): { sum: number; mean: number } {
  let sum = 0;
  for (const v of x) sum += Math.abs(v);
  return { sum, mean: sum / x.length };
}

/**
 * The Euler / Heun test loop: `sample = scale_model_input(sample, t)`, and that *scaled* sample goes to both the
 * model and `step` (a quirk of diffusers' tests, kept so the published numbers apply).
 */
function sigmaLoop(scheduler: Scheduler, sample: Float32Array, from = 0, generator?: NoiseSource): Float32Array {
  let x = sample;
  for (let i = from; i < scheduler.timesteps.length; i++) {
    x = scheduler.scaleModelInput(x, i);
    x = scheduler.step(dummyModel(x, scheduler.timesteps[i]!), i, x, generator, SHAPE);
  }
  return x;
}

/** The DDIM / DPM-Solver / LCM test loop: `residual = model(sample, t)`, `sample = step(residual, t, sample)`. */
function plainLoop(scheduler: Scheduler, sample: Float32Array, from = 0, generator?: NoiseSource): Float32Array {
  let x = sample;
  for (let i = from; i < scheduler.timesteps.length; i++) {
    x = scheduler.step(dummyModel(x, scheduler.timesteps[i]!), i, x, generator, SHAPE);
  }
  return x;
}

/** diffusers' assertions: `abs(result - expected) < tolerance`. */
function expectStats(
  x: Float32Array,
  expected: { sum?: number; mean: number },
  tolerance: { sum?: number; mean?: number } = {},
): void {
  const { sum, mean } = absStats(x);
  if (expected.sum !== undefined) expect(Math.abs(sum - expected.sum)).toBeLessThan(tolerance.sum ?? 1e-2);
  expect(Math.abs(mean - expected.mean)).toBeLessThan(tolerance.mean ?? 1e-3);
}

/** `torch.manual_seed(seed)`: the engine's torch-compatible CPU generator. */
const torchManualSeed = (seed: number): NoiseSource => new TorchGenerator(BigInt(seed));

// ---------------------------------------------------------------------------------------------------------------

describe('EulerDiscreteScheduler (test_scheduler_euler.py)', () => {
  const config = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' };

  function fullLoop(extra: Record<string, unknown> = {}): Float32Array {
    const scheduler = EulerDiscreteScheduler.fromConfig({ ...config, ...extra });
    scheduler.setTimesteps(10);
    return sigmaLoop(scheduler, initial(scheduler));
  }

  it('full loop, no noise: 10.0807 / 0.0131', () => {
    expectStats(fullLoop(), { sum: 10.0807, mean: 0.0131 });
  });

  it('full loop, v_prediction: 0.0002 / 2.2676e-06', () => {
    expectStats(fullLoop({ prediction_type: 'v_prediction' }), { sum: 0.0002, mean: 2.2676e-6 });
  });

  it('full loop, Karras sigmas: 124.52299499511719 / 0.16213932633399963', () => {
    expectStats(fullLoop({ use_karras_sigmas: true }), { sum: 124.52299499511719, mean: 0.16213932633399963 });
  });

  it('full loop with add_noise from step 8: 57062.9297 / 74.3007', () => {
    const scheduler = EulerDiscreteScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    const start = (10 - 2) * scheduler.order;
    const noisy = scheduler.addNoise(initial(scheduler), dummyNoiseDeter(), start);
    expectStats(sigmaLoop(scheduler, noisy, start), { sum: 57062.9297, mean: 74.3007 });
  });

  it('never draws noise (s_churn = 0)', () => {
    const scheduler = EulerDiscreteScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    const throwing: NoiseSource = {
      randn: () => {
        throw new Error('drew noise');
      },
    };
    expect(() => sigmaLoop(scheduler, initial(scheduler), 0, throwing)).not.toThrow();
  });
});

describe('EulerAncestralDiscreteScheduler (test_scheduler_euler_ancestral.py, generator seeded 0)', () => {
  const config = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' };

  it('full loop, no noise: 152.3192 / 0.1983', () => {
    const generator = torchManualSeed(0);
    const scheduler = EulerAncestralDiscreteScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    expectStats(sigmaLoop(scheduler, initial(scheduler), 0, generator), { sum: 152.3192, mean: 0.1983 });
  });

  it('full loop, v_prediction: 108.4439 / 0.1412', () => {
    const generator = torchManualSeed(0);
    const scheduler = EulerAncestralDiscreteScheduler.fromConfig({ ...config, prediction_type: 'v_prediction' });
    scheduler.setTimesteps(10);
    expectStats(sigmaLoop(scheduler, initial(scheduler), 0, generator), { sum: 108.4439, mean: 0.1412 });
  });

  it('full loop with add_noise from step 8: 56163.0508 / 73.1290', () => {
    const generator = torchManualSeed(0);
    const scheduler = EulerAncestralDiscreteScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    const noisy = scheduler.addNoise(initial(scheduler), dummyNoiseDeter(), 8);
    expectStats(sigmaLoop(scheduler, noisy, 8, generator), { sum: 56163.0508, mean: 73.129 });
  });

  it('draws randn(shape) once per step, the last one included', () => {
    const shapes: (readonly number[])[] = [];
    const counting: NoiseSource = {
      randn: (shape) => {
        shapes.push(shape);
        return new Float32Array(shape.reduce((a, b) => a * b, 1));
      },
    };
    const scheduler = EulerAncestralDiscreteScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    sigmaLoop(scheduler, initial(scheduler), 0, counting);
    expect(shapes).toEqual(Array.from({ length: 10 }, () => SHAPE));
  });
});

describe('DDIMScheduler (test_scheduler_ddim.py, eta 0)', () => {
  const config = {
    num_train_timesteps: 1000,
    beta_start: 0.0001,
    beta_end: 0.02,
    beta_schedule: 'linear',
    clip_sample: true,
  };

  function fullLoop(extra: Record<string, unknown> = {}): Float32Array {
    const scheduler = DDIMScheduler.fromConfig({ ...config, ...extra });
    scheduler.setTimesteps(10);
    return plainLoop(scheduler, dummySampleDeter());
  }

  it('full loop, no noise: 172.0067 / 0.223967', () => {
    expectStats(fullLoop(), { sum: 172.0067, mean: 0.223967 });
  });

  it('full loop, v_prediction: 52.5302 / 0.0684', () => {
    expectStats(fullLoop({ prediction_type: 'v_prediction' }), { sum: 52.5302, mean: 0.0684 });
  });

  it('full loop, set_alpha_to_one with beta_start 0.01: 149.8295 / 0.1951', () => {
    expectStats(fullLoop({ set_alpha_to_one: true, beta_start: 0.01 }), { sum: 149.8295, mean: 0.1951 });
  });

  it('full loop, no set_alpha_to_one with beta_start 0.01: 149.0784 / 0.1941', () => {
    expectStats(fullLoop({ set_alpha_to_one: false, beta_start: 0.01 }), { sum: 149.0784, mean: 0.1941 });
  });

  it('full loop with add_noise from step 8: 354.5418 / 0.4616', () => {
    const scheduler = DDIMScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    const noisy = scheduler.addNoise(dummySampleDeter(), dummyNoiseDeter(), 8);
    expectStats(plainLoop(scheduler, noisy, 8), { sum: 354.5418, mean: 0.4616 });
  });

  it('eta > 0 draws noise from the generator; eta 0 never does', () => {
    let draws = 0;
    const counting: NoiseSource = {
      randn: (shape) => {
        draws++;
        return new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5);
      },
    };
    const deterministic = DDIMScheduler.fromConfig(config);
    deterministic.setTimesteps(10);
    const a = plainLoop(deterministic, dummySampleDeter(), 0, counting);
    expect(draws).toBe(0);
    const stochastic = DDIMScheduler.fromConfig(config, {}, { eta: 1 });
    stochastic.setTimesteps(10);
    const b = plainLoop(stochastic, dummySampleDeter(), 0, counting);
    expect(draws).toBe(10);
    expect(b).not.toEqual(a);
  });

  it('steps_offset 1, 5 steps → [801, 601, 401, 201, 1]', () => {
    const scheduler = DDIMScheduler.fromConfig({ ...config, steps_offset: 1 });
    scheduler.setTimesteps(5);
    expect([...scheduler.timesteps]).toEqual([801, 601, 401, 201, 1]);
  });
});

describe('DPMSolverMultistepScheduler (test_scheduler_dpm_multi.py)', () => {
  const config = {
    num_train_timesteps: 1000,
    beta_start: 0.0001,
    beta_end: 0.02,
    beta_schedule: 'linear',
    solver_order: 2,
    prediction_type: 'epsilon',
    thresholding: false,
    sample_max_value: 1.0,
    algorithm_type: 'dpmsolver++',
    solver_type: 'midpoint',
    lower_order_final: false,
    euler_at_final: false,
    lambda_min_clipped: -Infinity,
    variance_type: null,
    final_sigmas_type: 'sigma_min',
  };

  function fullLoop(extra: Record<string, unknown> = {}): Float32Array {
    const scheduler = DPMSolverMultistepScheduler.fromConfig({ ...config, ...extra });
    scheduler.setTimesteps(10);
    return plainLoop(scheduler, dummySampleDeter());
  }

  it('full loop, no noise: mean 0.3301', () => {
    expectStats(fullLoop(), { mean: 0.3301 });
  });

  it('full loop, v_prediction: mean 0.2251', () => {
    expectStats(fullLoop({ prediction_type: 'v_prediction' }), { mean: 0.2251 });
  });

  it('full loop, Karras sigmas + v_prediction: mean 0.2096', () => {
    expectStats(fullLoop({ prediction_type: 'v_prediction', use_karras_sigmas: true }), { mean: 0.2096 });
  });

  it('full loop, Lu lambdas + v_prediction: mean 0.1554', () => {
    expectStats(fullLoop({ prediction_type: 'v_prediction', use_lu_lambdas: true }), { mean: 0.1554 });
  });

  it('full loop, thresholding (ratio 0.87, max 0.5): mean 1.1364', () => {
    expectStats(fullLoop({ thresholding: true, dynamic_thresholding_ratio: 0.87, sample_max_value: 0.5 }), {
      mean: 1.1364,
    });
  });

  it('every order × rule × algorithm gives finite samples (test_solver_order_and_type)', () => {
    for (const algorithm_type of ['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++']) {
      for (const solver_type of ['midpoint', 'heun']) {
        for (const solver_order of [1, 2, 3]) {
          if (algorithm_type.startsWith('sde') && solver_order === 3) continue;
          for (const prediction_type of ['epsilon', 'sample']) {
            const scheduler = DPMSolverMultistepScheduler.fromConfig({
              ...config,
              algorithm_type,
              solver_type,
              solver_order,
              prediction_type,
            });
            scheduler.setTimesteps(10);
            const out = plainLoop(scheduler, dummySampleDeter(), 0, torchManualSeed(0));
            expect(out.every(Number.isFinite)).toBe(true);
          }
        }
      }
    }
  });

  it('with a final σ of 0 (the default), the last step is first order and lands on the x₀ prediction', () => {
    const scheduler = createScheduler('dpmpp_2m', {});
    scheduler.setTimesteps(25); // ≥ 15 steps: lower_order_final alone would not apply
    let x = dummySampleDeter();
    for (let i = 0; i < 25; i++) x = scheduler.step(dummyModel(x, scheduler.timesteps[i]!), i, x, undefined, SHAPE);
    expect(x.every(Number.isFinite)).toBe(true);
    expect(x).toEqual(scheduler.predOriginalSample);
  });

  it('full loop with add_noise from step 5: 318.4111 / 0.4146', () => {
    const scheduler = DPMSolverMultistepScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    const start = 5 * scheduler.order;
    const noisy = scheduler.addNoise(dummySampleDeter(), dummyNoiseDeter(), start);
    expectStats(plainLoop(scheduler, noisy, start), { sum: 318.4111, mean: 0.4146 });
  });
});

describe('LCMScheduler (test_scheduler_lcm.py)', () => {
  const config = {
    num_train_timesteps: 1000,
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    prediction_type: 'epsilon',
  };

  it('one step (no noise is drawn): 18.7097 / 0.0244, tolerance 1e-3', () => {
    const scheduler = LCMScheduler.fromConfig(config);
    scheduler.setTimesteps(1);
    expect([...scheduler.timesteps]).toEqual([999]);
    expectStats(plainLoop(scheduler, dummySampleDeter()), { sum: 18.7097, mean: 0.0244 }, { sum: 1e-3 });
  });

  it('4 steps pick [999, 759, 499, 259] from the 50-step distillation schedule', () => {
    const scheduler = LCMScheduler.fromConfig(config);
    scheduler.setTimesteps(4);
    expect([...scheduler.timesteps]).toEqual([999, 759, 499, 259]);
    expect(() => scheduler.setTimesteps(51)).toThrow(/original_inference_steps/);
  });

  it('10 steps, generator seeded 0: 197.7616 / 0.2575, tolerance 1e-3', () => {
    const generator = torchManualSeed(0);
    const scheduler = LCMScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    expect([...scheduler.timesteps]).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expectStats(plainLoop(scheduler, dummySampleDeter(), 0, generator), { sum: 197.7616, mean: 0.2575 }, { sum: 1e-3 });
  });
});

describe('HeunDiscreteScheduler (test_scheduler_heun.py)', () => {
  const config = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' };

  function fullLoop(extra: Record<string, unknown> = {}): Float32Array {
    const scheduler = HeunDiscreteScheduler.fromConfig({ ...config, ...extra });
    scheduler.setTimesteps(10);
    return sigmaLoop(scheduler, initial(scheduler));
  }

  it('doubles its timesteps like diffusers: 2n − 1 model evaluations', () => {
    const scheduler = HeunDiscreteScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    expect(scheduler.order).toBe(2);
    expect(scheduler.timesteps.length).toBe(19);
    expect(scheduler.sigmas.length).toBe(20);
    const t = [...scheduler.timesteps];
    for (let i = 1; i < 10; i++) expect(t[2 * i - 1]).toBe(t[2 * i]);
  });

  it('full loop, no noise: 0.1233 / 0.0002', () => {
    expectStats(fullLoop(), { sum: 0.1233, mean: 0.0002 });
  });

  it('full loop, v_prediction: 4.6934e-07 / 6.1112e-10', () => {
    expectStats(fullLoop({ prediction_type: 'v_prediction' }), { sum: 4.6934e-7, mean: 6.1112e-10 });
  });

  it('full loop, Karras sigmas: 0.00015 / 1.9869554535034695e-07 (mean tolerance 1e-2)', () => {
    expectStats(fullLoop({ use_karras_sigmas: true }), { sum: 0.00015, mean: 1.9869554535034695e-7 }, { mean: 1e-2 });
  });

  it('full loop with add_noise from evaluation 16: 75074.8906 / 97.7538', () => {
    const scheduler = HeunDiscreteScheduler.fromConfig(config);
    scheduler.setTimesteps(10);
    const start = (10 - 2) * scheduler.order;
    const noisy = scheduler.addNoise(initial(scheduler), dummyNoiseDeter(), start);
    expectStats(sigmaLoop(scheduler, noisy, start), { sum: 75074.8906, mean: 97.7538 });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('configuration as diffusers from_config', () => {
  const sd15 = readJson('sd15-tiny/scheduler/scheduler_config.json');
  const sdxl = readJson('sdxl-tiny/scheduler/scheduler_config.json');
  const cases = readJson('sd15-tiny/reference/cases.json');
  const runs = cases['runs'] as { scheduler: string; steps: number; timesteps: number[] }[];

  it('SD 1.5 + euler gives the Euler 8-step reference timesteps (linspace, float32)', () => {
    const run = runs.find((r) => r.scheduler === 'euler')!;
    const scheduler = createScheduler('euler', sd15);
    scheduler.setTimesteps(run.steps);
    expect([...scheduler.timesteps]).toEqual(run.timesteps);
    expect(scheduler.integerTimesteps).toBe(false);
    expect(scheduler.config['timestep_spacing']).toBe('linspace');
    expect(scheduler.config['beta_schedule']).toBe('scaled_linear');
  });

  it('SD 1.5 + ddim gives the DDIM 10-step reference timesteps (leading, steps_offset 1)', () => {
    const run = runs.find((r) => r.scheduler === 'ddim')!;
    const scheduler = createScheduler('ddim', sd15);
    scheduler.setTimesteps(run.steps);
    expect([...scheduler.timesteps]).toEqual(run.timesteps);
    expect(scheduler.integerTimesteps).toBe(true);
    // clip_sample false and set_alpha_to_one false come from the model's config, over DDIM's defaults.
    expect(scheduler.config['clip_sample']).toBe(false);
    expect(scheduler.config['set_alpha_to_one']).toBe(false);
  });

  it('ignores keys the class does not take and keeps class defaults for missing ones', () => {
    const euler = createScheduler('euler', sd15);
    expect(euler.className).toBe('EulerDiscreteScheduler');
    expect(euler.config).not.toHaveProperty('skip_prk_steps');
    expect(euler.config).not.toHaveProperty('_class_name');
    expect(euler.config['use_karras_sigmas']).toBe(false);
    const heun = createScheduler('heun', sd15);
    expect(heun.config['beta_start']).toBe(0.00085);
    expect(heun.config['timestep_spacing']).toBe('linspace');
    const lcm = createScheduler('lcm', sd15);
    expect(lcm.config['original_inference_steps']).toBe(50);
    expect(lcm.config['set_alpha_to_one']).toBe(false);
  });

  it('dpmpp_2m and dpmpp_2m_karras: DPM-Solver++ order 2 midpoint, Karras only for the latter', () => {
    const plain = createScheduler('dpmpp_2m', sd15);
    const karras = createScheduler('dpmpp_2m_karras', sd15);
    for (const s of [plain, karras]) {
      expect(s.className).toBe('DPMSolverMultistepScheduler');
      expect(s.config['algorithm_type']).toBe('dpmsolver++');
      expect(s.config['solver_order']).toBe(2);
      expect(s.config['solver_type']).toBe('midpoint');
      expect(s.config['lower_order_final']).toBe(true);
    }
    expect(plain.config['use_karras_sigmas']).toBe(false);
    expect(karras.config['use_karras_sigmas']).toBe(true);
    plain.setTimesteps(20);
    karras.setTimesteps(20);
    expect([...plain.timesteps]).not.toEqual([...karras.timesteps]);
    expect(karras.timesteps[0]).toBe(999);
  });

  it('SDXL config: Euler leading spacing with steps_offset 1, initNoiseSigma = √(σ_max² + 1)', () => {
    const scheduler = createScheduler('euler', sdxl);
    scheduler.setTimesteps(8);
    expect([...scheduler.timesteps]).toEqual([876, 751, 626, 501, 376, 251, 126, 1]);
    const sigmaMax = (scheduler as EulerDiscreteScheduler).sigmas[0]!;
    expect(scheduler.initNoiseSigma).toBe(Math.fround(Math.sqrt(Math.fround(Math.fround(sigmaMax * sigmaMax) + 1))));
    expect(createScheduler('euler', sd15).initNoiseSigma).toBeCloseTo(14.6146, 3);
  });

  it('overrides apply over the model config; _use_default_values keeps class defaults', () => {
    const v = createScheduler('euler', sd15, { prediction_type: 'v_prediction' });
    expect(v.config['prediction_type']).toBe('v_prediction');
    const reset = createScheduler('euler', { ...sdxl, _use_default_values: ['timestep_spacing'] });
    expect(reset.config['timestep_spacing']).toBe('linspace');
  });

  it('rejects unknown samplers, bad values and unsupported options', () => {
    expect(() => createScheduler('plms' as never, sd15)).toThrow(/Unknown sampler/);
    expect(() => createScheduler('euler', { ...sd15, steps_offset: 'one' })).toThrow(/steps_offset/);
    expect(() => createScheduler('euler', { ...sd15, timestep_spacing: 'sideways' })).toThrow(/timestep_spacing/);
    expect(() => createScheduler('dpmpp_2m', { ...sd15, use_beta_sigmas: true })).toThrow(/not supported/);
  });
});

describe('timestep spacings (values from the diffusers / NumPy formulas)', () => {
  const base = { num_train_timesteps: 1000, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };
  const timesteps = (s: Scheduler, n: number): number[] => {
    s.setTimesteps(n);
    return [...s.timesteps];
  };

  it('linspace: np.linspace(0, T − 1, n) reversed, float32 for Euler, half-to-even rounded for DDIM', () => {
    const euler = EulerDiscreteScheduler.fromConfig({ ...base, timestep_spacing: 'linspace' });
    expect(timesteps(euler, 7)).toEqual([999, 832.5, 666, 499.5, 333, 166.5, 0]);
    const ddim = DDIMScheduler.fromConfig({ ...base, timestep_spacing: 'linspace' });
    expect(timesteps(ddim, 7)).toEqual([999, 832, 666, 500, 333, 166, 0]);
    expect(timesteps(ddim, 10)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    // DPM-Solver spaces n + 1 points and drops the last.
    const dpm = DPMSolverMultistepScheduler.fromConfig({ ...base, timestep_spacing: 'linspace' });
    expect(timesteps(dpm, 10)).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  });

  it('leading: (arange(n) × (T // n)) reversed + steps_offset', () => {
    const euler = EulerDiscreteScheduler.fromConfig({ ...base, timestep_spacing: 'leading', steps_offset: 1 });
    expect(timesteps(euler, 10)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    const ancestral = EulerAncestralDiscreteScheduler.fromConfig({ ...base, timestep_spacing: 'leading' });
    expect(timesteps(ancestral, 4)).toEqual([750, 500, 250, 0]);
    const dpm = DPMSolverMultistepScheduler.fromConfig({ ...base, timestep_spacing: 'leading', steps_offset: 1 });
    expect(timesteps(dpm, 10)).toEqual([901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
  });

  it('trailing: arange(T, 0, −T/n) rounded half to even, minus 1', () => {
    const ddim = DDIMScheduler.fromConfig({ ...base, timestep_spacing: 'trailing' });
    expect(timesteps(ddim, 16)).toEqual([
      999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61,
    ]);
    expect(timesteps(ddim, 3)).toEqual([999, 666, 332]);
    const euler = EulerDiscreteScheduler.fromConfig({ ...base, timestep_spacing: 'trailing' });
    expect(timesteps(euler, 3)).toEqual([999, 666, 332]);
    const dpm = DPMSolverMultistepScheduler.fromConfig({ ...base, timestep_spacing: 'trailing' });
    expect(timesteps(dpm, 10)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });

  it('trailing spacing puts Euler at σ_max, so initNoiseSigma is σ_max itself', () => {
    const euler = EulerDiscreteScheduler.fromConfig({ ...base, timestep_spacing: 'trailing' });
    euler.setTimesteps(4);
    expect(euler.initNoiseSigma).toBe(euler.trainSigmas[999]);
  });
});

describe('protocol details', () => {
  it('steps return new float32 arrays and leave the inputs alone', () => {
    const scheduler = createScheduler('dpmpp_2m', {});
    scheduler.setTimesteps(5);
    const sample = dummySampleDeter();
    const copy = sample.slice();
    const out = scheduler.step(dummyModel(sample, scheduler.timesteps[0]!), 0, sample);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out).not.toBe(sample);
    expect(sample).toEqual(copy);
  });

  it('refuses to step before setTimesteps or outside the schedule', () => {
    const scheduler = createScheduler('euler', {});
    const x = new Float32Array(4);
    expect(() => scheduler.step(x, 0, x)).toThrow(/setTimesteps/);
    scheduler.setTimesteps(4);
    expect(() => scheduler.step(x, 4, x)).toThrow(/step index/);
    expect(() => scheduler.step(x, 0, new Float32Array(3))).toThrow();
  });

  it('samplers that draw noise ask for a generator', () => {
    const scheduler = createScheduler('euler_a', {});
    scheduler.setTimesteps(4);
    const x = new Float32Array(16);
    expect(() => scheduler.step(x, 0, x)).toThrow(/generator/);
  });

  it('rescale_betas_zero_snr: zero terminal SNR (ᾱ_T = 2⁻²⁴ for Euler, 0 for DDIM)', () => {
    const euler = EulerDiscreteScheduler.fromConfig({ rescale_betas_zero_snr: true });
    expect(euler.alphasCumprod[999]).toBe(2 ** -24);
    const ddim = DDIMScheduler.fromConfig({ rescale_betas_zero_snr: true });
    expect(ddim.alphasCumprod[999]).toBeLessThan(1e-9);
    expect(ddim.alphasCumprod[0]).toBeCloseTo(DDIMScheduler.fromConfig({}).alphasCumprod[0]!, 6);
  });
});
