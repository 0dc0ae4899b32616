/**
 * Reverse-mode differentiation of a model in our IR: from a scalar loss to the values asked for
 * (graph inputs or initializers, e.g. LoRA weights). The graph is walked backwards once, in
 * reverse topological order, over only the nodes on a path from a `wrt` value to the loss;
 * contributions to a value read by several nodes are summed, and each gradient is summed down
 * to its input's shape where it was broadcast. The result is the forward model plus the
 * backward nodes, with one extra output `grad.<name>` per `wrt` value.
 */
import {
  GraphError,
  inferShapes,
  isFloatDType,
  opsetVersion,
  topologicalOrder,
  type Graph,
  type Model,
  type Node,
  type ValueMeta,
} from '../graph';
import { Emitter } from './emitter';
import { Recomputation, type SegmentOf } from './recompute';
import { NOT_DIFFERENTIABLE, RULES, type GradRule } from './rules';

export type DifferentiateOptions = {
  /** The scalar (one-element) value to differentiate. */
  loss: string;
  /** Graph inputs or initializers to differentiate with respect to. */
  wrt: string[];
  /**
   * Gradient checkpointing: the segment each forward node belongs to (undefined: not
   * recomputed). A segment's activations are recomputed in the backward pass instead of kept
   * (see `recompute.ts`); gradients are identical.
   */
  recompute?: SegmentOf;
};

/** The name of the output carrying the gradient of `name`. */
export const gradName = (name: string): string => `grad.${name}`;

/** Input slots of `node` that carry gradients; an op without a rule: all of them. */
function diffSlots(node: Node): number[] {
  const rule = RULES[node.opType];
  if (rule === NOT_DIFFERENTIABLE) return [];
  const all = node.inputs.map((_, i) => i);
  const slots = rule?.diff?.(node) ?? all;
  return slots.filter((i) => i < node.inputs.length && node.inputs[i] !== '');
}

function metasOf(model: Model, graph: Graph): Map<string, ValueMeta> {
  const metas = inferShapes(graph, { opset: opsetVersion(model) ?? 17 });
  const declared = [...graph.inputs, ...graph.valueInfo.values(), ...graph.outputs];
  for (const vi of declared) {
    if (!metas.has(vi.name) && vi.dtype)
      metas.set(vi.name, { dtype: vi.dtype, shape: vi.shape ? [...vi.shape] : null });
  }
  return metas;
}

export function differentiate(model: Model, options: DifferentiateOptions): Model {
  const source = model.graph;
  const graph: Graph = {
    ...source,
    inputs: [...source.inputs],
    outputs: [...source.outputs],
    nodes: topologicalOrder(source),
    initializers: new Map(source.initializers),
    valueInfo: new Map(source.valueInfo),
  };
  const order = graph.nodes;
  const metas = metasOf(model, graph);
  const { loss, wrt } = options;
  const lossMeta = metas.get(loss);
  if (!lossMeta) throw new GraphError(`autodiff: loss '${loss}' is not a value of graph '${graph.name}'`);
  const sources = new Set([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  for (const w of wrt) {
    if (!sources.has(w)) throw new GraphError(`autodiff: '${w}' is neither a graph input nor an initializer`);
    const m = metas.get(w);
    if (!m || !isFloatDType(m.dtype)) throw new GraphError(`autodiff: '${w}' is not a floating-point tensor`);
  }
  if (new Set(wrt).size !== wrt.length) throw new GraphError('autodiff: wrt names a value twice');

  // Forward: values that depend on a wrt value through differentiable slots (floats only).
  const active = new Set(wrt);
  for (const node of order) {
    if (!diffSlots(node).some((i) => active.has(node.inputs[i]!))) continue;
    for (const o of node.outputs) {
      const m = metas.get(o);
      if (o !== '' && (!m || isFloatDType(m.dtype))) active.add(o);
    }
  }
  // Backward: values the loss depends on through differentiable slots.
  const needed = new Set([loss]);
  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k]!;
    if (!node.outputs.some((o) => needed.has(o))) continue;
    for (const i of diffSlots(node)) needed.add(node.inputs[i]!);
  }
  // The nodes on a path from a wrt value to the loss; the ops we cannot pass through are errors.
  const onPath = new Set<Node>();
  for (const node of order) {
    const outs = node.outputs.filter((o) => needed.has(o));
    if (outs.length === 0) continue;
    const rule = RULES[node.opType];
    const readsActive = node.inputs.some((i) => active.has(i));
    if (rule === undefined && readsActive) {
      throw new GraphError(
        `autodiff: no gradient rule for op ${node.domain ? `${node.domain}.` : ''}${node.opType} (node '${node.name}')`,
        { node: node.name },
      );
    }
    if ((rule === NOT_DIFFERENTIABLE || node.domain !== '') && readsActive) {
      throw new GraphError(
        `autodiff: ${node.opType} '${node.name}' is not differentiable, but '${outs[0]}' leads from a trained input to the loss`,
        { node: node.name },
      );
    }
    if (!diffSlots(node).some((i) => active.has(node.inputs[i]!))) continue;
    const integer = outs.find((o) => !active.has(o));
    if (integer !== undefined) {
      throw new GraphError(
        `autodiff: ${node.opType} '${node.name}': '${integer}' is ${metas.get(integer)?.dtype ?? 'not float'}; gradients do not flow through integers`,
        { node: node.name },
      );
    }
    onPath.add(node);
  }

  const e = new Emitter(graph, metas);
  const recompute = options.recompute
    ? new Recomputation(order, new Set(graph.initializers.keys()), metas, e, options.recompute)
    : undefined;
  const grads = new Map<string, string[]>();
  const push = (value: string, g: string) => {
    const list = grads.get(value);
    if (list) list.push(g);
    else grads.set(value, [g]);
  };
  const total = (value: string): string | undefined => {
    const list = grads.get(value);
    if (!list || list.length === 0) return undefined;
    return list.reduce((a, b) => e.add(a, b));
  };

  if (active.has(loss)) {
    const shape = e.staticShape(loss);
    if (shape.some((d) => d !== 1))
      throw new GraphError(`autodiff: loss '${loss}' is not a scalar: [${shape.join(', ')}]`);
    push(
      loss,
      e.within(loss, () => e.constant([1], lossMeta.dtype, shape)),
    );
  }

  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k]!;
    if (!onPath.has(node)) continue;
    e.within(node.name, () => {
      const dy = node.outputs.map((o) => (o === '' ? undefined : total(o)));
      const arrived = dy.find((g) => g !== undefined);
      if (arrived === undefined) return;
      const slots = new Set(diffSlots(node));
      const wants = node.inputs.map((x, i) => slots.has(i) && active.has(x));
      const rule = RULES[node.opType] as GradRule;
      // The rule reads recomputed activations for a checkpointed node; gradients still flow by the forward names.
      const seen = recompute ? recompute.view(node, arrived) : node;
      const dx = rule.grad({ node: seen, e, dy, wants });
      node.inputs.forEach((x, i) => {
        const g = dx[i];
        if (wants[i] && g) push(x, g);
      });
    });
  }

  const gradOutputs = wrt.map((w) => {
    const name = gradName(w);
    const meta = metas.get(w)!;
    e.within(name, () => {
      const g = total(w) ?? e.zerosLike(w, meta.dtype);
      e.nodes.push({ name, opType: 'Identity', domain: '', inputs: [g], outputs: [name], attributes: {} });
    });
    return { name, dtype: meta.dtype, shape: meta.shape ? [...meta.shape] : undefined };
  });

  graph.outputs = [...graph.outputs, ...gradOutputs];
  graph.nodes = [...order, ...liveNodes(e.nodes, new Set(graph.outputs.map((o) => o.name)))];
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  for (const c of e.constants) if (!read.has(c)) graph.initializers.delete(c);
  return { ...model, graph, metadataProps: new Map(model.metadataProps) };
}

/**
 * The backward nodes (in order) that an output depends on. Rules emit only what they use, but a
 * recomputed segment is copied whole, and its tail (say a ResNet's last Conv, whose output no rule
 * reads) would otherwise run every step: ORT executes nodes whether their outputs are fetched or not.
 */
function liveNodes(nodes: readonly Node[], outputs: ReadonlySet<string>): Node[] {
  const wanted = new Set(outputs);
  const live: Node[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k]!;
    if (!node.outputs.some((o) => o !== '' && wanted.has(o))) continue;
    live.push(node);
    for (const i of node.inputs) wanted.add(i);
  }
  return live.reverse();
}
