/**
 * The LoRA training model: the UNet (and, when the text encoder is trained, the text encoder(s)
 * in front of it) built with the LoRA's up/down as graph inputs, a per-sample-weighted MSE loss
 * against a `target` input, differentiated with respect to every LoRA input. Options: float16
 * frozen base weights, gradient checkpointing per UNet / encoder block.
 */
import { PinholeError } from '../../../src-shared/errors';
import { differentiate, type SegmentOf } from '../autodiff';
import { type Model } from '../graph';
import { loraHooks, type LoraInjection, type LoraWeights } from '../lora';
import { buildClipTextModel, buildUNet, type ClipTextConfig, type UNetConfig, type WeightSource } from '../models';
import { halfPrecisionWeights } from './base-weights';
import { spliceTextEncoders, type BuiltTextEncoder } from './text-encoder-graph';

/** Static sizes of the training graph (the loss gradient needs them): batch, latent h/w, text tokens. */
export type TrainingShape = { batch: number; height: number; width: number; sequence: number };

/** A text encoder trained together with the UNet: `te` (SD 1.x/2.x) or SDXL's `te1` and `te2`. */
export type TrainedTextEncoder = { part: 'te' | 'te1' | 'te2'; config: ClipTextConfig; weights: WeightSource };

export type TrainingGraphOptions = {
  /** Text encoder(s) to train (their LoRA modules must be in the LoRA); absent: UNet only, `cond` fed. */
  textEncoders?: readonly TrainedTextEncoder[];
  /** dtype of the frozen base weights in the graph (cast to float32 at use). Default float32. */
  baseWeights?: 'float32' | 'float16';
  /** Recompute each ResNet / transformer / encoder-layer block's activations in the backward pass. */
  gradientCheckpointing?: boolean;
};

/**
 * The blocks gradient checkpointing recomputes, by node name (`<module path>/<Op>`): each UNet
 * ResNet and transformer block (diffusers checkpoints the same units) and each CLIP encoder layer.
 */
export const checkpointSegment: SegmentOf = (node) =>
  /^((?:te\d?\/)?text_model\.encoder\.layers\.\d+|(?:down_blocks|up_blocks)\.\d+\.(?:resnets|attentions)\.\d+|mid_block\.(?:resnets|attentions)\.\d+)[./]/.exec(
    node.name,
  )?.[1];

function checkUnused(injection: LoraInjection, what: string): void {
  const unused = injection.unused();
  if (unused.length > 0) {
    throw new PinholeError('INVALID_PARAMS', `LoRA modules that match nothing in the ${what}: ${unused.join(', ')}`);
  }
}

/**
 * The training graph: `buildUNet` with LoRA inputs, plus inputs `target` (like `out_sample`) and
 * `loss_weights` [B], and output `loss` = mean over samples of wᵢ · mean((out_sampleᵢ − targetᵢ)²),
 * differentiated: outputs `loss`, `grad.<kohya key>` for every LoRA down/up tensor (in `keys`
 * order: UNet modules first, then each text encoder's).
 */
export function buildTrainingModel(
  config: UNetConfig,
  weights: WeightSource,
  lora: LoraWeights,
  shape: TrainingShape,
  options: TrainingGraphOptions = {},
): { model: Model; keys: string[] } {
  const half = options.baseWeights === 'float16';
  const base = (w: WeightSource) => (half ? halfPrecisionWeights(w) : w);
  const injection = loraHooks(lora, { part: 'unet', mode: 'inputs' });
  buildUNet(config, base(weights), { hooks: injection.hooks, ...shape });
  checkUnused(injection, 'UNet');
  const b = injection.builder();
  if (!b) throw new Error('training graph: the UNet build called no module hook');
  const out = b.value('out_sample');
  if (!out || !out.shape) throw new Error('training graph: out_sample not found');
  const target = b.input('target', 'float32', out.shape);
  const weightsIn = b.input('loss_weights', 'float32', [shape.batch]);
  const diff = b.sub(out, target);
  // mean over all elements of wᵢ·(out − target)² = mean over samples of wᵢ·MSEᵢ (every sample has the
  // same element count). With all wᵢ = 1 this is bit for bit the plain MSE the fixtures reproduce.
  const perSampleWeight = b.reshape(weightsIn, [shape.batch, ...out.shape.slice(1).map(() => 1)]);
  const loss = b.reduceMean(
    b.mul(b.mul(diff, diff), perSampleWeight),
    out.shape.map((_, i) => i),
    { keepdims: false },
  );
  b.output(loss, 'loss');
  const keys = [...injection.inputs.keys()];
  let forward = b.build();

  const encoders: BuiltTextEncoder[] = (options.textEncoders ?? []).map((te) => {
    const teInjection = loraHooks(lora, { part: te.part, mode: 'inputs' });
    const model = buildClipTextModel(te.config, base(te.weights), {
      hooks: teInjection.hooks,
      hiddenStates: te.part === 'te' ? 'none' : 'all',
      sequenceLength: shape.sequence,
    });
    checkUnused(teInjection, `text encoder (${te.part})`);
    keys.push(...teInjection.inputs.keys());
    // A static batch, as the UNet's: the gradient of the EOS pooling (a Gather) needs static sizes.
    const inputs = model.graph.inputs.map((i) =>
      i.name === 'input_ids' ? { ...i, shape: [shape.batch, shape.sequence] } : i,
    );
    return { part: te.part, model: { ...model, graph: { ...model.graph, inputs } } };
  });
  if (encoders.length > 0) forward = spliceTextEncoders(forward, encoders);
  if (keys.length === 0) throw new PinholeError('INVALID_PARAMS', 'the LoRA has no modules to train');

  // Only the loss is fetched; out_sample stays an output of the forward model only.
  const lossOnly: Model = {
    ...forward,
    graph: { ...forward.graph, outputs: forward.graph.outputs.filter((o) => o.name === 'loss') },
  };
  return {
    model: differentiate(lossOnly, {
      loss: 'loss',
      wrt: keys,
      ...(options.gradientCheckpointing ? { recompute: checkpointSegment } : {}),
    }),
    keys,
  };
}
