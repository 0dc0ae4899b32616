/**
 * LoRA injected into a model build through `ModuleHooks`, with kohya's math:
 * `y = base(x) + up(down(x)) · multiplier · alpha / rank`. Linear LoRA for Linear modules (x·downᵀ·upᵀ),
 * Conv LoRA for Convs: `lora_down` a conv with the module's kernel, stride and padding, `lora_up`
 * a 1×1 conv (kohya's LoCon for 3×3 modules). The weights are either graph inputs named by their kohya keys
 * (training: fed every step, differentiated) or initializers (generation).
 */
import { PinholeError } from '../../../src-shared/errors';
import { type GraphBuilder, type Value } from '../graph';
import { type ModuleCall, type ModuleHooks } from '../models';
import { loraRank, type LoraModule, type LoraWeights } from './file';
import { kohyaKeys, kohyaName, type LoraPart } from './naming';

export type LoraHookOptions = {
  /** Which model the hooks go into: `lora_unet_…` or `lora_te_…` modules. */
  part: LoraPart;
  /** kohya's multiplier (the LoRA's weight). Default 1. */
  multiplier?: number;
  /** 'inputs': up/down are graph inputs named by their kohya keys (training); 'weights': initializers. */
  mode: 'inputs' | 'weights';
};

/** The hooks, plus what they did once the model is built. */
export type LoraInjection = {
  hooks: ModuleHooks;
  /** kohya module names applied so far. */
  applied: Set<string>;
  /** Graph inputs declared ('inputs' mode): kohya tensor key → dims. */
  inputs: Map<string, number[]>;
  /** The builder the hooks ran in (to extend the built graph, e.g. with a loss). */
  builder(): GraphBuilder | undefined;
  /** Modules of `part` the build never reached (names that match nothing in the model). */
  unused(): string[];
};

function prefixOf(part: LoraPart): string {
  return `lora_${part}_`;
}

/**
 * Hooks that add every module of `lora` whose kohya name is `part`'s. After the build, `unused()`
 * names the LoRA's modules of that part that matched no Linear/Conv.
 */
export function loraHooks(lora: LoraWeights, options: LoraHookOptions): LoraInjection {
  const applied = new Set<string>();
  const inputs = new Map<string, number[]>();
  const multiplier = options.multiplier ?? 1;
  let builder: GraphBuilder | undefined;

  const tensor = (b: GraphBuilder, m: LoraModule, which: 'down' | 'up'): Value => {
    const key = kohyaKeys(m.name)[which];
    const dims = which === 'down' ? m.downDims : m.upDims;
    if (options.mode === 'inputs') {
      inputs.set(key, [...dims]);
      return b.input(key, 'float32', dims);
    }
    return b.initializer(`lora_${which}`, {
      name: key,
      dtype: 'float32',
      dims: [...dims],
      data: which === 'down' ? m.down : m.up,
    });
  };

  const module = (call: ModuleCall, b: GraphBuilder): Value => {
    builder = b;
    const name = kohyaName(options.part, call.path);
    const m = lora.modules.get(name);
    if (!m) return call.base();
    applied.add(name);
    const rank = loraRank(m);
    const scale = Math.fround(Math.fround(multiplier) * Math.fround(m.alpha / rank));
    const base = call.base();
    const delta = b.scope('lora', () => {
      const down = tensor(b, m, 'down');
      const up = tensor(b, m, 'up');
      const inDim = m.downDims[1]!;
      const outDim = m.upDims[0]!;
      if (call.kind === 'linear') {
        const d2 = m.downDims.length === 2 ? down : b.reshape(down, [rank, inDim]);
        const u2 = m.upDims.length === 2 ? up : b.reshape(up, [outDim, rank]);
        return b.matmul(b.matmul(call.input, b.transpose(d2, [1, 0])), b.transpose(u2, [1, 0]));
      }
      const kernel = call.kernel ?? 1;
      const downKernel = m.downDims.length === 4 ? m.downDims[2]! : 1;
      if (downKernel !== kernel || (m.downDims.length === 4 && m.downDims[3] !== kernel)) {
        throw new PinholeError(
          'IMPORT_REJECTED',
          `LoRA module ${name}: lora_down is [${m.downDims.join(', ')}] but the module's conv is ${kernel}×${kernel}`,
        );
      }
      const d4 = m.downDims.length === 4 ? down : b.reshape(down, [rank, inDim, 1, 1]);
      const u4 = m.upDims.length === 4 ? up : b.reshape(up, [outDim, rank, 1, 1]);
      const hidden = b.conv(call.input, d4, undefined, {
        strides: call.stride ?? 1,
        pads: call.padding ?? Math.floor(kernel / 2),
      });
      return b.conv(hidden, u4, undefined, { strides: 1, pads: 0 });
    });
    return b.add(base, b.mul(delta, scale));
  };

  return {
    hooks: { module },
    applied,
    inputs,
    builder: () => builder,
    unused: () => [...lora.modules.keys()].filter((n) => n.startsWith(prefixOf(options.part)) && !applied.has(n)),
  };
}
