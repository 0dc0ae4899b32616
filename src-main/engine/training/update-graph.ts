/**
 * The optimizer step inside the training graph: global-norm gradient clipping and the AdamW / SGD
 * update appended to the differentiated model, so an update runs in onnxruntime (vectorized, and on
 * the GPU where the provider is one) instead of in JS on the engine's thread, and the new LoRA
 * weights and optimizer moments come back as outputs. The float32 operations follow torch's
 * single-tensor CPU path in the same order as `optimizers.ts`, the JS reference the tests compare to.
 *
 * Added inputs (all float32): `max_grad_norm` [1] (≤ 0: no clipping); per param group `g`, the
 * step's factors `opt<g>.<factor>` [1] (`SGD_FACTORS`, `ADAMW_FACTORS`); per AdamW tensor `m/<key>`, `v/<key>`.
 * Added outputs: `grad_norm` [1] (before clipping), per tensor `next/<key>` and, for AdamW,
 * `next_m/<key>`, `next_v/<key>`.
 */
import { gradName } from '../autodiff';
import { type Model, type Node, type ValueInfo } from '../graph';
import { ADAMW_FACTORS, SGD_FACTORS, type OptimizerKind } from './optimizers';

export type UpdateGroup = { kind: OptimizerKind; keys: readonly string[] };

export const MAX_GRAD_NORM_INPUT = 'max_grad_norm';
export const GRAD_NORM_OUTPUT = 'grad_norm';
export const factorInput = (group: number, factor: string) => `opt${group}.${factor}`;
export const momentInputs = (key: string) => ({ m: `m/${key}`, v: `v/${key}` });
export const updateOutputs = (key: string) => ({ param: `next/${key}`, m: `next_m/${key}`, v: `next_v/${key}` });

const scalar = (name: string): ValueInfo => ({ name, dtype: 'float32', shape: [1] });

/** `model` (outputs `loss` and `grad.<key>`) with clipping and the optimizer update appended. */
export function appendOptimizerUpdate(
  model: Model,
  groups: readonly UpdateGroup[],
  dims: (key: string) => readonly number[],
): Model {
  const nodes: Node[] = [];
  const inputs: ValueInfo[] = [scalar(MAX_GRAD_NORM_INPUT)];
  const outputs: ValueInfo[] = [];
  let n = 0;
  const op = (opType: string, ins: string[], attributes: Node['attributes'] = {}): string => {
    const name = `update/${opType}_${n++}`;
    nodes.push({ name, opType, domain: '', inputs: ins, outputs: [name], attributes });
    return name;
  };
  const constant = (attributes: Node['attributes']): string => {
    const name = `update/const_${n++}`;
    nodes.push({ name, opType: 'Constant', domain: '', inputs: [], outputs: [name], attributes });
    return name;
  };
  const float = (value: number) => constant({ value_float: { type: 'float', value } });
  const output = (value: string, name: string, shape: readonly number[]) => {
    nodes.push({
      name: `${name}/out`,
      opType: 'Identity',
      domain: '',
      inputs: [value],
      outputs: [name],
      attributes: {},
    });
    outputs.push({ name, dtype: 'float32', shape: [...shape] });
  };

  // torch.nn.utils.clip_grad_norm_: per-tensor 2-norms, the norm of those, coef = min(1, max / (total + 1e-6)).
  const keys = groups.flatMap((g) => g.keys);
  const norms = keys.map((k) =>
    op('Reshape', [
      op('Sqrt', [op('ReduceSumSquare', [gradName(k)], { keepdims: { type: 'int', value: 0 } })]),
      constant({ value_ints: { type: 'ints', value: [1] } }),
    ]),
  );
  const total = op('Sqrt', [
    op('ReduceSumSquare', [op('Concat', norms, { axis: { type: 'int', value: 0 } })], {
      keepdims: { type: 'int', value: 1 },
    }),
  ]);
  output(total, GRAD_NORM_OUTPUT, [1]);
  const ratio = op('Min', [op('Div', [MAX_GRAD_NORM_INPUT, op('Add', [total, float(1e-6)])]), float(1)]);
  const coef = op('Where', [op('Greater', [MAX_GRAD_NORM_INPUT, float(0)]), ratio, float(1)]);

  groups.forEach((group, g) => {
    const factor = (name: string) => {
      const input = factorInput(g, name);
      inputs.push(scalar(input));
      return input;
    };
    if (group.kind === 'sgd') {
      const { lr, wd } = Object.fromEntries(SGD_FACTORS.map((name) => [name, factor(name)])) as Record<
        (typeof SGD_FACTORS)[number],
        string
      >;
      for (const key of group.keys) {
        // d = clipped g + wd·p (torch's L2 decay, 0 turns it off); p −= lr·d
        const grad = op('Add', [op('Mul', [gradName(key), coef]), op('Mul', [wd, key])]);
        output(op('Sub', [key, op('Mul', [lr, grad])]), updateOutputs(key).param, dims(key));
      }
      return;
    }
    const f = Object.fromEntries(ADAMW_FACTORS.map((name) => [name, factor(name)])) as Record<
      (typeof ADAMW_FACTORS)[number],
      string
    >;
    for (const key of group.keys) {
      const shape = dims(key);
      const { m, v } = momentInputs(key);
      inputs.push({ name: m, dtype: 'float32', shape: [...shape] }, { name: v, dtype: 'float32', shape: [...shape] });
      const grad = op('Mul', [gradName(key), coef]);
      // p ·= 1 − lr·wd; m = m + (1 − β1)(g − m); v = β2·v + (1 − β2)·g²; p −= step · m / (√v / √(1 − β2ᵗ) + eps)
      const decayed = op('Mul', [key, f.decay]);
      const nextM = op('Add', [m, op('Mul', [f.w1, op('Sub', [grad, m])])]);
      const nextV = op('Add', [op('Mul', [v, f.b2]), op('Mul', [f.w2, op('Mul', [grad, grad])])]);
      const denom = op('Add', [op('Div', [op('Sqrt', [nextV]), f.bc2Sqrt]), f.eps]);
      const nextP = op('Sub', [decayed, op('Mul', [f.stepSize, op('Div', [nextM, denom])])]);
      const names = updateOutputs(key);
      output(nextP, names.param, shape);
      output(nextM, names.m, shape);
      output(nextV, names.v, shape);
    }
  });

  return {
    ...model,
    graph: {
      ...model.graph,
      inputs: [...model.graph.inputs, ...inputs],
      nodes: [...model.graph.nodes, ...nodes],
      outputs: [...model.graph.outputs.filter((o) => o.name === 'loss'), ...outputs],
    },
  };
}
