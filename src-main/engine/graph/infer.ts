/**
 * Runs the shape rules (`op-rules.ts`) over one node or a whole graph.
 */
import { GraphError } from './errors';
import { type Graph, type Node, type Shape, type Tensor } from './ir';
import { InferContext, MAX_KNOWN_VALUES, type ValueMeta } from './infer-context';
import { OP_RULES } from './op-rules';
import { canonicalDim } from './shape';
import { isExternal, numel, tensorToNumbers } from './tensor';

export type { ValueMeta } from './infer-context';

/** Whether `opType` (default domain) has a shape rule. */
export function hasShapeRule(opType: string): boolean {
  return Object.hasOwn(OP_RULES, opType);
}

/**
 * Infers a node's outputs from its inputs' metadata (`undefined` for absent optional inputs).
 * Throws `GraphError` naming the node on a mismatch, or when the op has no rule.
 */
export function inferNode(node: Node, inputs: readonly (ValueMeta | undefined)[], opset: number): ValueMeta[] {
  const rule = node.domain === '' || node.domain === 'ai.onnx' ? OP_RULES[node.opType] : undefined;
  if (!rule)
    throw new GraphError(`${node.opType} '${node.name}': no shape inference rule for this op`, { node: node.name });
  const out = rule(new InferContext(node, inputs, opset));
  return out.map((m) => ({ ...m, shape: m.shape ? m.shape.map(canonicalDim) : null }));
}

/** What inference knows of a constant: dtype, dims and, when small and in memory, its values. */
export function tensorMeta(t: Tensor): ValueMeta {
  const small = numel(t.dims) <= MAX_KNOWN_VALUES && !isExternal(t.data);
  return { dtype: t.dtype, shape: [...t.dims], value: small ? tensorToNumbers(t) : undefined };
}

export type InferShapesOptions = {
  /** Opset of the default domain (needed: some ops changed signature). */
  opset: number;
  /** Replace the declared shapes of graph inputs (e.g. concrete sizes for symbolic dims). */
  inputShapes?: Record<string, Shape> | undefined;
  /** Throw on ops without a rule instead of leaving their outputs unknown. Default false. */
  strict?: boolean | undefined;
};

/**
 * Infers every value of a graph, in topological order. Values whose type cannot be inferred
 * (unknown ops, untyped inputs) are left out; mismatches throw `GraphError` naming the node.
 */
export function inferShapes(graph: Graph, options: InferShapesOptions): Map<string, ValueMeta> {
  const metas = new Map<string, ValueMeta>();
  for (const [name, t] of graph.initializers) metas.set(name, tensorMeta(t));
  for (const i of graph.inputs) {
    if (metas.has(i.name) || !i.dtype) continue;
    const shape = options.inputShapes?.[i.name] ?? i.shape;
    metas.set(i.name, { dtype: i.dtype, shape: shape ? [...shape] : null });
  }
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((n) => (n === '' ? undefined : metas.get(n)));
    const missing = node.inputs.some((n, i) => n !== '' && !inputs[i]);
    if (missing || !hasShapeRule(node.opType) || node.domain !== '') {
      if (options.strict && !missing) inferNode(node, inputs, options.opset);
      continue;
    }
    const outs = inferNode(node, inputs, options.opset);
    node.outputs.forEach((o, i) => {
      const m = outs[i];
      if (o !== '' && m) metas.set(o, m);
    });
  }
  return metas;
}
