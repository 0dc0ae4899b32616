/**
 * Gradient checkpointing inside one ONNX graph. The forward nodes of a segment (e.g. one UNet
 * ResNet or transformer block) are copied into the backward pass, and that segment's gradient
 * rules read the copies instead of the forward activations. The forward activations inside the
 * segment then have no consumer after the forward pass, so ORT's memory planner frees them as
 * soon as the forward pass leaves the segment; only the segment's boundary values stay alive.
 *
 * Each copy reads its float boundary inputs as `x + 0·g` with `g` one element of a gradient
 * that reaches the segment. That data dependency does two jobs: ORT cannot schedule the
 * recomputation before the backward pass arrives (which would keep everything alive again), and
 * common-subexpression elimination cannot merge the copy back into the forward nodes.
 * `x + 0·g` is exactly `x` for finite `g`, so gradients are bit-identical to the stored case.
 * A segment is copied whole; `differentiate` then drops the copies no rule reads (its tail).
 */
import { isFloatDType, type Node, type ValueMeta } from '../graph';
import { type Emitter } from './emitter';

/** Names a forward node's segment, or undefined for nodes whose activations are kept. */
export type SegmentOf = (node: Node) => string | undefined;

type Segment = { nodes: Node[]; produced: Set<string>; renamed?: Map<string, string> };

export class Recomputation {
  private readonly segments = new Map<string, Segment>();
  private readonly segmentOfNode = new Map<Node, Segment>();

  constructor(
    order: readonly Node[],
    private readonly initializers: ReadonlySet<string>,
    private readonly metas: ReadonlyMap<string, ValueMeta>,
    private readonly e: Emitter,
    segmentOf: SegmentOf,
  ) {
    for (const node of order) {
      const key = segmentOf(node);
      if (key === undefined) continue;
      let seg = this.segments.get(key);
      if (!seg) this.segments.set(key, (seg = { nodes: [], produced: new Set() }));
      seg.nodes.push(node);
      for (const o of node.outputs) if (o !== '') seg.produced.add(o);
      this.segmentOfNode.set(node, seg);
    }
  }

  /** How many segments were recomputed (for tests and reports). */
  get recomputed(): number {
    return [...this.segments.values()].filter((s) => s.renamed).length;
  }

  /**
   * `node` as its gradient rule should see it: for a node in a segment, reading and producing
   * the recomputed values (the segment is copied on first use, after gradient `after` exists).
   */
  view(node: Node, after: string): Node {
    const seg = this.segmentOfNode.get(node);
    if (!seg) return node;
    const renamed = seg.renamed ?? this.emit(seg, after);
    const map = (v: string) => renamed.get(v) ?? v;
    return { ...node, inputs: node.inputs.map(map), outputs: node.outputs.map(map) };
  }

  private emit(seg: Segment, after: string): Map<string, string> {
    const { e } = this;
    const renamed = new Map<string, string>();
    seg.renamed = renamed;
    // zero = 0 · (first element of `after`), a scalar of each boundary dtype on demand.
    const zeros = new Map<string, string>();
    const zeroOf = (dtype: ValueMeta['dtype']): string => {
      let z = zeros.get(dtype);
      if (!z) {
        // Gradients carry no type information here; a Cast to the boundary's dtype makes it explicit.
        const first = e.reshape(e.op('Slice', [e.reshape(after, [-1]), e.ints([0]), e.ints([1])]), []);
        zeros.set(dtype, (z = e.mul(e.cast(first, dtype), e.scalar(0, dtype))));
      }
      return z;
    };
    for (const node of seg.nodes) {
      const inputs = node.inputs.map((v) => {
        if (v === '') return v;
        const known = renamed.get(v);
        if (known !== undefined) return known;
        if (seg.produced.has(v) || this.initializers.has(v)) return v;
        const meta = this.metas.get(v);
        if (!meta || !isFloatDType(meta.dtype)) return v;
        const tied = e.add(v, zeroOf(meta.dtype));
        e.alias(tied, v);
        renamed.set(v, tied);
        return tied;
      });
      const outputs = e.copyNode(node, inputs);
      node.outputs.forEach((o, i) => {
        if (o !== '') renamed.set(o, outputs[i]!);
      });
    }
    return renamed;
  }
}
