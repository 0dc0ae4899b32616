/**
 * The `generate` job kind (GPU lane): runs one generation request in the engine process,
 * reports each step with a preview, and stores every image in the library with the
 * parameters that made it, so the gallery can show and re-run them.
 */
import { z } from 'zod';
import { GenerateParams, Seed, type GenerateParams as Request } from '../../src-shared/api';
import type { EngineClient, GenerateRequest } from '../engine';
import type { Library } from '../library';
import type { JobHandler } from '../queue';
import type { ModelSourceResolver } from './library-source';
import { promptNetworks, type NetworkResolver } from './network-resolver';

export const GENERATE_JOB_KIND = 'generate';

/** A stored generate job: the request with its seed fixed, so a re-run is exact. */
export const GenerateJobParams = z.object({
  request: GenerateParams.and(z.object({ seed: Seed })),
});
export type GenerateJobParams = z.infer<typeof GenerateJobParams>;

export type GenerateJobResult = {
  images: { sha256: string; seed: string; width: number; height: number }[];
  timings: { totalMs: number; stepsPerSecond: number };
};

/** The request as the engine takes it; inline images were stored as files when the job was queued. */
export function toEngineRequest(request: Request & { seed: string }): GenerateRequest {
  const image = (ref: Request['initImage']) => {
    if (ref === undefined) return undefined;
    if ('path' in ref) return ref.path;
    throw new Error('inline images are stored as files before a job is queued');
  };
  return {
    model: request.model,
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    seed: BigInt(request.seed),
    sampler: request.sampler,
    steps: request.steps,
    cfgScale: request.cfgScale,
    width: request.width,
    height: request.height,
    batchSize: request.batchSize,
    batchCount: request.batchCount,
    clipSkip: request.clipSkip,
    strength: request.strength,
    initImage: image(request.initImage),
    maskImage: image(request.maskImage),
    loras: request.loras,
    // Converted folders already carry it in their scheduler config; an ONNX folder takes it here.
    predictionType: request.prediction,
  };
}

export function createGenerateJobHandler(
  engine: () => EngineClient,
  library: Library,
  // A library name or a single-file checkpoint (and a separate VAE) → the folder the engine runs (folders pass through).
  resolveModel: ModelSourceResolver = ({ model }) => Promise.resolve({ folder: model }),
  // What `<lora:NAME>` tags and embedding names in prompts stand for; without one, prompts can name nothing.
  networks?: NetworkResolver,
): JobHandler<GenerateJobParams, GenerateJobResult> {
  return {
    kind: GENERATE_JOB_KIND,
    lane: 'gpu',
    params: GenerateJobParams,
    title: ({ request }) => {
      const prompt = request.prompt.length > 48 ? `${request.prompt.slice(0, 47)}…` : request.prompt;
      return `Generate "${prompt}"`;
    },
    run: async (ctx, { request }) => {
      const source = await resolveModel(request, {
        signal: ctx.signal,
        // A single-file checkpoint is converted once (then cached): say so rather than sit at step 0.
        onProgress: (stage, fraction) =>
          ctx.progress({ step: 0, total: 0, message: `Converting the model: ${stage} ${Math.round(fraction * 100)}%` }),
      });
      const engineRequest: GenerateRequest = {
        ...toEngineRequest(request),
        model: source.folder,
        modelHash: source.modelHash,
        modelName: source.modelName,
        vaeHash: source.vaeHash,
        vaeName: source.vaeName,
        networks: networks && (await promptNetworks(networks, [request.prompt, request.negativePrompt ?? ''])),
      };
      const result = await engine().generate(engineRequest, {
        signal: ctx.signal,
        onProgress: (p) =>
          ctx.progress({
            step: p.iteration * p.totalSteps + p.step,
            total: p.batchCount * p.totalSteps,
            message: p.batchCount > 1 ? `image set ${p.iteration + 1} of ${p.batchCount}` : undefined,
            preview: p.preview,
          }),
      });
      const images: GenerateJobResult['images'] = [];
      for (const image of result.images) {
        if (!image.png) throw new Error('the engine returned no image bytes');
        const stored = await library.addGeneratedImage({
          png: image.png,
          prompt: request.prompt,
          negativePrompt: request.negativePrompt ?? null,
          metadata: {
            parameters: image.parameters,
            request: { ...request, seed: image.seed.toString() },
            batchIndex: image.batchIndex,
          },
        });
        images.push({ sha256: stored.sha256, seed: image.seed.toString(), width: image.width, height: image.height });
      }
      return { images, timings: { totalMs: result.timings.totalMs, stepsPerSecond: result.timings.stepsPerSecond } };
    },
  };
}
