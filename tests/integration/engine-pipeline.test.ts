/**
 * The pipelines against the fixtures' references (diffusers + PyTorch CPU): sd15-tiny's text encoder, UNet
 * forward and two txt2img runs; sdxl-tiny's embeddings and two txt2img runs (one without a negative prompt, one
 * not square); determinism, the PNG `parameters` chunk, batches, guidance skipped at CFG ≤ 1 (what reached the
 * UNet, recorded), clip skip on an export without hidden states (against the export's own inner layer), cancel,
 * previews and model-folder errors.
 */
import { mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { encodeModel, extractSubgraph, loadModel } from '../../src-main/engine/graph';
import { parseInfotext, readPngText } from '../../src-main/engine/image';
import {
  Engine,
  readFinalLayerNorm,
  TextEncoder,
  UNetRunner,
  type GenerateRequest,
  type StableDiffusionPipeline,
} from '../../src-main/engine/pipelines';
import { probeModelBytes } from '../../src-main/engine/runtime';
import { ClipTokenizer } from '../../src-main/engine/text';
import { expectRgbClose, readReferenceFile, referenceRequest, type ReferenceRun } from '../helpers/reference-images';
import { FIXTURES } from '../helpers/fixtures';
import { readFloat32, runOnnx } from '../helpers/onnx';
import { recordingBackend } from '../helpers/recording-backend';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = path.join(FIXTURES, 'sd15-tiny');
const SDXL = path.join(FIXTURES, 'sdxl-tiny');

type Run = ReferenceRun<NonNullable<GenerateRequest['sampler']>> & { timesteps: number[]; latents_f32le: string };
const cases = (dir: string) => readReferenceFile<Run>(path.join(dir, 'reference', 'cases.json'));
const f32 = readFloat32;
const maxAbs = (a: Float32Array, b: Float32Array): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

const requestFor = (model: string, run: Run): GenerateRequest => referenceRequest(model, run);

// Derived models (the clip-skip text encoder) go to a private cache, not the shared default under the temp folder.
const engineCache = makeTempDir('pinhole-engine-cache-');
// Every run's feeds are recorded, so tests can check what reached the UNet.
const recorder = recordingBackend();
const engine = new Engine({ cacheDir: engineCache.dir, backend: recorder.backend });
afterAll(async () => {
  await engine.dispose();
  engineCache.cleanup();
});

describe('runtime on onnxruntime-node', () => {
  it('probes providers with the built-in model and picks one that runs', async () => {
    expect(probeModelBytes().length).toBeGreaterThan(50);
    const selection = await engine.provider();
    expect(selection.attempts.at(-1)).toMatchObject({ provider: selection.provider, ok: true });
    for (const skipped of selection.attempts.slice(0, -1)) expect(skipped.reason).toBeTruthy();
  });
});

describe('sd15-tiny', () => {
  const ref = cases(SD15);
  let pipeline: StableDiffusionPipeline;
  beforeAll(async () => {
    pipeline = await engine.pipeline(SD15);
  });

  it('detects the model', () => {
    expect(pipeline.model.traits).toMatchObject({
      family: 'sd1',
      variant: 'base',
      predictionType: 'epsilon',
      inpainting: false,
    });
    expect(pipeline.model.vae).toMatchObject({ scalingFactor: 0.18215, scaleFactor: 2, latentChannels: 4 });
  });

  it('reproduces the text encoder output', async () => {
    const tokenizer = await ClipTokenizer.fromModelFolder(SD15);
    expect(Array.from(tokenizer.encodePadded(ref['prompt'] as string).ids)).toEqual(ref['prompt_ids']);
    const encoder = await pipeline.promptEncoder(1, true);
    const cond = await encoder.encode(ref['prompt'] as string);
    expect([cond.tokens, cond.channels]).toEqual([77, 32]);
    expect(maxAbs(cond.hidden, f32(path.join(SD15, 'reference', 'text.cond.bin')))).toBeLessThan(1e-5);
  });

  it('reproduces the UNet forward (int64 timestep, [batch])', async () => {
    const forward = ref['unet_forward'] as Record<string, string | number>;
    const unet = new UNetRunner(await engine.runtime.session(path.join(SD15, 'unet', 'model.onnx')));
    const sample = f32(path.join(SD15, 'reference', forward['sample'] as string));
    const ehs = f32(path.join(SD15, 'reference', forward['encoder_hidden_states'] as string));
    const batch = ehs.length / (77 * 32);
    const out = await unet.predict(sample, [batch, 4, 32, 32], forward['timestep'] as number, {
      encoderHiddenStates: ehs,
      tokens: 77,
      channels: 32,
    });
    expect(maxAbs(out, f32(path.join(SD15, 'reference', forward['out_sample'] as string)))).toBeLessThan(1e-4);
  });

  for (const run of ref.runs) {
    it(`reproduces txt2img ${run.scheduler} ${run.steps} steps seed ${run.seed}`, async () => {
      const result = await engine.generate(requestFor(SD15, run));
      expect(result.timesteps).toEqual(run.timesteps);
      const latents = f32(path.join(SD15, 'reference', run.latents_f32le));
      expect(maxAbs(result.latents[0]!, latents)).toBeLessThan(1e-3);
      expectRgbClose(result.images[0]!.image.data, readFileSync(path.join(SD15, 'reference', run.image_rgb8)));
    });
  }

  it('is deterministic: same seed, same bytes; another seed, another image', async () => {
    const request = { ...requestFor(SD15, ref.runs[0]!), steps: 4 };
    const a = await engine.generate(request);
    const b = await engine.generate(request);
    expect(Buffer.from(a.images[0]!.png).equals(Buffer.from(b.images[0]!.png))).toBe(true);
    const c = await engine.generate({ ...request, seed: 43n });
    expect(Buffer.from(a.images[0]!.image.data).equals(Buffer.from(c.images[0]!.image.data))).toBe(false);
  });

  it('writes a readable A1111 parameters chunk', async () => {
    const run = ref.runs[0]!;
    const result = await engine.generate({ ...requestFor(SD15, run), steps: 2, modelName: 'tiny, v1' });
    const text = readPngText(result.images[0]!.png)['parameters']!;
    expect(text).toBe(result.images[0]!.parameters);
    const parsed = parseInfotext(text);
    expect(parsed.prompt).toBe(run.prompt);
    expect(parsed.negativePrompt).toBe(run.negative_prompt);
    expect(parsed.params).toMatchObject({
      Steps: '2',
      Sampler: 'Euler',
      'CFG scale': '7.5',
      Seed: '42',
      Size: '64x64',
      Model: 'tiny, v1',
    });
    expect(parsed.params['Model hash']).toMatch(/^[0-9a-f]{10}$/);
    const hashed = await engine.generate({ ...requestFor(SD15, run), steps: 1, modelHash: 'ABCDEF0123456789' });
    expect(parseInfotext(hashed.images[0]!.parameters).params['Model hash']).toBe('abcdef0123');
  });

  it('runs batches: one generator per batch, seed + k per batch', async () => {
    const single = { ...requestFor(SD15, ref.runs[0]!), steps: 3 };
    const counted = await engine.generate({ ...single, batchCount: 2 });
    expect(counted.images.map((i) => [i.seed, i.iteration, i.batchIndex])).toEqual([
      [42n, 0, 0],
      [43n, 1, 0],
    ]);
    const second = await engine.generate({ ...single, seed: 43n });
    // Batch k of a count is exactly the single run at seed + k, infotext included.
    expect(Buffer.from(counted.images[1]!.png).equals(Buffer.from(second.images[0]!.png))).toBe(true);
    const batched = await engine.generate({ ...single, batchSize: 2 });
    expect(batched.images).toHaveLength(2);
    expect(batched.latents[0]!.length).toBe(2 * 4 * 32 * 32);
    // The first image of a batch gets the first half of randn([2, …]), which equals randn([1, …]).
    const first = await engine.generate(single);
    expect(maxAbs(batched.latents[0]!.subarray(0, 4096), first.latents[0]!)).toBeLessThan(1e-3);
    expect(parseInfotext(batched.images[1]!.parameters).params).toMatchObject({ 'Batch size': '2', 'Batch pos': '1' });
  });

  it('skips guidance at cfg ≤ 1: one UNet pass per step at batch 1, the negative prompt unused', async () => {
    const unetFile = path.join(SD15, 'unet', 'model.onnx');
    const unetBatches = async (request: GenerateRequest) => {
      recorder.clear();
      const result = await engine.generate(request);
      const runs = recorder.runs.filter((r) => r.file === unetFile);
      return {
        result,
        batches: runs.map((r) => [r.feeds['sample']!.dims[0], r.feeds['encoder_hidden_states']!.dims[0]]),
      };
    };
    const base = { ...requestFor(SD15, ref.runs[0]!), steps: 3 };
    // With guidance the negative prompt is the first half of a doubled batch, so the check below can fail.
    expect((await unetBatches(base)).batches).toEqual([
      [2, 2],
      [2, 2],
      [2, 2],
    ]);
    for (const cfgScale of [1, 0]) {
      const a = await unetBatches({ ...base, cfgScale });
      expect(a.batches).toEqual([
        [1, 1],
        [1, 1],
        [1, 1],
      ]);
      const b = await unetBatches({ ...base, cfgScale, negativePrompt: 'an entirely different negative prompt' });
      expect(Buffer.from(a.result.images[0]!.image.data).equals(Buffer.from(b.result.images[0]!.image.data))).toBe(
        true,
      );
      expect(maxAbs(a.result.latents[0]!, b.result.latents[0]!)).toBe(0);
    }
  });

  it("clip skip on an export without hidden_states: builds the encoder from its weights, matching the export's own layers", async () => {
    const prompt = ref['prompt'] as string;
    // The reference: the third-party export itself, its final layer norm rewired from the last encoder layer's
    // output to the penultimate one's (A1111 / diffusers clip skip 2 = final_layer_norm(hidden_states[-2])),
    // then cut down to the part that computes `last_hidden_state`.
    const layers = (
      JSON.parse(readFileSync(path.join(SD15, 'text_encoder', 'config.json'), 'utf8')) as Record<string, number>
    )['num_hidden_layers']!;
    const model = await loadModel(path.join(SD15, 'text_encoder', 'model.onnx'));
    const lastLayer = `/text_model/layers.${layers - 1}/Add_1_output_0`;
    const penultimate = `/text_model/layers.${layers - 2}/Add_1_output_0`;
    expect(model.graph.nodes.some((n) => n.outputs.includes(penultimate))).toBe(true);
    let rewired = 0;
    for (const node of model.graph.nodes) {
      if (!node.name.startsWith('/text_model/final_layer_norm/')) continue;
      node.inputs = node.inputs.map((input) => (input === lastLayer ? (rewired++, penultimate) : input));
    }
    expect(rewired).toBe(2); // the mean and the centring
    model.graph = extractSubgraph(model.graph, ['input_ids'], ['last_hidden_state']);
    const ids = (await ClipTokenizer.fromModelFolder(SD15)).encodePadded(prompt).ids;
    const out = await runOnnx(encodeModel(model), {
      input_ids: new ort.Tensor('int32', Int32Array.from(ids), [1, 77]),
    });
    const reference = out['last_hidden_state']!.data as Float32Array;

    const pipeline = await engine.pipeline(SD15);
    const skipped = await (await pipeline.promptEncoder(2, true)).encode(prompt);
    const diff = maxAbs(skipped.hidden, reference);
    console.info(`clip skip 2 vs the export's penultimate layer + its final layer norm: max |Δ| ${diff}`);
    expect(diff).toBeLessThan(1e-4);
    // Clip skip changes the conditioning (so the comparison above can fail).
    const last = await (await pipeline.promptEncoder(1, true)).encode(prompt);
    expect(maxAbs(last.hidden, reference)).toBeGreaterThan(1e-2);
    // The built encoder lives in the engine's cache, not in the model folder.
    const built = pipeline.sessionFilesOutside().filter((f) => f.includes(`${path.sep}text-encoder-hidden${path.sep}`));
    expect(built).toHaveLength(1);
    expect(built[0]!.startsWith(engineCache.dir)).toBe(true);

    const result = await engine.generate({ ...requestFor(SD15, ref.runs[0]!), steps: 2, clipSkip: 2 });
    expect(parseInfotext(result.images[0]!.parameters).params['Clip skip']).toBe('2');
  });

  it('reports progress with previews, and cancels between steps', async () => {
    const steps: number[] = [];
    const previews: number[] = [];
    await engine.generate(
      { ...requestFor(SD15, ref.runs[0]!), previewEvery: 2 },
      {
        onProgress: (p) => {
          steps.push(p.step);
          if (p.preview) {
            expect(p.preview).toMatch(/^data:image\/png;base64,/);
            previews.push(p.step);
          }
        },
      },
    );
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(previews).toEqual([2, 4, 6]);
    const controller = new AbortController();
    const seen: number[] = [];
    const canceled = engine.generate(
      { ...requestFor(SD15, ref.runs[0]!), steps: 20 },
      {
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p.step);
          if (p.step === 2) controller.abort();
        },
      },
    );
    await expect(canceled).rejects.toMatchObject({ name: 'CanceledError', code: 'CANCELED' });
    expect(seen).toEqual([1, 2]);
  });

  it('rejects sizes that are not multiples of 8', async () => {
    await expect(engine.generate({ ...requestFor(SD15, ref.runs[0]!), width: 60 })).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      message: 'width: 60 is not a multiple of 8',
    });
  });
});

describe('sdxl-tiny', () => {
  const ref = cases(SDXL);

  it('detects the model', async () => {
    const pipeline = await engine.pipeline(SDXL);
    expect(pipeline.model.traits).toMatchObject({ family: 'sdxl', variant: 'base', forceZerosForEmptyPrompt: true });
    expect(pipeline.model.vae.scalingFactor).toBe(0.13025);
  });

  it('reproduces the prompt and pooled embeddings', async () => {
    const encoder = await (await engine.pipeline(SDXL)).promptEncoder(1, true);
    const cond = await encoder.encode(ref['prompt'] as string);
    expect([cond.tokens, cond.channels, cond.pooledDim]).toEqual([77, 64, 32]);
    expect(maxAbs(cond.hidden, f32(path.join(SDXL, 'reference', 'prompt_embeds.bin')))).toBeLessThan(1e-5);
    expect(maxAbs(cond.pooled!, f32(path.join(SDXL, 'reference', 'pooled_prompt_embeds.bin')))).toBeLessThan(1e-5);
  });

  for (const run of ref.runs) {
    const label = `${run.scheduler} ${run.width}×${run.height} ${run.negative_prompt === null ? 'without negative (zeros)' : 'with negative'}`;
    it(`reproduces txt2img ${label}`, async () => {
      const result = await engine.generate(requestFor(SDXL, run));
      expect(result.timesteps).toEqual(run.timesteps);
      expect(maxAbs(result.latents[0]!, f32(path.join(SDXL, 'reference', run.latents_f32le)))).toBeLessThan(1e-3);
      expect([result.images[0]!.image.width, result.images[0]!.image.height]).toEqual([run.width, run.height]);
      expectRgbClose(result.images[0]!.image.data, readFileSync(path.join(SDXL, 'reference', run.image_rgb8)));
    });
  }

  it("rejects a prompt longer than the export's fixed 77 tokens", async () => {
    const run = ref.runs[0]!;
    const long = Array.from({ length: 90 }, () => 'lighthouse').join(' ');
    await expect(engine.generate({ ...requestFor(SDXL, run), prompt: long, steps: 1 })).rejects.toThrow(
      /exactly 77 prompt tokens/,
    );
  });

  it("applies the final layer norm found in the encoder's graph (clip skip)", async () => {
    const file = path.join(SDXL, 'text_encoder', 'model.onnx');
    const encoder = new TextEncoder(await engine.runtime.session(file));
    const norm = await readFinalLayerNorm(file);
    const ids = (await ClipTokenizer.fromModelFolder(SDXL)).encodePadded('a lighthouse').ids;
    const last = await encoder.encode(ids, 1, 77, { kind: 'last' });
    const rebuilt = await encoder.encode(ids, 1, 77, { kind: 'hidden', fromEnd: 1, norm: { ...norm, eps: 1e-5 } });
    expect(maxAbs(rebuilt.hidden, last.hidden)).toBeLessThan(1e-4);
  });
});

describe('model folder errors', () => {
  const temp = makeTempDir('pinhole-model-');
  afterAll(temp.cleanup);

  /**
   * sd15-tiny as a temp folder of real directories with a symlink per file (never a linked directory: writing
   * into one would write into the shared fixtures), minus `omit`, with `files` written over (links removed first).
   */
  function modelWith(name: string, omit: string[], files: Record<string, string> = {}): string {
    const dir = path.join(temp.dir, name);
    mkdirSync(dir);
    for (const entry of readdirSync(SD15, { withFileTypes: true })) {
      if (omit.includes(entry.name) || entry.name === 'reference' || entry.name === 'training') continue;
      if (!entry.isDirectory()) {
        symlinkSync(path.join(SD15, entry.name), path.join(dir, entry.name));
        continue;
      }
      mkdirSync(path.join(dir, entry.name));
      for (const file of readdirSync(path.join(SD15, entry.name))) {
        symlinkSync(path.join(SD15, entry.name, file), path.join(dir, entry.name, file));
      }
    }
    for (const [file, text] of Object.entries(files)) {
      const target = path.join(dir, file);
      mkdirSync(path.dirname(target), { recursive: true });
      rmSync(target, { force: true }); // removes a link, never what it points to
      expect(realpathSync(path.dirname(target)).startsWith(realpathSync(temp.dir))).toBe(true);
      writeFileSync(target, text);
    }
    return dir;
  }
  const request = (model: string): GenerateRequest => ({
    model,
    prompt: 'x',
    seed: 1n,
    steps: 1,
    width: 64,
    height: 64,
  });

  it('names what is missing or malformed', async () => {
    await expect(engine.generate(request(path.join(temp.dir, 'absent')))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('absent'),
    });
    const noUnet = modelWith('no-unet', ['unet']);
    await expect(engine.generate(request(noUnet))).rejects.toMatchObject({
      code: 'IMPORT_REJECTED',
      message: `Model file missing: ${path.join(noUnet, 'unet', 'model.onnx')} (the UNet)`,
    });
    const badIndex = modelWith('bad-index', [], { 'model_index.json': '{ "_class_name": ' });
    await expect(engine.generate(request(badIndex))).rejects.toThrow(
      `${path.join(badIndex, 'model_index.json')} is not valid JSON`,
    );
    const badVae = modelWith('bad-vae', ['vae'], { 'vae_decoder/config.json': '{"scaling_factor": "big"}' });
    await expect(engine.generate(request(badVae))).rejects.toThrow(
      /vae_decoder\/config\.json: "scaling_factor" must be a positive number/,
    );
    const garbage = modelWith('garbage-unet', ['unet'], { 'unet/model.onnx': 'not onnx' });
    await expect(engine.generate(request(garbage))).rejects.toMatchObject({
      code: 'IMPORT_REJECTED',
      message: expect.stringContaining('garbage-unet/unet/model.onnx'),
    });
    // Clip skip with an export lacking hidden_states and no text-encoder weights to build an encoder from.
    const noTextWeights = modelWith('no-text-weights', []);
    rmSync(path.join(noTextWeights, 'text_encoder', 'model.safetensors')); // the link, not the fixture
    await expect(engine.generate({ ...request(noTextWeights), clipSkip: 2 })).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      message: expect.stringMatching(
        /without hidden_states outputs, so it cannot give an inner layer \(clip skip\), and .* has no text_encoder\/config\.json \+ text_encoder\/model\.safetensors/,
      ),
    });
    // No ONNX encoder and no VAE weights to build one from (with the weights, the encoder is built instead).
    const noEncoder = modelWith('no-encoder', ['vae_encoder', 'vae']);
    await expect(
      engine.generate({ ...request(noEncoder), steps: 4, initImage: path.join(SD15, 'reference', 'img2img-init.png') }),
    ).rejects.toThrow(
      /no vae_encoder\/model\.onnx and no vae\/diffusion_pytorch_model\.safetensors, which img2img needs/,
    );
  });
});
