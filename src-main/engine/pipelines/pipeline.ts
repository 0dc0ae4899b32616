import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import {
  encodePng,
  formatInfotext,
  insertPngText,
  latentToRgb,
  loadMask,
  loadRgb,
  maskToLatentGrid,
  pasteOutsideMask,
  rgbToPngDataUrl,
  rgbToTensor,
  samplerDisplayName,
  tensorToRgb,
  LATENT_RGB_SD,
  LATENT_RGB_SDXL,
} from '../image';
import { TorchGenerator } from '../random';
import type { ModelSession, Runtime } from '../runtime';
import { createScheduler } from '../schedulers';
import { ClipTokenizer } from '../text';
import { padToSameLength, PromptEncoder, zerosLike, type Conditioning } from './conditioning';
import { denoise, throwIfAborted } from './denoise';
import { findComponentWeights, networkInfotext, planLoras, type LoraPlan } from './lora-models';
import { loadModelFolder, type ModelFolder } from './model-folder';
import { readFinalLayerNorm, type LayerNormParams } from './onnx-initializers';
import {
  resolveRequest,
  seedForIteration,
  type GeneratedImage,
  type GenerateProgress,
  type GenerateRequest,
  type GenerateResult,
  type ResolvedRequest,
} from './request';
import {
  img2imgStart,
  inpaintStart,
  repeatBatch,
  txt2imgStart,
  type InpaintInputs,
  type StartLatents,
} from './start-latents';
import { TextEncoder } from './text-encoder';
import { textEncoderBuild, type TextEncoderComponent } from './text-encoder-source';
import { guidanceScaleEmbedding, UNetRunner, type UNetConditioning } from './unet';
import { countFixedUpsamplers, unsupportedSizeError } from './unet-upsampling';
import { VaeDecoder, type EncodedImage, type VaeEncoder } from './vae';
import { chooseVaeEncoder, openVaeEncoder, type VaeEncoderSource } from './vae-encoder-source';

/** Cooperative cancel and progress for one `generate`. */
export interface GenerateOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: GenerateProgress) => void | Promise<void>;
}

/**
 * A loaded Stable Diffusion model (SD 1.x, 2.x, SDXL and their Turbo/LCM variants) generating images: txt2img,
 * img2img and inpainting, with classifier-free guidance, A1111 prompt weighting, batches, clip skip, previews,
 * and PNGs carrying A1111's `parameters`. Sessions come from the runtime's cache, created on first use.
 */
export class StableDiffusionPipeline {
  private finalNorm: Promise<LayerNormParams> | undefined;
  private modelHash: Promise<string> | undefined;
  private encoderSource: Promise<VaeEncoderSource> | undefined;
  /** How many fixed 2× upsamplers the folder's UNet export has (0 for our builds), read once. */
  private fixedUpsamplers: Promise<number> | undefined;
  /** Whether a folder's ONNX text encoder has `hidden_states` outputs, once it has been loaded. */
  private readonly exportHasHiddenStates = new Map<string, boolean>();
  /** Model files outside the folder whose sessions this pipeline opened (built encoders in the cache). */
  private readonly outsideFiles = new Set<string>();
  /** The LoRA-merged models the last request with LoRAs ran (disposed when another set replaces them). */
  private loraFiles = new Set<string>();

  private constructor(
    readonly model: ModelFolder,
    private readonly runtime: Runtime,
    private readonly tokenizer: ClipTokenizer,
    private readonly tokenizer2: ClipTokenizer | undefined,
  ) {}

  /**
   * Reads a model folder and its tokenizers (sessions load lazily).
   * @throws PinholeError `NOT_FOUND` / `IMPORT_REJECTED` naming the file for a missing or malformed model.
   */
  static async load(runtime: Runtime, dir: string): Promise<StableDiffusionPipeline> {
    const model = await loadModelFolder(dir);
    const tokenizer = await ClipTokenizer.load(model.files.tokenizer);
    const tokenizer2 = model.files.tokenizer2 ? await ClipTokenizer.load(model.files.tokenizer2) : undefined;
    return new StableDiffusionPipeline(model, runtime, tokenizer, tokenizer2);
  }

  /**
   * Generates `batchCount × batchSize` images.
   * @throws PinholeError `INVALID_PARAMS` for a bad request, `CanceledError` when `signal` aborts (checked
   *   between steps), and the runtime's errors for models that cannot load.
   */
  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const started = performance.now();
    const req = resolveRequest(request, this.model);
    const { model } = this;
    throwIfAborted(options.signal);

    const lora =
      req.loras.length > 0 || req.embeddings.size > 0
        ? await this.loraSessions(
            await planLoras(model, req.loras, {
              embeddings: req.embeddings,
              prompts: [req.prompt, req.negativePrompt],
              tokenizer: this.tokenizer,
            }),
          )
        : undefined;
    const unet = new UNetRunner(
      lora?.unet ?? (await this.runtime.session(model.files.unet)),
      numberOr(model.unetConfig['time_cond_proj_dim']),
    );
    // A merged LoRA UNet is our own build, which runs any size; the folder's export may not.
    if (!lora?.unet) await this.checkUnetSize(req);
    const inpaintUnet = unet.inChannels === 9;
    if (inpaintUnet && req.mode !== 'inpaint') {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${model.name} has an inpainting UNet (9 channels): give an init image and a mask`,
      );
    }
    // LCM UNets with a guidance embedding take the scale as an input and run without a negative batch.
    const guided = req.cfgScale > 1 && unet.timestepCondDim === undefined;

    const textStart = performance.now();
    const conditioning = await this.conditioning(req, unet, guided, lora);
    const textMs = performance.now() - textStart;

    // Constant across steps and batches: on a provider that keeps tensors on its device, uploaded once here.
    const device = (await this.runtime.keepsTensorsOnDevice())
      ? await unet.upload(conditioning, guided ? 2 * req.batchSize : req.batchSize, (t) => this.runtime.upload(t))
      : undefined;
    try {
      const scaleFactor = model.vae.scaleFactor;
      const shape = [
        req.batchSize,
        model.vae.latentChannels,
        req.height / scaleFactor,
        req.width / scaleFactor,
      ] as const;
      const init = req.mode === 'txt2img' ? undefined : await this.prepareImage(req, inpaintUnet, shape[3], shape[2]);

      const decoder = new VaeDecoder(await this.runtime.session(model.files.vaeDecoder));
      const modelHash = await this.shortHash(request.modelHash);
      const vae = {
        hash: request.vaeHash === undefined ? undefined : givenShortHash(request.vaeHash, 'vaeHash'),
        name: request.vaeName,
      };
      const factors = model.traits.family === 'sdxl' ? LATENT_RGB_SDXL : LATENT_RGB_SD;
      const images: GeneratedImage[] = [];
      const finalLatents: Float32Array[] = [];
      let timesteps: number[] = [];
      let denoiseMs = 0;
      let decodeMs = 0;
      let unetSteps = 0;
      for (let iteration = 0; iteration < req.batchCount; iteration++) {
        const seed = seedForIteration(req.seed, iteration);
        const generator = new TorchGenerator(seed);
        const scheduler = createScheduler(
          req.sampler,
          model.schedulerConfig,
          req.predictionType ? { prediction_type: req.predictionType } : {},
        );
        scheduler.setTimesteps(req.steps);
        let start: StartLatents;
        if (req.mode === 'txt2img') start = txt2imgStart(generator, scheduler, shape);
        else if (req.mode === 'img2img')
          start = img2imgStart(generator, scheduler, shape, init!.encoded, model.vae, req.steps, req.strength);
        else start = inpaintStart(generator, scheduler, shape, init!.inpaint!, model.vae, req.steps, req.strength);
        timesteps = Array.from(scheduler.timesteps.subarray(start.startIndex));

        const loopStart = performance.now();
        const latents = await denoise({
          unet,
          scheduler,
          generator,
          latents: start.latents,
          shape,
          startIndex: start.startIndex,
          conditioning: device ? { ...conditioning, device } : conditioning,
          guidance: req.cfgScale,
          guided,
          ...(start.blend ? { blend: start.blend } : {}),
          ...(start.extraChannels ? { extraChannels: start.extraChannels } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          onStep: async ({ step, totalSteps, timestep, latents: current }) => {
            if (!options.onProgress) return;
            const wantPreview = req.previewEvery > 0 && step % req.previewEvery === 0 && step < totalSteps;
            const preview = wantPreview ? await rgbToPngDataUrl(latentToRgb(current, shape, 0, factors)) : undefined;
            await options.onProgress({
              iteration,
              batchCount: req.batchCount,
              step,
              totalSteps,
              timestep,
              ...(preview ? { preview } : {}),
            });
          },
        });
        denoiseMs += performance.now() - loopStart;
        unetSteps += timesteps.length;
        finalLatents.push(latents);

        const decodeStart = performance.now();
        const perImage = latents.length / req.batchSize;
        for (let b = 0; b < req.batchSize; b++) {
          throwIfAborted(options.signal);
          const decoded = await decoder.decode(
            latents.subarray(b * perImage, (b + 1) * perImage),
            [1, ...shape.slice(1)],
            model.vae,
          );
          let image = tensorToRgb(decoded.data, decoded.dims);
          if (req.mode === 'inpaint' && req.pasteBack) image = pasteOutsideMask(image, init!.rgb, init!.pixelMask!);
          const parameters = this.infotext(req, seed, modelHash, b, request.modelName, vae, lora?.plan);
          const png = insertPngText(await encodePng(image), { parameters });
          images.push({ image, png, parameters, seed, iteration, batchIndex: b });
        }
        decodeMs += performance.now() - decodeStart;
      }
      return {
        images,
        timesteps,
        latents: finalLatents,
        mode: req.mode,
        timings: {
          totalMs: performance.now() - started,
          textMs,
          denoiseMs,
          decodeMs,
          stepsPerSecond: denoiseMs > 0 ? unetSteps / (denoiseMs / 1000) : 0,
        },
      };
    } finally {
      for (const tensor of Object.values(device ?? {})) tensor.dispose();
    }
  }

  /**
   * Refuses, before anything runs, an image size the folder's UNet export cannot run (see `unet-upsampling.ts`).
   * @throws PinholeError `INVALID_PARAMS` naming the sizes that work.
   */
  private async checkUnetSize(req: ResolvedRequest): Promise<void> {
    // A graph this reader cannot walk is no reason to refuse: onnxruntime loads the UNet and says what is wrong
    // with it (only fixed-scale upsamplers are counted, so 0 just skips the check).
    this.fixedUpsamplers ??= countFixedUpsamplers(this.model.files.unet).catch(() => 0);
    const error = unsupportedSizeError(
      req,
      this.model.vae.scaleFactor,
      await this.fixedUpsamplers,
      this.model.files.unet,
    );
    if (error) throw error;
  }

  /**
   * The sessions of a LoRA plan's merged models (built into the cache on first use). Merged models of an earlier
   * set of LoRAs are disposed: one set is kept loaded per pipeline.
   */
  private async loraSessions(plan: LoraPlan): Promise<LoraSessions> {
    const out: { -readonly [K in keyof LoraSessions]: LoraSessions[K] } = { plan };
    const files = new Set<string>();
    for (const [component, build] of plan.builds) {
      const { session, file } = await this.runtime.derivedSession(build);
      files.add(file);
      this.outsideFiles.add(file);
      if (component === 'unet') out.unet = session;
      else if (component === 'text_encoder') out.textEncoder = session;
      else out.textEncoder2 = session;
    }
    for (const file of this.loraFiles) {
      if (files.has(file)) continue;
      this.outsideFiles.delete(file);
      await this.runtime.dispose(file);
    }
    this.loraFiles = files;
    return out;
  }

  /**
   * The prompt encoder for a request's clip skip and weighting settings (with `lora`, its merged text encoders
   * in place of the folder's).
   */
  promptEncoder(clipSkip: number, emphasis: boolean, lora?: LoraSessions): Promise<PromptEncoder> {
    return (async () => {
      // SDXL always reads an inner layer; SD 1.x/2.x only with clip skip.
      const inner = this.model.traits.family === 'sdxl' || clipSkip > 1;
      const encoder = lora?.textEncoder
        ? new TextEncoder(lora.textEncoder)
        : await this.textEncoder('text_encoder', this.model.files.textEncoder, inner);
      const second = this.model.files.textEncoder2
        ? {
            tokenizer: this.tokenizer2!,
            encoder: lora?.textEncoder2
              ? new TextEncoder(lora.textEncoder2)
              : await this.textEncoder('text_encoder_2', this.model.files.textEncoder2, inner),
          }
        : undefined;
      return new PromptEncoder({ tokenizer: this.tokenizer, encoder }, second, {
        family: this.model.traits.family,
        embeddings: lora?.plan.embeddings.embeddings ?? [],
        clipSkip,
        emphasis,
        finalNorm: () => (this.finalNorm ??= readFinalLayerNorm(this.model.files.textEncoder)),
        layerNormEps: numberOr(this.model.textEncoderConfig['layer_norm_eps']) ?? 1e-5,
      });
    })();
  }

  /**
   * The folder's text encoder, or, when an inner layer is needed and the ONNX export has no `hidden_states`
   * outputs, one built from the folder's diffusers weights with them (see `text-encoder-source.ts`).
   * @throws PinholeError `INVALID_PARAMS` when the layer is needed and there are neither outputs nor weights.
   */
  private async textEncoder(component: TextEncoderComponent, file: string, inner: boolean): Promise<TextEncoder> {
    if (!inner || this.exportHasHiddenStates.get(file) !== false) {
      const exported = new TextEncoder(await this.runtime.session(file));
      this.exportHasHiddenStates.set(file, exported.hiddenStateCount > 0);
      if (!inner || exported.hiddenStateCount > 0) return exported;
    }
    const weights = await findComponentWeights(this.model.dir, component);
    if (!weights) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${file} was exported without hidden_states outputs, so it cannot give an inner layer (clip skip), and ${this.model.dir} has no ${component}/config.json + ${component}/model.safetensors to build one from`,
      );
    }
    // The export stays loaded (requests without clip skip use it); the session cache frees it under pressure.
    const built = await this.runtime.derivedSession(await textEncoderBuild(component, weights));
    this.outsideFiles.add(built.file);
    const encoder = new TextEncoder(built.session);
    if (encoder.hiddenStateCount === 0) {
      throw new PinholeError('INTERNAL', `${built.file}: the built text encoder has no hidden_states outputs`);
    }
    return encoder;
  }

  /** The UNet conditioning for the whole batch: `[negative × B; prompt × B]` with guidance, `prompt × B` without. */
  private async conditioning(
    req: ResolvedRequest,
    unet: UNetRunner,
    guided: boolean,
    lora: LoraSessions | undefined,
  ): Promise<UNetConditioning> {
    const encoder = await this.promptEncoder(req.clipSkip, req.emphasis, lora);
    let cond = await encoder.encode(req.prompt);
    let rows: Conditioning[] = [cond];
    if (guided) {
      const zeros = this.model.traits.forceZerosForEmptyPrompt && req.negativePrompt === '';
      let negative = zeros ? zerosLike(cond) : await encoder.encode(req.negativePrompt);
      if (negative.tokens !== cond.tokens) [negative, cond] = padToSameLength(negative, cond, await encoder.empty());
      rows = [negative, cond];
    }
    const b = req.batchSize;
    const n = rows.length * b;
    const { tokens, channels, pooledDim } = cond;
    const hidden = new Float32Array(n * tokens * channels);
    rows.forEach((row, r) => hidden.set(repeatBatch(row.hidden, b), r * b * tokens * channels));
    const out: { -readonly [K in keyof UNetConditioning]: UNetConditioning[K] } = {
      encoderHiddenStates: hidden,
      tokens,
      channels,
    };
    if (unet.takesTextTime) {
      const textEmbeds = new Float32Array(n * pooledDim);
      rows.forEach((row, r) =>
        textEmbeds.set(repeatBatch(row.pooled ?? new Float32Array(pooledDim), b), r * b * pooledDim),
      );
      out.textEmbeds = textEmbeds;
      out.pooledDim = pooledDim;
      // SDXL's micro-conditioning: original size, crop (0, 0), target size — all the requested size.
      out.timeIds = repeatBatch(Float32Array.of(req.height, req.width, 0, 0, req.height, req.width), n);
    }
    if (unet.timestepCondDim !== undefined) {
      out.timestepCond = repeatBatch(guidanceScaleEmbedding(req.cfgScale - 1, unet.timestepCondDim), n);
    }
    return out;
  }

  /**
   * Where img2img and inpainting get their VAE encoder (decided once per pipeline; see
   * `vae-encoder-source.ts`): an ONNX encoder giving the distribution, else one built from the folder's
   * diffusers weights and cached on disk, else a legacy ONNX encoder used as it is.
   * @throws PinholeError `IMPORT_REJECTED` when the folder has no way to encode images.
   */
  vaeEncoderSource(mode = 'img2img'): Promise<VaeEncoderSource> {
    this.encoderSource ??= chooseVaeEncoder(this.runtime, this.model, mode).catch((error: unknown) => {
      this.encoderSource = undefined;
      throw error;
    });
    return this.encoderSource;
  }

  /** The VAE encoder img2img and inpainting run (building it from the weights on first use when needed). */
  async imageEncoder(mode = 'img2img'): Promise<VaeEncoder> {
    const { encoder, file } = await openVaeEncoder(this.runtime, await this.vaeEncoderSource(mode));
    if (!isInside(file, this.model.dir)) this.outsideFiles.add(file);
    return encoder;
  }

  /** Model files outside the folder this pipeline has sessions for (the engine disposes them with the folder). */
  sessionFilesOutside(): string[] {
    return [...this.outsideFiles];
  }

  /** Loads and encodes the init image (and the mask) once per request. */
  private async prepareImage(req: ResolvedRequest, inpaintUnet: boolean, latentWidth: number, latentHeight: number) {
    const encoder = await this.imageEncoder(req.mode);
    const rgb = await loadRgb(req.initImage!, req.width, req.height);
    const pixels = rgbToTensor(rgb);
    const dims = [1, 3, req.height, req.width];
    const encoded = await encoder.encode(pixels, dims);
    if (req.mode !== 'inpaint') return { rgb, encoded, inpaint: undefined, pixelMask: undefined };
    const pixelMask = await loadMask(req.maskImage!, req.width, req.height);
    const latentMask = maskToLatentGrid(pixelMask, req.width, req.height, latentWidth, latentHeight);
    let encodedMasked: EncodedImage | undefined;
    if (inpaintUnet) {
      // diffusers: masked_image = image × (mask < 0.5), i.e. zero (mid-gray) where the image is repainted.
      const plane = req.width * req.height;
      const masked = pixels.map((v, i) => (pixelMask[i % plane]! < 0.5 ? v : 0));
      encodedMasked = await encoder.encode(masked, dims);
    }
    const inpaint: InpaintInputs = { encoded, latentMask, ...(encodedMasked ? { encodedMasked } : {}) };
    return { rgb, encoded, inpaint, pixelMask };
  }

  private infotext(
    req: ResolvedRequest,
    seed: bigint,
    modelHash: string,
    batchPos: number,
    modelName: string | undefined,
    vae: { hash: string | undefined; name: string | undefined },
    lora: LoraPlan | undefined,
  ): string {
    return formatInfotext({
      prompt: req.prompt,
      negativePrompt: req.negativePrompt,
      steps: req.steps,
      sampler: samplerDisplayName(req.sampler),
      cfgScale: req.cfgScale,
      seed,
      width: req.width,
      height: req.height,
      modelHash,
      modelName: modelName ?? this.model.source?.name ?? this.model.name,
      vaeHash: vae.hash,
      vaeName: vae.name,
      batchSize: req.batchSize,
      batchPos,
      denoisingStrength: req.mode === 'txt2img' ? undefined : req.strength,
      clipSkip: req.clipSkip,
      extra: networkInfotext(lora),
    });
  }

  /**
   * A1111's short model hash: the first 10 hex digits of a SHA-256 — the caller's (of the checkpoint it
   * imported), else the checkpoint's a converted folder records, else of `unet/model.onnx`, computed once.
   */
  private shortHash(given = this.model.source?.sha256): Promise<string> {
    // A bad hash is a rejection, as a failed read of the UNet is.
    if (given !== undefined) return Promise.resolve(given).then((hash) => givenShortHash(hash, 'modelHash'));
    this.modelHash ??= new Promise<string>((resolve, reject) => {
      const hash = createHash('sha256');
      createReadStream(this.model.files.unet)
        .on('data', (chunk) => hash.update(chunk))
        .on('error', reject)
        .on('end', () => resolve(hash.digest('hex').slice(0, 10)));
    });
    return this.modelHash;
  }
}

/** A request's LoRA plan and the sessions of its merged models (absent: the folder's model is used). */
export interface LoraSessions {
  readonly plan: LoraPlan;
  readonly unet?: ModelSession;
  readonly textEncoder?: ModelSession;
  readonly textEncoder2?: ModelSession;
}

function isInside(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/**
 * A1111's short hash of a SHA-256 the caller gives: its first 10 hex digits, lowercase.
 * @throws PinholeError `INVALID_PARAMS` naming `field` when it is not hex of at least 10 digits.
 */
function givenShortHash(given: string, field: string): string {
  if (!/^[0-9a-fA-F]{10,64}$/.test(given)) {
    throw new PinholeError('INVALID_PARAMS', `${field}: must be a hex SHA-256 (at least 10 digits)`);
  }
  return given.slice(0, 10).toLowerCase();
}
