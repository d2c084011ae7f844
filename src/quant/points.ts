// "Mark": op handlers find the tensors to quantize; one engine (materialize.ts) inserts the fake-quant nodes.
import type { Graph, Node } from '../onnx/graph.js';
import { intAttribute } from '../onnx/graph.js';

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
}

interface Mark {
  kind: PointKind;
  tensor: string;
  node: Node;
  consumers: Node[];
  channelAxis?: number;
}

type Handler = (node: Node, graph: Graph) => Mark[];

// Ops that move or reshape values without changing them: a quantized tensor stays quantized through them.
const LAYOUT_OPS = new Set(['Reshape', 'Transpose', 'Dropout', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

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
      marks.push({ kind: 'weight', tensor, node, consumers: [node], channelAxis: weightAxis(node, index, constant.dims.length) });
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
  const sub = graph.consumers(node.outputs[0]).find((n) => n.opType === 'Sub' && n.inputs[0] === x && n.inputs[1] === node.outputs[0]);
  if (!sub) return [];
  const squares = graph.consumers(sub.outputs[0]).some((n) => n.opType === 'Pow' || (n.opType === 'Mul' && n.inputs[0] === n.inputs[1]));
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
export function findQuantPoints(graph: Graph): QuantPoint[] {
  const marks: Mark[] = [];
  const topo = graph.topoOrder();
  const position = new Map(topo.map((n, i) => [n, i]));
  // Inputs of a node come before its outputs; weights after activations of the same node.
  const order = (m: Mark) => position.get(m.node)! * 4 + (m.kind === 'activation' || m.kind === 'layernorm' ? 0 : m.kind === 'weight' ? 1 : 2);
  for (const node of topo) {
    const handler = HANDLERS[node.opType];
    if (handler && (node.domain === '' || node.domain === 'ai.onnx')) marks.push(...handler(node, graph));
  }
  const softmaxOutputs = new Set(marks.filter((m) => m.kind === 'softmax').map((m) => m.tensor));
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
    if (mark.kind === 'weight') {
      point.channelAxis = mark.channelAxis;
      point.dims = graph.constantValue(mark.tensor)!.dims;
    }
    points.push(point);
  }
  return points;
}
