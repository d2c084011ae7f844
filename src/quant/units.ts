// Search units: what Evol-Q perturbs together. Found structurally from residual connections, so any export
// of a pre-norm transformer or a residual CNN works whatever its node names; names only label the units.
import type { Graph, Node } from '../onnx/graph.js';
import { RESHAPE_OPS } from '../onnx/layout.js';
import type { QuantPoint } from './points.js';
import { upstreamNodes } from '../onnx/walk.js';

export const SEARCH_SPACES = ['attention', 'block', 'block+activations'] as const;
export type SearchSpace = (typeof SEARCH_SPACES)[number];

export interface SearchUnit {
  name: string;
  kind: 'attention' | 'block';
  /** Quant point ids searched together. */
  points: string[];
  /** The residual stream entering the unit and the residual Add output leaving it. */
  input: string;
  output: string;
  /** Names of the nodes inside the unit's branches. */
  nodes: string[];
}

interface ResidualBranch {
  /** The residual Add; absent for an attention without a residual around it (LeViT's shrinking attention). */
  add?: Node;
  /** The tensor both sides of the Add derive from (the block input). */
  input: string;
  /** What leaves the branch: the Add's output, or the output projection's. */
  output: string;
  nodes: Set<Node>;
  hasSoftmax: boolean;
  weightPoints: QuantPoint[];
}

// Shape computations are not data: an Add of two shapes, or a mask built from Shape(x), is no residual.
const NON_DATA_OPS = new Set(['Shape', 'Size', 'ConstantOfShape', 'Constant', 'Range', 'EyeLike']);

function dataTensors(graph: Graph, topo: Node[]): Set<string> {
  const data = new Set(graph.inputs.map((i) => i.name ?? ''));
  for (const node of topo) {
    if (NON_DATA_OPS.has(node.opType)) continue;
    const fromData =
      node.opType === 'Reshape' ||
      node.opType === 'Expand' ||
      node.opType === 'Slice' ||
      node.opType === 'Tile' ||
      node.opType === 'Gather'
        ? data.has(node.inputs[0])
        : node.inputs.some((t) => data.has(t));
    if (fromData) for (const out of node.outputs) data.add(out);
  }
  return data;
}

function dataAncestors(
  graph: Graph,
  tensor: string,
  data: ReadonlySet<string>,
): { tensors: Set<string>; nodes: Set<Node> } {
  const tensors = new Set<string>();
  const nodes = upstreamNodes(graph, [tensor], { stopAt: (t) => !data.has(t), reached: (t) => tensors.add(t) });
  return { tensors, nodes };
}

function residualBranches(graph: Graph, points: readonly QuantPoint[]): ResidualBranch[] {
  const topo = graph.topoOrder();
  const position = new Map(topo.map((n, i) => [n, i]));
  const tensorPosition = (t: string) => {
    const node = graph.producer(t);
    return node ? position.get(node)! : -1;
  };
  const data = dataTensors(graph, topo);
  const weightsByNode = new Map<string, QuantPoint[]>();
  for (const p of points) if (p.kind === 'weight') weightsByNode.set(p.node, [...(weightsByNode.get(p.node) ?? []), p]);
  const branches: ResidualBranch[] = [];
  for (const add of topo) {
    if (add.opType !== 'Add' || !add.inputs.every((t) => data.has(t))) continue;
    const [a, b] = add.inputs.map((t) => dataAncestors(graph, t, data));
    let input: string | undefined;
    for (const t of a.tensors)
      if (b.tensors.has(t) && (input === undefined || tensorPosition(t) > tensorPosition(input))) input = t;
    if (input === undefined) continue;
    const upstream = dataAncestors(graph, input, data).nodes;
    const side = (s: typeof a) => [...s.nodes].filter((n) => !upstream.has(n));
    const [sideA, sideB] = [side(a), side(b)];
    const weightsOf = (nodes: Node[]) => nodes.flatMap((n) => weightsByNode.get(n.name) ?? []);
    const [weightsA, weightsB] = [weightsOf(sideA), weightsOf(sideB)];
    // A residual has an identity shortcut, or a projection shortcut lighter than its main branch;
    // two parallel heads averaged (DeiT's cls and distillation heads) are not one.
    const identity = add.inputs.includes(input);
    const projection =
      Math.min(weightsA.length, weightsB.length) <= 1 && Math.max(weightsA.length, weightsB.length) >= 2;
    if (!identity && !projection) continue;
    const nodes = new Set([...sideA, ...sideB]);
    const weightPoints = [...weightsA, ...weightsB];
    if (weightPoints.length === 0) continue;
    branches.push({
      add,
      input,
      output: add.outputs[0],
      nodes,
      hasSoftmax: [...nodes].some((n) => n.opType === 'Softmax'),
      weightPoints,
    });
  }
  return [...branches, ...unguardedAttentions(graph, branches, weightsByNode, data, tensorPosition)];
}

/**
 * Attentions with no residual Add around them (LeViT's AttentionSubsample): from the linear layers that
 * produce Q, K and V through the output projection, the first linear layer after attn·V.
 */
function unguardedAttentions(
  graph: Graph,
  branches: readonly ResidualBranch[],
  weightsByNode: ReadonlyMap<string, QuantPoint[]>,
  data: ReadonlySet<string>,
  tensorPosition: (t: string) => number,
): ResidualBranch[] {
  const covered = new Set(branches.filter((b) => b.hasSoftmax).flatMap((b) => [...b.nodes]));
  const weighted = (n: Node | undefined) => Boolean(n && weightsByNode.has(n.name));
  /** The weighted nodes reached walking back from `tensors` over data, stopping at each one found. */
  const firstLayersBehind = (tensors: string[]) => {
    const found = new Set<Node>();
    const seen = new Set<string>();
    const stack = tensors.filter((t) => data.has(t));
    while (stack.length) {
      const t = stack.pop()!;
      if (seen.has(t)) continue;
      seen.add(t);
      const node = graph.producer(t);
      if (!node) continue;
      if (weighted(node)) found.add(node);
      else stack.push(...node.inputs.filter((x) => data.has(x)));
    }
    return found;
  };
  /** The first node downstream of `tensor` that satisfies `accept`, searching breadth-first. */
  const firstAfter = (tensor: string, accept: (n: Node) => boolean) => {
    const queue = [tensor];
    const seen = new Set<string>();
    while (queue.length) {
      const t = queue.shift()!;
      if (seen.has(t)) continue;
      seen.add(t);
      for (const node of graph.consumers(t)) {
        if (accept(node)) return node;
        queue.push(...node.outputs);
      }
    }
    return undefined;
  };
  const found: ResidualBranch[] = [];
  for (const softmax of graph.topoOrder()) {
    if (softmax.opType !== 'Softmax' || covered.has(softmax)) continue;
    // attn·V: the first MatMul after the softmax whose other operand is data too.
    const attnV = firstAfter(softmax.outputs[0], (n) => n.opType === 'MatMul' && n.inputs.every((t) => data.has(t)));
    if (!attnV) continue;
    const projection = firstAfter(attnV.outputs[0], weighted);
    const firstLayers = firstLayersBehind([...softmax.inputs, ...attnV.inputs]);
    if (!projection || !firstLayers.size) continue;
    // The unit's input: the latest tensor that every first layer's data input derives from.
    const reach = [...firstLayers].map((n) =>
      dataAncestorTensors(
        graph,
        n.inputs.filter((t) => data.has(t)),
        data,
      ),
    );
    let input: string | undefined;
    for (const t of reach[0])
      if (reach.every((r) => r.has(t)) && (input === undefined || tensorPosition(t) > tensorPosition(input))) input = t;
    if (input === undefined) continue;
    // The output: past the projection's bias and the reshapes back to tokens, to what the next block reads.
    let output = projection.outputs[0];
    for (
      let next = soleConsumer(graph, output);
      next && (RESHAPE_OPS.has(next.opType) || (next.opType === 'Add' && next.inputs.some((t) => graph.isConstant(t))));
      next = soleConsumer(graph, output)
    ) {
      output = next.outputs[0];
    }
    const upstream = dataAncestors(graph, input, data).nodes;
    const nodes = new Set([...dataAncestors(graph, output, data).nodes].filter((n) => !upstream.has(n)));
    const weightPoints = [...nodes].flatMap((n) => weightsByNode.get(n.name) ?? []);
    found.push({ input, output, nodes, hasSoftmax: true, weightPoints });
  }
  return found;
}

/** The one node that reads a tensor's values (Shape readers aside), if there is exactly one. */
function soleConsumer(graph: Graph, tensor: string): Node | undefined {
  const readers = graph.consumers(tensor).filter((n) => n.opType !== 'Shape');
  return readers.length === 1 && !graph.isGraphOutput(tensor) ? readers[0] : undefined;
}

function dataAncestorTensors(graph: Graph, tensors: string[], data: ReadonlySet<string>): Set<string> {
  const all = new Set<string>();
  for (const t of tensors) for (const a of dataAncestors(graph, t, data).tensors) all.add(a);
  return all;
}

function commonScope(names: string[]): string {
  if (names.length === 0) return '';
  let prefix = names[0];
  for (const name of names) while (!name.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const cut = prefix.lastIndexOf('/');
  return cut > 0 ? prefix.slice(0, cut).replace(/^\/+/, '') : '';
}

/**
 * Units in graph order. Transformers: one per attention branch (with 'block', the attention branch and the
 * MLP branch after it). CNNs (no attention anywhere): one per residual block.
 */
export function findUnits(graph: Graph, points: readonly QuantPoint[], space: SearchSpace = 'attention'): SearchUnit[] {
  const topo = graph.topoOrder();
  const position = new Map(topo.map((n, i) => [n, i]));
  const order = (b: ResidualBranch) => position.get(graph.producer(b.output)!) ?? -1;
  const branches = residualBranches(graph, points).sort((a, b) => order(a) - order(b));
  const transformer = branches.some((b) => b.hasSoftmax);
  const groups: ResidualBranch[][] = [];
  if (!transformer) {
    for (const b of branches) groups.push([b]);
  } else {
    for (const b of branches) {
      if (b.hasSoftmax) {
        groups.push([b]);
      } else if (space !== 'attention') {
        const owner = groups.find((g) => g.length === 1 && g[0].hasSoftmax && g[0].output === b.input);
        if (owner) owner.push(b);
      }
    }
  }
  const pointsByTensor = new Map<string, QuantPoint[]>();
  for (const p of points)
    if (p.kind !== 'weight') pointsByTensor.set(p.tensor, [...(pointsByTensor.get(p.tensor) ?? []), p]);
  return groups.map((group, i) => {
    const nodes = group.flatMap((b) => [...b.nodes]);
    const ids = new Set(group.flatMap((b) => b.weightPoints.map((p) => p.id)));
    if (space === 'block+activations') {
      const tensors = new Set([...nodes.flatMap((n) => n.outputs), ...nodes.flatMap((n) => n.inputs)]);
      for (const t of tensors)
        for (const p of pointsByTensor.get(t) ?? []) if (p.tensor !== group[0].input) ids.add(p.id);
    }
    const kind: SearchUnit['kind'] = transformer && space === 'attention' ? 'attention' : 'block';
    const scope = commonScope(nodes.map((n) => n.name));
    return {
      name: scope || `${kind}${i}`,
      kind,
      points: points.filter((p) => ids.has(p.id)).map((p) => p.id),
      input: group[0].input,
      output: group[group.length - 1].output,
      nodes: nodes.map((n) => n.name),
    };
  });
}
