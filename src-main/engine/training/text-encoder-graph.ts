/**
 * Text encoders inside the training graph (text-encoder LoRA training): the encoders, built with
 * their LoRA as graph inputs, are spliced into the UNet's training model in front of the inputs
 * they compute — `encoder_hidden_states` (and SDXL's `text_embeds`) — which the trainer then no
 * longer feeds; it feeds token ids instead. Splicing works on the IR: each encoder's values and
 * nodes are renamed under its LoRA part (`te/…`, `te1/…`, `te2/…`) so nothing collides.
 */
import { PinholeError } from '../../../src-shared/errors';
import { GraphError, type Graph, type Model, type Node, type ValueInfo } from '../graph';

/** One built encoder: its kohya part and model (outputs as `buildClipTextModel` names them). */
export type BuiltTextEncoder = { part: 'te' | 'te1' | 'te2'; model: Model };

/** The token-id input each part reads: SDXL's second encoder has its own tokenizer (other padding). */
export function inputIdsName(part: BuiltTextEncoder['part']): string {
  return part === 'te2' ? 'input_ids_2' : 'input_ids';
}

/** Copies an encoder's graph with its values renamed `<part>/<name>`, except LoRA inputs and token ids. */
function imported(encoder: BuiltTextEncoder): { graph: Graph; name: (v: string) => string } {
  const source = encoder.model.graph;
  const prefix = encoder.part;
  const kept = new Map<string, string>();
  for (const input of source.inputs)
    kept.set(input.name, input.name === 'input_ids' ? inputIdsName(prefix) : input.name);
  const name = (v: string) => (v === '' ? v : (kept.get(v) ?? `${prefix}/${v}`));
  const nodes: Node[] = source.nodes.map((n) => {
    if (Object.values(n.attributes).some((a) => a.type === 'graph' || a.type === 'graphs')) {
      throw new GraphError(`text encoder node '${n.name}' has a subgraph, which splicing does not rename`);
    }
    return { ...n, name: `${prefix}/${n.name}`, inputs: n.inputs.map(name), outputs: n.outputs.map(name) };
  });
  const initializers = new Map([...source.initializers].map(([k, t]) => [name(k), { ...t, name: name(k) }]));
  const info = (vi: ValueInfo): ValueInfo => ({ ...vi, name: name(vi.name) });
  const valueInfo = new Map([...source.valueInfo.values()].map((vi) => [name(vi.name), info(vi)]));
  const graph: Graph = {
    ...source,
    inputs: source.inputs.map(info),
    outputs: source.outputs.map(info),
    nodes,
    initializers,
    valueInfo,
  };
  return { graph, name };
}

/** The penultimate layer's output (`hidden_states.{N−1}`), as SDXL conditions on. */
function penultimate(graph: Graph, name: (v: string) => string): string {
  const indices = graph.outputs
    .map((o) => /\/hidden_states\.(\d+)$/.exec(o.name)?.[1])
    .filter((i): i is string => i !== undefined)
    .map(Number);
  if (indices.length < 2) throw new GraphError('SDXL text encoder built without hidden_states outputs');
  return name(`hidden_states.${Math.max(...indices) - 1}`);
}

const node = (
  name: string,
  opType: string,
  inputs: string[],
  output: string,
  attributes: Node['attributes'] = {},
): Node => ({
  name,
  opType,
  domain: '',
  inputs,
  outputs: [output],
  attributes,
});

/**
 * `unet` (a training model whose inputs include `encoder_hidden_states`) with the encoders in
 * front of it. One encoder (`te`): `encoder_hidden_states` = its `last_hidden_state`. SDXL
 * (`te1`, `te2`, built with all hidden states): the penultimate states of both concatenated on
 * the channel axis, and `text_embeds` = the second encoder's projection.
 */
export function spliceTextEncoders(unet: Model, encoders: readonly BuiltTextEncoder[]): Model {
  const parts = encoders.map((e) => e.part).join(',');
  if (parts !== 'te' && parts !== 'te1,te2') {
    throw new PinholeError('INVALID_PARAMS', `text-encoder training needs encoder 'te' or 'te1,te2', not '${parts}'`);
  }
  const pieces = encoders.map(imported);
  const replaced = new Set(['encoder_hidden_states']);
  const glue: Node[] = [];
  if (parts === 'te') {
    glue.push(
      node('te/encoder_hidden_states', 'Identity', [pieces[0]!.name('last_hidden_state')], 'encoder_hidden_states'),
    );
  } else {
    const [one, two] = pieces as [(typeof pieces)[0], (typeof pieces)[0]];
    const states = [penultimate(one.graph, one.name), penultimate(two.graph, two.name)];
    glue.push(
      node('te/encoder_hidden_states', 'Concat', states, 'encoder_hidden_states', { axis: { type: 'int', value: -1 } }),
    );
    glue.push(node('te/text_embeds', 'Identity', [two.name('text_embeds')], 'text_embeds'));
    replaced.add('text_embeds');
  }
  const g = unet.graph;
  const inputs = [...g.inputs.filter((i) => !replaced.has(i.name))];
  for (const piece of pieces) {
    for (const input of piece.graph.inputs) if (!inputs.some((i) => i.name === input.name)) inputs.push(input);
  }
  const initializers = new Map(g.initializers);
  const valueInfo = new Map(g.valueInfo);
  for (const piece of pieces) {
    for (const [k, t] of piece.graph.initializers) initializers.set(k, t);
    for (const [k, vi] of piece.graph.valueInfo) valueInfo.set(k, vi);
  }
  const nodes = [...pieces.flatMap((p) => p.graph.nodes), ...glue, ...g.nodes];
  return {
    ...unet,
    graph: { ...g, inputs, nodes, initializers, valueInfo },
    metadataProps: new Map(unet.metadataProps),
  };
}
