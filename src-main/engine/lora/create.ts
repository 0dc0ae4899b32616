/**
 * LoRA targets of a model (found by building it with a recording hook) and fresh LoRAs initialized
 * as kohya's `networks/lora.py` does: `lora_down` kaiming-uniform (a = √5, i.e. U(±1/√fan_in)),
 * `lora_up` zeros, from a torch-compatible generator.
 */
import { type Model } from '../graph';
import {
  buildClipTextModel,
  buildUNet,
  type ClipTextConfig,
  type ModuleCall,
  type ModuleHooks,
  type UNetConfig,
  type WeightSource,
} from '../models';
import { type TorchGenerator } from '../random';
import { type LoraModule, type LoraWeights } from './file';
import { isConv3x3Target, isTextEncoderTarget, isUNetTarget, kohyaName, type LoraPart } from './naming';

/** One module a LoRA can wrap: its kohya name and the frozen weight's shape ([out, in] or [out, in, k, k]). */
export type LoraTarget = {
  name: string;
  path: string;
  kind: 'linear' | 'conv';
  kernel: number;
  weightDims: number[];
};

/** Builds a model with a hook that records the targeted modules (in build order). */
export function findTargets(
  part: LoraPart,
  weights: WeightSource,
  build: (hooks: ModuleHooks) => Model,
  isTarget: (call: ModuleCall) => boolean,
): LoraTarget[] {
  const found: LoraTarget[] = [];
  build({
    module(call) {
      if (isTarget(call)) {
        found.push({
          name: kohyaName(part, call.path),
          path: call.path,
          kind: call.kind,
          kernel: call.kernel ?? 1,
          weightDims: [...weights.get(`${call.path}.weight`).dims],
        });
      }
      return call.base();
    },
  });
  return found;
}

/**
 * kohya's default UNet targets (every Linear and 1×1 Conv in the transformer blocks); with
 * `conv3x3` (LoCon) also every Linear and Conv of the ResNet blocks and the down/up samplers.
 */
export function unetLoraTargets(
  config: UNetConfig,
  weights: WeightSource,
  options: { conv3x3?: boolean } = {},
): LoraTarget[] {
  return findTargets(
    'unet',
    weights,
    (hooks) => buildUNet(config, weights, { hooks }),
    (c) => isUNetTarget(c, options.conv3x3 === true),
  );
}

/**
 * kohya's text-encoder targets (every Linear in the attention and MLP blocks), named `lora_te_…`
 * (SD 1.x/2.x) or `lora_te1_…` / `lora_te2_…` (SDXL's first / second encoder).
 */
export function textEncoderLoraTargets(
  config: ClipTextConfig,
  weights: WeightSource,
  part: Exclude<LoraPart, 'unet'> = 'te',
): LoraTarget[] {
  return findTargets(
    part,
    weights,
    (hooks) => buildClipTextModel(config, weights, { hooks, hiddenStates: 'none' }),
    isTextEncoderTarget,
  );
}

/**
 * torch's `uniform_(from, to)` on a float32 CPU tensor: one 32-bit draw per element, its low 24
 * bits × 2⁻²⁴, scaled in float32. `randint(0, 2²⁴)` takes exactly those bits.
 */
function uniformF32(g: TorchGenerator, n: number, from: number, to: number): Float32Array {
  const f = Math.fround(from);
  const span = Math.fround(Math.fround(to) - f);
  const bits = g.randint(0, 1 << 24, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(Math.fround(bits[i]! * 2 ** -24) * span) + f;
  return out;
}

/** torch's `kaiming_uniform_(w, a=√5)`: U(±bound), bound = √3 · √(2 / (1 + a²)) / √fan_in. */
function kaimingUniform(g: TorchGenerator, dims: readonly number[]): Float32Array {
  const fanIn = dims.slice(1).reduce((a, b) => a * b, 1);
  const gain = Math.sqrt(2 / (1 + 5));
  const bound = Math.sqrt(3) * (gain / Math.sqrt(fanIn));
  return uniformF32(
    g,
    dims.reduce((a, b) => a * b, 1),
    -bound,
    bound,
  );
}

export type CreateLoraOptions = {
  rank: number;
  /** Default: the rank (scale 1), as kohya when alpha is 0 or absent. */
  alpha?: number;
  /** Rank of 3×3 Conv targets (LoCon, kohya's `conv_dim`); default `rank`. */
  convRank?: number;
  /** Alpha of 3×3 Conv targets (kohya's `conv_alpha`); default the conv rank. */
  convAlpha?: number;
  generator: TorchGenerator;
};

/**
 * A fresh LoRA over `targets`, in their order. Per module, as kohya builds a `LoRAModule` under a
 * seeded global generator: the Linear/Conv constructors draw `lora_down` and `lora_up` (default
 * init), then `lora_down` is redrawn with kaiming-uniform(a = √5) and `lora_up` zeroed. Conv
 * targets get [r, in, k, k] / [out, r, 1, 1] tensors, Linear ones [r, in] / [out, r].
 */
export function createLora(targets: readonly LoraTarget[], options: CreateLoraOptions): LoraWeights {
  const { generator } = options;
  const plain = rankAndAlpha(options.rank, options.alpha);
  const conv3x3 = rankAndAlpha(options.convRank ?? options.rank, options.convAlpha);
  const modules = new Map<string, LoraModule>();
  for (const t of targets) {
    const { rank, alpha } = isConv3x3Target(t) ? conv3x3 : plain;
    const [out, inDim] = [t.weightDims[0]!, t.weightDims[1]!];
    const conv = t.kind === 'conv';
    const downDims = conv ? [rank, inDim, t.kernel, t.kernel] : [rank, inDim];
    const upDims = conv ? [out, rank, 1, 1] : [out, rank];
    kaimingUniform(generator, downDims);
    kaimingUniform(generator, upDims);
    const down = kaimingUniform(generator, downDims);
    const up = new Float32Array(upDims.reduce((a, b) => a * b, 1));
    modules.set(t.name, { name: t.name, down, downDims, up, upDims, alpha });
  }
  return { modules, metadata: {} };
}

/** A rank checked, and its alpha (the rank itself when 0 or absent, as kohya). */
function rankAndAlpha(rank: number, alpha: number | undefined): { rank: number; alpha: number } {
  if (!Number.isInteger(rank) || rank < 1) throw new RangeError(`LoRA rank must be a positive integer, not ${rank}`);
  return { rank, alpha: alpha === undefined || alpha === 0 ? rank : alpha };
}
