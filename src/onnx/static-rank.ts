// Static ranks: the number of axes of a tensor where the graph alone determines it, for passes that must know
// which axis holds the channels without running the model.
import { attribute, intAttribute, type Graph } from './graph.js';
import { tensorDims, valueInfoShape } from './proto.js';

// Ops whose output has the rank of their first input, and ops that broadcast their inputs together.
const SAME_RANK = new Set([
  'BatchNormalization',
  'Relu',
  'HardSwish',
  'HardSigmoid',
  'Sigmoid',
  'Tanh',
  'Gelu',
  'Erf',
  'Softmax',
  'LayerNormalization',
  'Identity',
  'Cast',
  'Conv',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Clip',
  'Neg',
  'Sqrt',
  'Exp',
  'Dropout',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'MatMul']);

/** Ranks known so far, by tensor; starts with the ranks the graph declares (its inputs and value_info). */
export type Ranks = Map<string, number | undefined>;

export function declaredRanks(graph: Graph): Ranks {
  const ranks: Ranks = new Map();
  for (const info of [...graph.inputs, ...graph.valueInfo]) {
    const shape = valueInfoShape(info);
    if (info.name && shape) ranks.set(info.name, shape.length);
  }
  return ranks;
}

/**
 * The rank of a tensor where the graph determines it statically, else undefined. A pass that keeps every rank
 * (BatchNorm folding does) can keep one `memo` for all its questions.
 */
export function rankOf(graph: Graph, tensor: string, memo: Ranks): number | undefined {
  if (memo.has(tensor)) return memo.get(tensor);
  memo.set(tensor, undefined); // guards against cycles while this one is worked out
  const constant = graph.constantSource(tensor);
  const node = graph.producer(tensor);
  let rank: number | undefined;
  if (constant) rank = tensorDims(constant).length;
  else if (node) {
    const input = (i: number) => (node.inputs[i] ? rankOf(graph, node.inputs[i], memo) : undefined);
    if (node.opType === 'Flatten' || node.opType === 'Gemm') rank = 2;
    else if (node.opType === 'Reshape') rank = shapeLength(graph, node.inputs[1], memo);
    else if (node.opType === 'Transpose') rank = attribute(node, 'perm')?.ints?.length ?? input(0);
    else if (SAME_RANK.has(node.opType)) rank = input(0);
    else if (BROADCAST.has(node.opType)) {
      const ranks = node.inputs.map((_, i) => input(i));
      rank = ranks.every((r) => r !== undefined) ? Math.max(...(ranks as number[])) : undefined;
    } else if (node.opType.startsWith('Reduce')) {
      const r = input(0);
      const axes = attribute(node, 'axes')?.ints?.length ?? (node.inputs[1] ? lengthOf(graph, node.inputs[1]) : r);
      rank = r === undefined || axes === undefined ? undefined : intAttribute(node, 'keepdims', 1) ? r : r - axes;
    }
  }
  memo.set(tensor, rank);
  return rank;
}

/** The number of elements of a 1-D constant tensor. */
function lengthOf(graph: Graph, tensor: string): number | undefined {
  const source = graph.constantSource(tensor);
  return source ? tensorDims(source).reduce((a, b) => a * b, 1) : undefined;
}

/** The length of a shape tensor: a constant, Shape(x) of a tensor of known rank, or a Concat of such parts. */
function shapeLength(graph: Graph, tensor: string, memo: Ranks): number | undefined {
  const constant = lengthOf(graph, tensor);
  if (constant !== undefined) return constant;
  const node = graph.producer(tensor);
  if (node?.opType === 'Unsqueeze') return 1;
  if (node?.opType === 'Shape' && !attribute(node, 'start') && !attribute(node, 'end'))
    return rankOf(graph, node.inputs[0], memo);
  if (node?.opType !== 'Concat') return undefined;
  const parts = node.inputs.map((t) => shapeLength(graph, t, memo));
  return parts.every((p) => p !== undefined) ? (parts as number[]).reduce((a, b) => a + b, 0) : undefined;
}
