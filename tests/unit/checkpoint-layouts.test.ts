/**
 * Key mapping and architecture inference per family, from tiny synthetic single-file checkpoints written by an
 * independent table (`tests/helpers/ldm-checkpoint.ts`, from the original model definitions and diffusers'
 * converter's documented names): every converted weight must be the expected tensor under the expected diffusers
 * name — nothing missing, nothing extra — and the inferred configs must build with the engine's builders.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singleFileComponents, type ModelComponents } from '../../src-main/engine/checkpoint';
import { sd2Prediction } from '../../src-main/engine/checkpoint/family';
import { openStateDict } from '../../src-main/engine/checkpoint/state-dict';
import { tensorBytes, tensorToFloat32, type Tensor } from '../../src-main/engine/graph';
import { withDtype } from '../../src-main/engine/checkpoint/tensor-ops';
import {
  buildClipTextModel,
  buildUNet,
  buildVaeDecoder,
  buildVaeEncoder,
  memoryWeights,
} from '../../src-main/engine/models';
import { ldmWeights, writeLdmSafetensors, type LdmArch } from '../helpers/ldm-checkpoint';
import { makeTempDir } from '../helpers/temp-dir';

const VAE = { ch: 32, mult: [1, 2], layers: 1, z: 4 };
const ARCHS: Record<string, LdmArch> = {
  sd1: {
    family: 'sd1',
    unet: {
      inChannels: 4,
      modelChannels: 32,
      mult: [1, 2],
      layers: 1,
      depth: [1, 0],
      midDepth: 1,
      context: 64,
      linearProjection: false,
    },
    vae: VAE,
    clip: { width: 64, layers: 2, intermediate: 96, vocab: 300, positions: 77 },
  },
  'sd1-inpaint': {
    family: 'sd1',
    unet: {
      inChannels: 9,
      modelChannels: 32,
      mult: [1, 2],
      layers: 2,
      depth: [1, 1],
      midDepth: 1,
      context: 64,
      linearProjection: false,
    },
    vae: VAE,
    clip: { width: 64, layers: 1, intermediate: 96, vocab: 300, positions: 77 },
  },
  sd2: {
    family: 'sd2',
    unet: {
      inChannels: 4,
      modelChannels: 64,
      mult: [1, 2],
      layers: 1,
      depth: [1, 1],
      midDepth: 1,
      context: 128,
      linearProjection: true,
    },
    vae: VAE,
    openClip: { width: 128, layers: 3, vocab: 300, positions: 77, projection: 64 },
  },
  sdxl: {
    family: 'sdxl',
    unet: {
      inChannels: 4,
      modelChannels: 64,
      mult: [1, 2],
      layers: 2,
      depth: [0, 2],
      midDepth: 2,
      context: 64 + 128,
      linearProjection: true,
      admIn: 64 + 6 * 8,
    },
    vae: VAE,
    clip: { width: 64, layers: 2, intermediate: 96, vocab: 300, positions: 77 },
    openClip: { width: 128, layers: 2, vocab: 300, positions: 77, projection: 64 },
  },
};

/** Deterministic float16 bit patterns of moderate magnitude (2⁻⁷ … 2⁻², either sign), different per key. */
function fill(key: string, count: number): Uint16Array {
  let s = [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s & 0x8000) | (0x2000 + ((s >>> 16) % 0x1400));
  }
  return out;
}

function expectedBytes(source: Uint8Array, relation: string, shape: number[]): Uint8Array {
  const m = /^rows:(\d)\/3$/.exec(relation);
  if (m) {
    const third = source.length / 3;
    return source.subarray(Number(m[1]) * third, (Number(m[1]) + 1) * third);
  }
  if (relation === 'transpose') {
    const [rows = 0, cols = 0] = shape;
    const out = new Uint8Array(source.length);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++)
        out.set(source.subarray((r * cols + c) * 2, (r * cols + c) * 2 + 2), (c * rows + r) * 2);
    return out;
  }
  return source; // 'same' and 'linear' keep the bytes
}

describe('single-file layouts → diffusers components', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-layouts-')));
  afterAll(() => tmp.cleanup());

  for (const [label, arch] of Object.entries(ARCHS)) {
    it(`${label}: every weight lands under its diffusers name, configs build`, async () => {
      const file = path.join(tmp.dir, `${label}.safetensors`);
      await writeLdmSafetensors(file, arch, 'float16', fill);
      const dict = await openStateDict(file);
      const c = singleFileComponents(dict);
      expect(c.family).toBe(arch.family);
      expect(c.inpainting).toBe(arch.unet.inChannels === 9);

      const parts: Record<string, ReadonlyMap<string, Tensor> | undefined> = {
        unet: c.unet.weights,
        vae: c.vae.weights,
        text_encoder: c.textEncoder.weights,
        text_encoder_2: c.textEncoder2?.weights,
      };
      const expected = new Map<string, Set<string>>();
      for (const w of ldmWeights(arch)) {
        if (!w.target) continue;
        const names = expected.get(w.target.component) ?? new Set<string>();
        names.add(w.target.name);
        expected.set(w.target.component, names);
        const got = parts[w.target.component]?.get(w.target.name);
        expect(got, `${w.ldm} → ${w.target.name}`).toBeDefined();
        const want = expectedBytes(tensorBytes(dict.tensors.get(w.ldm)!), w.relation, w.shape);
        expect(Buffer.from(tensorBytes(got!)).equals(Buffer.from(want)), `${w.ldm} → ${w.target.name}`).toBe(true);
        if (w.relation === 'linear') expect(got!.dims).toEqual(w.shape.slice(0, 2));
      }
      for (const [component, names] of expected)
        expect([...parts[component]!.keys()].sort()).toEqual([...names].sort());
      expect(parts['text_encoder_2'] === undefined).toBe(arch.family !== 'sdxl');

      expectBuilds(c);
      const u = c.unet.config;
      expect(u['layers_per_block']).toBe(arch.unet.layers);
      expect(u['block_out_channels']).toEqual(arch.unet.mult.map((m) => m * arch.unet.modelChannels));
      expect(u['attention_head_dim']).toEqual(arch.family === 'sd1' ? 8 : arch.unet.mult.map((m) => m)); // 64-wide heads
      if (arch.family === 'sdxl') expect(u['addition_time_embed_dim']).toBe(8);
      const te = c.textEncoder.config;
      expect(te['hidden_act']).toBe(arch.family === 'sd2' ? 'gelu' : 'quick_gelu');
      if (arch.family === 'sd2') expect(te['num_hidden_layers']).toBe(arch.openClip!.layers - 1); // penultimate layer
      if (c.textEncoder2) expect(c.textEncoder2.config).toMatchObject({ hidden_act: 'gelu', projection_dim: 64 });
    });
  }

  for (const dtype of ['bfloat16', 'float32'] as const) {
    it(`sd1 in ${dtype}: the weights keep their dtype in the diffusers copies and widen exactly for the graphs`, async () => {
      const file = path.join(tmp.dir, `sd1-${dtype}.safetensors`);
      const bits = (key: string, count: number) => {
        const half = fill(key, count); // reused as bfloat16 bits: 2⁻⁶³ … 2⁻⁴², harmless
        return dtype === 'float32' ? Float32Array.from(half, (h) => (h & 0x3ff) / 4096 - 0.125) : half;
      };
      await writeLdmSafetensors(file, ARCHS['sd1']!, dtype, bits);
      const dict = await openStateDict(file);
      const c = singleFileComponents(dict);
      const w = c.unet.weights.get('conv_in.weight')!;
      expect(w.dtype).toBe(dtype);
      const src = dict.tensors.get('model.diffusion_model.input_blocks.0.0.weight')!;
      expect(Buffer.from(tensorBytes(w)).equals(Buffer.from(tensorBytes(src)))).toBe(true);
      // What a graph reads: float32, widened exactly (bfloat16 bits b are the float32 bits b << 16).
      const widened = tensorToFloat32(withDtype(w, 'float32'));
      const raw = tensorBytes(src);
      const want =
        dtype === 'bfloat16'
          ? new Float32Array(
              Uint32Array.from(new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2), (b) => b << 16).buffer,
            )
          : new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
      expect(
        Buffer.from(widened.buffer, widened.byteOffset, widened.byteLength).equals(
          Buffer.from(want.buffer, want.byteOffset, want.byteLength),
        ),
      ).toBe(true);
      expectBuilds(c);
    });
  }

  it('SD 2.x prediction: v_pred key, the norm1.bias spread heuristic, epsilon for inpainting', () => {
    const key = 'model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias';
    const wide = () => Float32Array.from([-0.15, -0.05, 0.05, 0.15]);
    const narrow = () => Float32Array.from([-0.03, -0.01, 0.01, 0.03]);
    expect(sd2Prediction(new Set([key]), wide, 4)).toBe('v_prediction');
    expect(sd2Prediction(new Set([key]), narrow, 4)).toBe('epsilon');
    expect(sd2Prediction(new Set([key]), wide, 9)).toBe('epsilon');
    expect(sd2Prediction(new Set(['v_pred']), narrow, 4)).toBe('v_prediction');
  });
});

/** The inferred configs and mapped weights build with the engine's builders (every weight they ask for exists). */
function expectBuilds(c: ModelComponents): void {
  const source = (m: ReadonlyMap<string, Tensor>) => memoryWeights(m);
  expect(() => buildUNet(c.unet.config, source(c.unet.weights))).not.toThrow();
  expect(() => buildVaeDecoder(c.vae.config, source(c.vae.weights))).not.toThrow();
  expect(() => buildVaeEncoder(c.vae.config, source(c.vae.weights))).not.toThrow();
  expect(() => buildClipTextModel(c.textEncoder.config, source(c.textEncoder.weights))).not.toThrow();
  if (c.textEncoder2)
    expect(() => buildClipTextModel(c.textEncoder2!.config, source(c.textEncoder2!.weights))).not.toThrow();
}
