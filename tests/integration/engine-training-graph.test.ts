/**
 * The SD 1.x training graph's capabilities on the sd15-tiny fixture (its real weights, not shaped by
 * these tests): text-encoder LoRA in one graph with the UNet (`lora_te_…`), LoCon (3×3 Conv LoRA in
 * ResNet blocks and samplers, as kohya's `conv_dim`), per-sample loss weights — gradients checked
 * against central finite differences. ORT has no float64 Conv/Erf kernels, so the graphs run in
 * float32 and the check's tolerance is 1e-2 relative (measured ≤ 1e-3: see the printed figures).
 * Gradient checkpointing must give the same gradients; float16 base weights nearly the same.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLora, textEncoderLoraTargets, unetLoraTargets, type LoraWeights } from '../../src-main/engine/lora';
import { type ClipTextConfig, type UNetConfig } from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
import { type HostTensor } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { buildTrainingModel, type TrainingShape } from '../../src-main/engine/training';
import { fixture } from '../helpers/fixtures';
import {
  GraphProbe,
  openTextEncoder,
  openUNet,
  randomizeLora,
  type OpenPart,
  dataFeeds,
  floats,
  keysOf,
  tokenIds,
} from '../helpers/training-graph';

const SD15 = fixture('sd15-tiny');
const FD_TOLERANCE = 1e-2;
const backend = createOrtBackend();
const figures: Record<string, number> = {};

afterAll(() => console.info('training graph figures', JSON.stringify(figures)));

describe('SD 1.x training graph: text encoder + LoCon', () => {
  let unet: OpenPart<UNetConfig>;
  let te: OpenPart<ClipTextConfig>;
  let lora: LoraWeights;
  /** The UNet part of `lora`. */
  let unetLora: LoraWeights;
  /** Text encoder + UNet graph (all of `lora`), and the UNet-only float32 graph fed `cond`. */
  let full: GraphProbe;
  let unetOnly: GraphProbe;
  const shape: TrainingShape = { batch: 2, height: 32, width: 32, sequence: 77 };
  const cond = floats(2 * 77 * 32, 5);
  const teOptions = () => ({ textEncoders: [{ part: 'te' as const, config: te.config, weights: te.weights }] });
  const fullFeeds = () => dataFeeds(2, { input_ids: { type: 'int32', data: tokenIds(2, 49407), dims: [2, 77] } });
  const unetFeeds = (w?: Float32Array) =>
    dataFeeds(2, {
      encoder_hidden_states: { type: 'float32', data: cond, dims: [2, 77, 32] },
      ...(w ? { loss_weights: { type: 'float32', data: w, dims: [2] } } : {}),
    });

  beforeAll(async () => {
    unet = await openUNet(SD15);
    te = await openTextEncoder(SD15);
    const g = new TorchGenerator(7n);
    const targets = [
      ...textEncoderLoraTargets(te.config, te.weights),
      ...unetLoraTargets(unet.config, unet.weights, { conv3x3: true }),
    ];
    lora = createLora(targets, { rank: 4, alpha: 2, convRank: 2, convAlpha: 1, generator: g });
    randomizeLora(lora, 11, 0.2);
    unetLora = { modules: new Map([...lora.modules].filter(([n]) => n.startsWith('lora_unet_'))), metadata: {} };
    full = await GraphProbe.create(
      backend,
      buildTrainingModel(unet.config, unet.weights, lora, shape, teOptions()),
      lora,
      fullFeeds(),
    );
    unetOnly = await GraphProbe.create(
      backend,
      buildTrainingModel(unet.config, unet.weights, unetLora, shape),
      unetLora,
      unetFeeds(),
    );
  });
  afterAll(async () => {
    await full.release();
    await unetOnly.release();
    await unet.file.close();
    await te.file.close();
  });

  it('LoCon targets and shapes follow kohya (conv_dim): ResNet/sampler 3×3 at the conv rank, their Linear and 1×1 at the rank', async () => {
    const train = JSON.parse(await readFile(path.join(SD15, 'training/train.json'), 'utf8')) as {
      kohya_keys_rank4: { unet: Record<string, number[]> };
    };
    const names = [...lora.modules.keys()];
    const m = (n: string) => lora.modules.get(n)!;
    expect(m('lora_unet_down_blocks_0_resnets_0_conv1').downDims).toEqual([2, 32, 3, 3]);
    expect(m('lora_unet_down_blocks_0_resnets_0_conv1').upDims).toEqual([32, 2, 1, 1]);
    expect(m('lora_unet_down_blocks_0_resnets_0_conv1').alpha).toBe(1);
    expect(m('lora_unet_down_blocks_0_resnets_0_time_emb_proj').downDims).toEqual([4, 128]);
    expect(m('lora_unet_down_blocks_0_downsamplers_0_conv').downDims).toEqual([2, 32, 3, 3]);
    expect(names).toContain('lora_unet_up_blocks_0_upsamplers_0_conv');
    expect(names).toContain('lora_unet_up_blocks_1_resnets_0_conv_shortcut');
    expect(m('lora_unet_up_blocks_1_resnets_0_conv_shortcut').downDims).toEqual([4, 96, 1, 1]);
    expect(names.some((n) => /conv_in|conv_out|time_embedding/.test(n))).toBe(false);
    // Every default target is still there, with the default shapes.
    for (const [key, dims] of Object.entries(train.kohya_keys_rank4.unet)) {
      const mod = m(key.replace(/\.lora_(down|up)\.weight$/, ''));
      expect(key.endsWith('lora_down.weight') ? mod.downDims : mod.upDims).toEqual(dims);
    }
  });

  it('gradients of the text-encoder and LoCon LoRA match finite differences (loss weights, batch 2)', async () => {
    const inputs = full.session.inputs.map((i) => i.name);
    expect(inputs).toContain('input_ids');
    expect(inputs).not.toContain('encoder_hidden_states');
    const groups: Record<string, string[]> = {
      te: keysOf(lora, (n) => n.startsWith('lora_te_')),
      locon: keysOf(lora, (n) => /resnets_\d+_conv[12]$|samplers_0_conv$/.test(n)),
    };
    for (const [group, keys] of Object.entries(groups)) {
      expect(keys.length).toBeGreaterThan(0);
      const r = await full.directionalError(keys, keys.length, 1e-2);
      figures[`sd15.${group}.fdRel`] = r.rel;
      expect(r.rel).toBeLessThan(FD_TOLERANCE);
    }
  });

  it('loss = mean over samples of wᵢ · MSEᵢ (weights [1, 0] give sample 0 alone)', async () => {
    const batch2 = unetFeeds(Float32Array.from([1, 0]));
    const first = (t: HostTensor): HostTensor => ({
      type: 'float32',
      data: (t.data as Float32Array).slice(0, (t.data as Float32Array).length / 2),
      dims: [1, ...t.dims.slice(1)],
    });
    const one = await GraphProbe.create(
      backend,
      buildTrainingModel(unet.config, unet.weights, unetLora, { ...shape, batch: 1 }),
      unetLora,
      {
        sample: first(batch2['sample']!),
        timestep: first(batch2['timestep']!),
        target: first(batch2['target']!),
        loss_weights: { type: 'float32', data: Float32Array.from([2]), dims: [1] },
        encoder_hidden_states: first(batch2['encoder_hidden_states']!),
      },
    );
    try {
      const l2 = (await unetOnly.run(false, { loss_weights: batch2['loss_weights']! })).loss;
      const l1 = (await one.run(false)).loss;
      // Batch 2 with w = [1, 0]: (1·MSE₀ + 0) / 2; batch 1 with w = [2]: 2·MSE₀.
      expect(Math.abs(4 * l2 - l1) / l1).toBeLessThan(1e-5);
    } finally {
      await one.release();
    }
  });

  it('gradient checkpointing recomputes blocks and gives the same gradients', async () => {
    const ckpt = buildTrainingModel(unet.config, unet.weights, lora, shape, {
      ...teOptions(),
      gradientCheckpointing: true,
    });
    const recomputed = ckpt.model.graph.nodes.filter((n) => n.name.endsWith('/recompute')).length;
    expect(recomputed).toBeGreaterThan(100);
    const b = await GraphProbe.create(backend, ckpt, lora, fullFeeds());
    try {
      const ra = await full.run();
      const rb = await b.run();
      expect(rb.loss).toBe(ra.loss);
      let worst = 0;
      for (const [k, g] of ra.grads) {
        const h = rb.grads.get(k)!;
        const scale = Math.max(...g.map(Math.abs), 1e-30);
        g.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - h[i]!) / scale)));
      }
      figures['checkpointing.worstRelDiff'] = worst;
      expect(worst).toBeLessThan(1e-5);
    } finally {
      await b.release();
    }
  });

  it('float16 base weights: loss and gradients within float16 rounding of float32', async () => {
    const half = buildTrainingModel(unet.config, unet.weights, unetLora, shape, { baseWeights: 'float16' });
    const matrices = [...half.model.graph.initializers.values()].filter((t) => t.dims.length >= 2);
    expect(matrices.length).toBeGreaterThan(0);
    expect(matrices.every((t) => t.dtype === 'float16')).toBe(true);
    const f16 = await GraphProbe.create(backend, half, unetLora, unetFeeds());
    try {
      const a = await unetOnly.run();
      const b = await f16.run();
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (const [k, g] of a.grads) {
        const h = b.grads.get(k)!;
        g.forEach((x, i) => {
          dot += x * h[i]!;
          na += x * x;
          nb += h[i]! ** 2;
        });
      }
      const cosine = dot / Math.sqrt(na * nb);
      figures['float16.lossRel'] = Math.abs(a.loss - b.loss) / a.loss;
      figures['float16.gradCosine'] = cosine;
      expect(Math.abs(a.loss - b.loss) / a.loss).toBeLessThan(1e-2);
      expect(cosine).toBeGreaterThan(0.999);
    } finally {
      await f16.release();
    }
  });
});
