// What a forward costs, in multiply-accumulates (MACs) per image: counted from the float model's MatMul, Gemm
// and Conv nodes with their shapes from one probe forward of one image. The search's budget is kept in them, so
// a model 100 times the work gets 100 times fewer passes for the same budget, the same on every machine.
import type { Graph, Node } from '../onnx/graph.js';
import { intAttribute } from '../onnx/graph.js';
import { floatValueInfo, tensorDims } from '../onnx/proto.js';
import type { FloatTensor, Runner } from '../runtime/runner.js';
import { downstreamNodes, upstreamNodes } from '../onnx/walk.js';

const COUNTED = new Set(['MatMul', 'Gemm', 'Conv']);

export interface ForwardCost {
  /** MACs of one image through the whole model. */
  perImage: number;
  /** MACs of one image through each unit's suffix (what a candidate of that unit runs). */
  suffixPerImage: number[];
  /** MACs of one image through the nodes `tensors` are computed from (what a forward cut there runs). */
  upTo(tensors: readonly string[]): number;
}

const elements = (dims: readonly number[]) => dims.reduce((n, d) => n * d, 1);

/** The MACs of one node from its output's and first input's shapes (batch 1). */
function nodeMacs(graph: Graph, node: Node, shape: (tensor: string) => readonly number[] | undefined): number {
  const out = shape(node.outputs[0]);
  if (!out) return 0;
  if (node.opType === 'Conv') {
    const source = graph.constantSource(node.inputs[1]);
    const weight = source ? tensorDims(source) : shape(node.inputs[1]);
    return weight ? elements(out) * elements(weight.slice(1)) : 0;
  }
  const a = shape(node.inputs[0]);
  if (!a?.length) return 0;
  const k = node.opType === 'Gemm' && intAttribute(node, 'transA', 0) ? a[0] : a[a.length - 1];
  return elements(out) * k;
}

/** The model's MACs per image, in total and from each unit's input on, from one forward of `image` (batch 1). */
export async function forwardCost(
  runner: Runner,
  graph: Graph,
  inputName: string,
  image: FloatTensor,
  unitInputs: readonly string[],
): Promise<ForwardCost> {
  const counted = graph.nodes.filter((n) => COUNTED.has(n.opType));
  const wanted = [
    ...new Set(counted.flatMap((n) => [n.outputs[0], n.inputs[0], ...(n.opType === 'Conv' ? [n.inputs[1]] : [])])),
  ].filter((t) => t && t !== inputName && !graph.isConstant(t));
  const probe = graph.clone();
  const already = new Set(probe.outputs.map((o) => o.name));
  for (const t of wanted) if (!already.has(t)) probe.outputs.push(floatValueInfo(t));
  const session = await runner.createSession(probe.toBytes());
  let shapes: Record<string, FloatTensor>;
  try {
    shapes = await session.run({ [inputName]: image }, wanted);
  } finally {
    await session.release();
  }
  const shape = (t: string) => {
    const source = graph.constantSource(t);
    return t === inputName ? image.dims : (shapes[t]?.dims ?? (source ? tensorDims(source) : undefined));
  };
  const macs = new Map(counted.map((n) => [n, nodeMacs(graph, n, shape)]));
  const sum = (nodes: Iterable<Node>) => [...nodes].reduce((s, n) => s + (macs.get(n) ?? 0), 0);
  return {
    perImage: sum(counted),
    suffixPerImage: unitInputs.map((t) => sum(downstreamNodes(graph, t))),
    upTo: (tensors) => sum(upstreamNodes(graph, tensors)),
  };
}
