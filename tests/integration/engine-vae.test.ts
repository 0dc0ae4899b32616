/**
 * The VAE decoder and encoder built from the fixtures' diffusers-layout weights, run in
 * onnxruntime (CPU) against the fixtures' own ONNX exports.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTensor, encodeModel } from '../../src-main/engine/graph';
import {
  buildVaeDecoder,
  buildVaeEncoder,
  type AutoencoderKLConfig,
  type ModuleCall,
  type WeightSource,
} from '../../src-main/engine/models';
import type { SafetensorsFile } from '../../src-main/engine/weights';
import { FIXTURES } from '../helpers/fixtures';
import { openSafetensorsModel, runOnnx } from '../helpers/onnx';

const TOLERANCE = 1e-4;

type Vae = { config: AutoencoderKLConfig; weights: WeightSource; file: SafetensorsFile; dir: string };

async function openVae(model: string): Promise<Vae> {
  const dir = path.join(FIXTURES, model);
  const opened = await openSafetensorsModel<AutoencoderKLConfig>(
    path.join(dir, 'vae/diffusion_pytorch_model.safetensors'),
    path.join(dir, 'vae/config.json'),
  );
  return { ...opened, dir };
}

function noise(dims: number[], seed: number, scale = 1): ort.Tensor {
  let s = seed;
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n).map(() => (((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1) * scale);
  return new ort.Tensor('float32', data, dims);
}

/** Channels [from, to) of an NCHW tensor, as a flat array. */
function channels(t: ort.Tensor, from: number, to: number): Float32Array {
  const [n, c, h, w] = t.dims as [number, number, number, number];
  const data = t.data as Float32Array;
  const out = new Float32Array(n * (to - from) * h * w);
  for (let i = 0; i < n; i++)
    out.set(data.subarray((i * c + from) * h * w, (i * c + to) * h * w), i * (to - from) * h * w);
  return out;
}

function maxDiff(x: Float32Array, y: Float32Array): number {
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** Latent sizes: square, non-square, odd. */
const LATENTS: [number, number, number][] = [
  [1, 8, 8],
  [2, 16, 24],
  [1, 13, 7],
];

describe.each(['sd15-tiny', 'sdxl-tiny'])('VAE: %s', (model) => {
  let vae: Vae;
  beforeAll(async () => (vae = await openVae(model)));
  afterAll(() => vae.file.close());

  it('the decoder matches vae_decoder/model.onnx', async () => {
    const ours = encodeModel(buildVaeDecoder(vae.config, vae.weights));
    const diffs: Record<string, number> = {};
    for (const [i, [n, h, w]] of LATENTS.entries()) {
      const feeds = { latent_sample: noise([n, 4, h, w], 100 + i, 3) };
      const [a, b] = await Promise.all([
        runOnnx(ours, feeds),
        runOnnx(path.join(vae.dir, 'vae_decoder/model.onnx'), feeds),
      ]);
      expect(a.sample!.dims).toEqual([n, 3, h * 2, w * 2]);
      expect(b.sample!.dims).toEqual(a.sample!.dims);
      diffs[`${n}×4×${h}×${w}`] = maxDiff(a.sample!.data as Float32Array, b.sample!.data as Float32Array);
    }
    console.log(model, 'decoder', diffs);
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(TOLERANCE);
  });

  it('the encoder matches vae_encoder/model.onnx (mean, or all of latent_parameters)', async () => {
    const ours = encodeModel(buildVaeEncoder(vae.config, vae.weights));
    const theirsPath = path.join(vae.dir, 'vae_encoder/model.onnx');
    const diffs: Record<string, number> = {};
    for (const [i, [n, h, w]] of [...LATENTS, [1, 15, 9] as [number, number, number]].entries()) {
      const feeds = { sample: noise([n, 3, h * 2 + (i === 3 ? 1 : 0), w * 2 + (i === 3 ? 1 : 0)], 200 + i) };
      const [a, b] = await Promise.all([runOnnx(ours, feeds), runOnnx(theirsPath, feeds)]);
      const params = a.latent_parameters!;
      expect(params.dims).toEqual([n, 8, h, w]);
      const logvar = channels(params, 4, 8);
      expect(logvar.every((v) => Number.isFinite(v) && v >= -30 && v <= 20)).toBe(true);
      const key = `${n}×3×${feeds.sample.dims[2]}×${feeds.sample.dims[3]}`;
      if (b.latent_parameters) {
        // sdxl-tiny's export gives the distribution: compare mean and log-variance.
        expect(b.latent_parameters.dims).toEqual(params.dims);
        diffs[key] = maxDiff(params.data as Float32Array, b.latent_parameters.data as Float32Array);
      } else {
        // sd15-tiny's gives the mode (= mean), 4 channels.
        expect(b.latent_sample!.dims).toEqual([n, 4, h, w]);
        diffs[key] = maxDiff(channels(params, 0, 4), b.latent_sample!.data as Float32Array);
      }
    }
    console.log(model, 'encoder', diffs);
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(TOLERANCE);
  });

  it('is deterministic and hooks see every Conv and Linear by its diffusers name', async () => {
    const calls: ModuleCall[] = [];
    const hooks = { module: (call: ModuleCall) => (calls.push(call), call.base()) };
    const a = encodeModel(buildVaeEncoder(vae.config, vae.weights, { hooks }));
    const b = encodeModel(buildVaeEncoder(vae.config, vae.weights));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    buildVaeDecoder(vae.config, vae.weights, { hooks });
    const seen = new Set(calls.map((c) => `${c.path}.weight`));
    const inFile = vae.file.names.filter((n) => n.endsWith('.weight') && !/norm/.test(n));
    expect([...seen].sort()).toEqual(inFile.sort());
    expect(calls.find((c) => c.path === 'decoder.mid_block.attentions.0.to_q')?.kind).toBe('linear');
    expect(calls.find((c) => c.path === 'quant_conv')).toMatchObject({ kind: 'conv', kernel: 1 });
  });

  it('clamps the log-variance to [−30, 20] as DiagonalGaussianDistribution does', async () => {
    // quant_conv biases far outside the range on the log-variance channels, untouched mean channels.
    const mean = ((await vae.file.read('quant_conv.bias')).data as Float32Array).subarray(0, 4);
    const shifted = createTensor('quant_conv.bias', 'float32', [8], [...mean, 1e4, -1e4, 1e4, -1e4]);
    const weights: WeightSource = {
      has: (name) => vae.weights.has(name),
      get: (name) => (name === 'quant_conv.bias' ? shifted : vae.weights.get(name)),
      names: () => vae.weights.names(),
    };
    const feeds = { sample: noise([1, 3, 16, 16], 7) };
    const [a, b] = await Promise.all([
      runOnnx(encodeModel(buildVaeEncoder(vae.config, weights)), feeds),
      runOnnx(encodeModel(buildVaeEncoder(vae.config, vae.weights)), feeds),
    ]);
    const pa = a.latent_parameters!;
    expect(maxDiff(channels(pa, 0, 4), channels(b.latent_parameters!, 0, 4))).toBe(0);
    const per = 8 * 8;
    const logvar = channels(pa, 4, 8);
    for (let c = 0; c < 4; c++) {
      const want = c % 2 === 0 ? 20 : -30;
      expect(logvar.subarray(c * per, (c + 1) * per).every((v) => v === want)).toBe(true);
    }
  });
});
