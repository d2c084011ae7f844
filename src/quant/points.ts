// "Mark": op handlers find the tensors to quantize; one engine (materialize.ts) inserts the fake-quant nodes.
import type { Graph, Node } from '../onnx/graph.js';
import { intAttribute } from '../onnx/graph.js';
import { LAYOUT_OPS } from '../onnx/layout.js';
import {
  dataFreeTester,
  downstreamPoint,
  extraMarks,
  sharedQkvMarks,
  subsumedBy,
  type PointRole,
} from './paper-points.js';
import { nodeNamed } from '../onnx/lookup.js';
import { floatLayerNodes, withoutFloatLayers } from './float-layers.js';
import { convOutputMarks } from './conv-outputs.js';

export type { PointRole };

export type PointKind = 'weight' | 'activation' | 'layernorm' | 'softmax';

export interface QuantPoint {
  id: string;
  kind: PointKind;
  /** The tensor that is quantized. */
  tensor: string;
  /** The node that reads it (weights, activations, layernorm) or writes it (softmax). */
  node: string;
  /** Nodes whose inputs are rewired to the quantized tensor. */
  consumers: string[];
  /** Weights: the output-channel axis of the weight tensor, and its shape. */
  channelAxis?: number;
  dims?: number[];
  /** What an extra point (--extra-points, --shared-qkv, --int-layernorm) quantizes. */
  role?: PointRole;
  /** LayerNorm inputs (with integerLayerNorm): the point that quantizes the LayerNorm's output next. */
  output?: string;
}

/** Which tensors beyond the default set get a quantizer (each an option; `--preset paper` sets them all). */
export interface PointOptions {
  /** The Evol-Q code's extra activation quantizers (paper-points.ts). */
  extraPoints?: boolean;
  /** One quantizer for Q, K and V, on the tensor they are split from, instead of one on each. */
  sharedQkv?: boolean;
  /** Link every LayerNormalization to the quantizer of its output, adding one where none follows it. */
  integerLayerNorm?: boolean;
  /** A quantizer on each Conv output no quantizer reads next, so onnxruntime fuses every Conv (conv-outputs.ts). */
  convOutputs?: boolean;
  /** Layers kept float: node names or op types (float-layers.ts). */
  floatLayers?: readonly string[];
}

interface Mark {
  kind: PointKind;
  tensor: string;
  node: Node;
  consumers: Node[];
  channelAxis?: number;
  role?: PointRole;
  /** The mark is on the node's output (ordered after the node's inputs and weights). */
  writes?: boolean;
}

type Handler = (node: Node, graph: Graph) => Mark[];

/** The output-channel axis of a constant operand of a linear op, by op, operand index and rank. */
function weightAxis(node: Node, index: number, rank: number): number {
  if (node.opType === 'Conv') return 0;
  if (node.opType === 'Gemm') {
    if (index === 1) return intAttribute(node, 'transB', 0) ? 0 : 1;
    return intAttribute(node, 'transA', 0) ? 1 : 0;
  }
  return index === 1 ? rank - 1 : Math.max(0, rank - 2);
}

const linearHandler: Handler = (node, graph) => {
  const marks: Mark[] = [];
  for (const index of [0, 1]) {
    const tensor = node.inputs[index];
    if (!tensor) continue;
    const constant = graph.constantValue(tensor);
    if (constant) {
      if (constant.dims.length < 2) continue;
      marks.push({
        kind: 'weight',
        tensor,
        node,
        consumers: [node],
        channelAxis: weightAxis(node, index, constant.dims.length),
      });
    } else {
      marks.push({ kind: 'activation', tensor, node, consumers: [node] });
    }
  }
  return marks;
};

const softmaxHandler: Handler = (node, graph) => [
  { kind: 'softmax', tensor: node.outputs[0], node, consumers: graph.consumers(node.outputs[0]) },
];

const layerNormHandler: Handler = (node, graph) => [
  { kind: 'layernorm', tensor: node.inputs[0], node, consumers: graph.consumers(node.inputs[0]) },
];

/** The decomposed LayerNorm: ReduceMean(x) whose output Sub(x, mean) subtracts from x, then variance of that. */
const reduceMeanHandler: Handler = (node, graph) => {
  const x = node.inputs[0];
  const sub = graph
    .consumers(node.outputs[0])
    .find((n) => n.opType === 'Sub' && n.inputs[0] === x && n.inputs[1] === node.outputs[0]);
  if (!sub) return [];
  const squares = graph
    .consumers(sub.outputs[0])
    .some((n) => n.opType === 'Pow' || (n.opType === 'Mul' && n.inputs[0] === n.inputs[1]));
  if (!squares || graph.isConstant(x)) return [];
  return [{ kind: 'layernorm', tensor: x, node, consumers: graph.consumers(x) }];
};

/** One handler per op family; a new op is a new entry here. */
export const HANDLERS: Readonly<Record<string, Handler>> = {
  MatMul: linearHandler,
  Gemm: linearHandler,
  Conv: linearHandler,
  Softmax: softmaxHandler,
  LayerNormalization: layerNormHandler,
  ReduceMean: reduceMeanHandler,
};

function sourceThroughLayout(graph: Graph, tensor: string): string {
  for (let hops = 0; hops < 8; hops++) {
    const node = graph.producer(tensor);
    if (!node || !LAYOUT_OPS.has(node.opType)) return tensor;
    tensor = node.inputs[0];
  }
  return tensor;
}

const KIND_PREFIX: Record<PointKind, string> = { weight: 'w', activation: 'a', layernorm: 'n', softmax: 's' };
const PRECEDENCE: Record<PointKind, number> = { softmax: 3, layernorm: 2, activation: 1, weight: 0 };

/** Every quant point of a graph, in topological order of the nodes that define them. */
export function findQuantPoints(graph: Graph, options: PointOptions = {}): QuantPoint[] {
  let marks: Mark[] = [];
  const topo = graph.topoOrder();
  const position = new Map(topo.map((n, i) => [n, i]));
  // Inputs of a node come before its outputs; weights after activations of the same node.
  const order = (m: Mark) =>
    position.get(m.node)! * 4 + (m.writes || m.kind === 'softmax' ? 2 : m.kind === 'weight' ? 1 : 0);
  for (const node of topo) {
    const handler = HANDLERS[node.opType];
    if (handler && (node.domain === '' || node.domain === 'ai.onnx')) marks.push(...handler(node, graph));
  }
  const softmaxOutputs = new Set(marks.filter((m) => m.kind === 'softmax').map((m) => m.tensor));
  if (options.extraPoints || options.sharedQkv || options.integerLayerNorm)
    marks = withPaperMarks(graph, marks, softmaxOutputs, options);
  if (options.convOutputs) marks = [...marks, ...convOutputs(graph, marks)];
  if (options.floatLayers?.length) {
    const float = floatLayerNodes(graph, options.floatLayers);
    marks = withoutFloatLayers(marks, (node: Node) => float.has(node));
  }
  // Tensors are quantized once: merge marks on the same tensor, the more specific kind winning.
  const byTensor = new Map<string, Mark>();
  const weights: Mark[] = [];
  for (const mark of marks) {
    if (mark.kind === 'weight') {
      weights.push(mark);
      continue;
    }
    if (mark.kind === 'activation' && softmaxOutputs.has(sourceThroughLayout(graph, mark.tensor))) continue;
    const existing = byTensor.get(mark.tensor);
    if (!existing) {
      byTensor.set(mark.tensor, { ...mark, consumers: [...mark.consumers] });
    } else if (PRECEDENCE[mark.kind] > PRECEDENCE[existing.kind]) {
      byTensor.set(mark.tensor, { ...mark, consumers: [...new Set([...existing.consumers, ...mark.consumers])] });
    } else {
      for (const c of mark.consumers) if (!existing.consumers.includes(c)) existing.consumers.push(c);
    }
  }
  const counters: Record<PointKind, number> = { weight: 0, activation: 0, layernorm: 0, softmax: 0 };
  const points: QuantPoint[] = [];
  for (const mark of [...weights, ...byTensor.values()].sort((a, b) => order(a) - order(b))) {
    const point: QuantPoint = {
      id: `${KIND_PREFIX[mark.kind]}${counters[mark.kind]++}`,
      kind: mark.kind,
      tensor: mark.tensor,
      node: mark.node.name,
      consumers: mark.consumers.map((n) => n.name),
    };
    if (mark.role) point.role = mark.role;
    if (mark.kind === 'weight') {
      point.channelAxis = mark.channelAxis;
      point.dims = graph.constantValue(mark.tensor)!.dims;
    }
    points.push(point);
  }
  if (options.integerLayerNorm) linkLayerNormOutputs(graph, points);
  return points;
}

/** The default marks plus the extra ones; marks whose tensor comes from a shared quantizer's tensor are dropped. */
function withPaperMarks(
  graph: Graph,
  marks: Mark[],
  softmaxOutputs: ReadonlySet<string>,
  options: PointOptions,
): Mark[] {
  const added: Mark[] = [];
  const output = graph.outputs[0]?.name ?? '';
  if (options.extraPoints) {
    for (const m of extraMarks(graph, output))
      added.push({
        kind: 'activation',
        tensor: m.tensor,
        node: m.node,
        consumers: m.consumers,
        role: m.role,
        writes: !m.reads,
      });
  }
  if (options.sharedQkv) {
    for (const m of sharedQkvMarks(graph, softmaxOutputs))
      added.push({
        kind: 'activation',
        tensor: m.tensor,
        node: m.node,
        consumers: m.consumers,
        role: m.role,
        writes: true,
      });
  }
  const sources = new Set([...softmaxOutputs, ...added.filter((m) => m.role === 'qkv').map((m) => m.tensor)]);
  if (options.integerLayerNorm) {
    const marked = new Set([...marks, ...added].filter((m) => m.kind === 'activation').map((m) => m.tensor));
    for (const node of graph.topoOrder()) {
      if (node.opType !== 'LayerNormalization') continue;
      const out = node.outputs[0];
      if (downstreamPoint(graph, out, marked)) continue;
      const consumers = graph.consumers(out).filter((n) => n.opType !== 'Shape');
      added.push({ kind: 'activation', tensor: out, node, consumers, role: 'layernorm-output', writes: true });
      sources.add(out);
    }
  }
  const dataFree = dataFreeTester(graph);
  const kept = marks.filter((m) => m.kind !== 'activation' || !subsumedBy(graph, m.tensor, sources, dataFree));
  // A role mark on a tensor a default mark also reads: one point, carrying the role and every consumer.
  const byTensor = new Map(kept.filter((m) => m.kind === 'activation').map((m) => [m.tensor, m]));
  const extra: Mark[] = [];
  for (const m of added) {
    const same = byTensor.get(m.tensor);
    if (same && !same.role) {
      same.role = m.role;
      for (const c of m.consumers) if (!same.consumers.includes(c)) same.consumers.push(c);
    } else if (!same) {
      extra.push(m);
      byTensor.set(m.tensor, m);
    }
  }
  return [...kept, ...extra];
}

/** The Conv-output marks of --conv-outputs, beside the marks so far. */
function convOutputs(graph: Graph, marks: readonly Mark[]): Mark[] {
  const convs = marks.filter((m) => m.kind === 'weight' && m.node.opType === 'Conv').map((m) => m.node);
  const quantized = new Set(marks.filter((m) => m.kind !== 'weight').map((m) => m.tensor));
  return convOutputMarks(graph, convs, quantized).map((m) => ({
    kind: 'activation',
    ...m,
    role: 'conv-output',
    writes: true,
  }));
}

/** Each LayerNormalization's input point learns which point quantizes its output (its integer form rounds to it). */
function linkLayerNormOutputs(graph: Graph, points: QuantPoint[]): void {
  const activationByTensor = new Map(points.filter((p) => p.kind === 'activation').map((p) => [p.tensor, p]));
  const marked = new Set(activationByTensor.keys());
  for (const point of points) {
    if (point.kind !== 'layernorm') continue;
    const node = nodeNamed(graph, point.node);
    if (node?.opType !== 'LayerNormalization') continue;
    const tensor = downstreamPoint(graph, node.outputs[0], marked);
    if (tensor) point.output = activationByTensor.get(tensor)!.id;
  }
}
