/**
 * The SDXL training graph on the sdxl-tiny fixture (its real weights): the UNet fed `text_embeds` and
 * `time_ids`, and both text encoders trained in one graph with the UNet (`lora_te1_…` /
 * `lora_te2_…`, kohya's SDXL names; the penultimate hidden states concatenated, pooled = the second
 * encoder's projection) — gradients checked against finite differences in float32 (tolerance 1e-2
 * relative; ORT has no float64 Conv/Erf kernels).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLora, textEncoderLoraTargets, unetLoraTargets, type LoraWeights } from '../../src-main/engine/lora';
import { type ClipTextConfig, type UNetConfig } from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
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

const SDXL = fixture('sdxl-tiny');
const FD_TOLERANCE = 1e-2;
const backend = createOrtBackend();
const figures: Record<string, number> = {};

afterAll(() => console.info('training graph figures', JSON.stringify(figures)));

describe('SDXL training graph: both text encoders, text_embeds and time_ids', () => {
  let unet: OpenPart<UNetConfig>;
  let te1: OpenPart<ClipTextConfig>;
  let te2: OpenPart<ClipTextConfig>;
  let lora: LoraWeights;
  const shape: TrainingShape = { batch: 2, height: 32, width: 32, sequence: 77 };
  const timeIds = Float32Array.from([256, 256, 0, 0, 256, 256, 320, 256, 32, 0, 256, 256]);

  beforeAll(async () => {
    unet = await openUNet(SDXL);
    te1 = await openTextEncoder(SDXL, 'text_encoder');
    te2 = await openTextEncoder(SDXL, 'text_encoder_2');
    const g = new TorchGenerator(3n);
    lora = createLora(
      [
        ...textEncoderLoraTargets(te1.config, te1.weights, 'te1'),
        ...textEncoderLoraTargets(te2.config, te2.weights, 'te2'),
        ...unetLoraTargets(unet.config, unet.weights),
      ],
      { rank: 4, generator: g },
    );
    randomizeLora(lora, 5, 0.2);
  });
  afterAll(async () => {
    await unet.file.close();
    await te1.file.close();
    await te2.file.close();
  });

  it('names the encoders lora_te1_ / lora_te2_ (kohya SDXL), text_projection excluded', () => {
    const names = [...lora.modules.keys()];
    expect(names).toContain('lora_te1_text_model_encoder_layers_0_self_attn_q_proj');
    expect(names).toContain('lora_te2_text_model_encoder_layers_0_mlp_fc2');
    expect(names.some((n) => n.includes('text_projection'))).toBe(false);
  });

  it('UNet-only graph: text_embeds and time_ids are fed; gradients match finite differences', async () => {
    const sub: LoraWeights = {
      modules: new Map([...lora.modules].filter(([n]) => n.startsWith('lora_unet_'))),
      metadata: {},
    };
    const built = buildTrainingModel(unet.config, unet.weights, sub, shape);
    const inputs = built.model.graph.inputs.map((i) => i.name);
    expect(inputs).toEqual(expect.arrayContaining(['text_embeds', 'time_ids', 'encoder_hidden_states']));
    const textDim = built.model.graph.inputs.find((i) => i.name === 'text_embeds')!.shape![1] as number;
    const probe = await GraphProbe.create(
      backend,
      built,
      sub,
      dataFeeds(2, {
        encoder_hidden_states: { type: 'float32', data: floats(2 * 77 * 64, 8), dims: [2, 77, 64] },
        text_embeds: { type: 'float32', data: floats(2 * textDim, 9), dims: [2, textDim] },
        time_ids: { type: 'float32', data: timeIds, dims: [2, 6] },
      }),
    );
    try {
      const r = await probe.directionalError(
        keysOf(sub, () => true),
        17,
        1e-2,
      );
      figures['sdxl.unet.fdRel'] = r.rel;
      expect(r.rel).toBeLessThan(FD_TOLERANCE);
    } finally {
      await probe.release();
    }
  });

  it('both encoders in the graph: gradients of lora_te1_ and lora_te2_ match finite differences', async () => {
    const built = buildTrainingModel(unet.config, unet.weights, lora, shape, {
      textEncoders: [
        { part: 'te1', config: te1.config, weights: te1.weights },
        { part: 'te2', config: te2.config, weights: te2.weights },
      ],
    });
    const inputs = built.model.graph.inputs.map((i) => i.name);
    expect(inputs).toEqual(expect.arrayContaining(['input_ids', 'input_ids_2', 'time_ids']));
    expect(inputs).not.toContain('text_embeds');
    expect(inputs).not.toContain('encoder_hidden_states');
    const probe = await GraphProbe.create(
      backend,
      built,
      lora,
      dataFeeds(2, {
        input_ids: { type: 'int32', data: tokenIds(2, 49407), dims: [2, 77] },
        input_ids_2: { type: 'int32', data: tokenIds(2, 0), dims: [2, 77] },
        time_ids: { type: 'float32', data: timeIds, dims: [2, 6] },
      }),
    );
    try {
      for (const part of ['lora_te1_', 'lora_te2_']) {
        const r = await probe.directionalError(
          keysOf(lora, (n) => n.startsWith(part)),
          part.length,
          1e-2,
        );
        figures[`sdxl.${part}fdRel`] = r.rel;
        expect(r.rel).toBeLessThan(FD_TOLERANCE);
      }
    } finally {
      await probe.release();
    }
  });
});
