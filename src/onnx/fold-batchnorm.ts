// Folding inference-mode BatchNormalization into the adjacent linear layer (Conv, Gemm, MatMul with a constant
// weight), so the weight that gets quantized is the one a deployed model multiplies by. BN(y) = k·y + t per
// channel, k = γ/√(σ²+ε), t = β − μ·k. After a layer: W' = W·k per output channel, b' = k·b + t. Before one
// (LeViT's BN_Linear head): W' = k·W per input channel, b' = b + t·W.
import { attribute, floatAttribute, intAttribute, type Graph, type Node } from './graph.js';
import { floatTensor, tensorDims, valueInfoShape } from './proto.js';

export interface BatchNormFolding {
  /** Each folded BatchNormalization and the layer it went into. */
  folded: { node: string; into: string; side: 'after' | 'before' }[];
  /** BatchNormalizations left in the graph, with why. */
  kept: { node: string; reason: string }[];
}

// Ops that only rearrange a tensor: a BatchNorm seen through them still has one value per channel.
const REARRANGE = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
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
type Ranks = Map<string, number | undefined>;

function declaredRanks(graph: Graph): Ranks {
  const ranks: Ranks = new Map();
  for (const info of [...graph.inputs, ...graph.valueInfo]) {
    const shape = valueInfoShape(info);
    if (info.name && shape) ranks.set(info.name, shape.length);
  }
  return ranks;
}

/**
 * The rank of a tensor where the graph determines it statically, else undefined. Folding keeps every rank, so
 * one `memo` serves a whole pass.
 */
function rankOf(graph: Graph, tensor: string, memo: Ranks): number | undefined {
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

/** k and t of an inference-mode BatchNormalization with constant parameters. */
function affineOf(graph: Graph, bn: Node): { k: Float64Array; t: Float64Array } | string {
  if (bn.outputs.filter(Boolean).length > 1 || intAttribute(bn, 'training_mode', 0)) return 'training mode';
  const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map((t) => graph.constantValue(t));
  if (!gamma || !beta || !mean || !variance) return 'its parameters are not constants';
  const c = gamma.values.length;
  if ([beta, mean, variance].some((v) => v.values.length !== c)) return 'its parameters differ in length';
  const epsilon = floatAttribute(bn, 'epsilon', 1e-5);
  const k = Float64Array.from(gamma.values, (g, i) => g / Math.sqrt(variance.values[i] + epsilon));
  const t = Float64Array.from(beta.values, (b, i) => b - mean.values[i] * k[i]);
  return { k, t };
}

/** One node reads the values of `tensor` (others may read its shape, which folding keeps). */
const singleUse = (graph: Graph, tensor: string) =>
  graph.consumers(tensor).filter((n) => n.opType !== 'Shape' && n.opType !== 'Size').length === 1 &&
  !graph.isGraphOutput(tensor);

interface Linear {
  node: Node;
  weight: { values: Float32Array; dims: number[] };
  /** Output channels and input channels of the weight, and how to index it. */
  outChannels: number;
  inChannels: number;
  at: (o: number, i: number) => number;
}

/** A Conv, Gemm or MatMul whose right operand is a constant weight. */
function linearOf(graph: Graph, node: Node | undefined): Linear | undefined {
  if (!node || !['Conv', 'Gemm', 'MatMul'].includes(node.opType)) return undefined;
  const weight = graph.constantValue(node.inputs[1]);
  if (!weight || graph.constantValue(node.inputs[0])) return undefined;
  const dims = weight.dims;
  if (node.opType === 'Conv') {
    if (intAttribute(node, 'group', 1) !== 1 && dims[1] !== 1) return undefined;
    const inner = dims.slice(2).reduce((a, b) => a * b, 1);
    return { node, weight, outChannels: dims[0], inChannels: dims[1], at: (o, i) => (o * dims[1] + i) * inner };
  }
  if (dims.length !== 2 || (node.opType === 'Gemm' && intAttribute(node, 'transA', 0))) return undefined;
  const transposed = node.opType === 'Gemm' && intAttribute(node, 'transB', 0) === 1;
  return transposed
    ? { node, weight, outChannels: dims[0], inChannels: dims[1], at: (o, i) => o * dims[1] + i }
    : { node, weight, outChannels: dims[1], inChannels: dims[0], at: (o, i) => i * dims[1] + o };
}

/** Replaces a node's constant input with new values (a new initializer: the old one may be shared). */
function setConstant(graph: Graph, node: Node, index: number, dims: number[], values: Float32Array): void {
  const name = graph.uniqueName(`${node.inputs[index] || `${node.name}_bias`}_folded`);
  graph.addInitializer(floatTensor(name, dims, values));
  while (node.inputs.length <= index) node.inputs.push('');
  node.inputs[index] = name;
  graph.invalidate();
}

/**
 * Adds `bias` to the linear layer's output: into Conv's and Gemm's bias input, into the constant Add after a
 * MatMul (`biasAdd`), or as a new Add after it.
 */
function addBias(graph: Graph, linear: Linear, bias: Float64Array, biasAdd: Node | undefined): void {
  const { node } = linear;
  const c = bias.length;
  if (node.opType === 'Conv' || node.opType === 'Gemm') {
    const beta = node.opType === 'Gemm' ? floatAttribute(node, 'beta', 1) : 1;
    const old = node.inputs[2] ? graph.constantValue(node.inputs[2])!.values : new Float32Array(c);
    setConstant(
      graph,
      node,
      2,
      [c],
      Float32Array.from(bias, (b, o) => old[o] + b / beta),
    );
    return;
  }
  if (biasAdd) {
    const index = biasAdd.inputs.findIndex((t) => graph.isConstant(t));
    const old = graph.constantValue(biasAdd.inputs[index])!.values;
    setConstant(
      graph,
      biasAdd,
      index,
      [c],
      Float32Array.from(bias, (b, o) => old[o] + b),
    );
    return;
  }
  const output = node.outputs[0];
  const linearOut = graph.uniqueName(`${output}_linear`);
  const biasName = graph.uniqueName(`${node.name}_folded_bias`);
  graph.addInitializer(floatTensor(biasName, [c], Float32Array.from(bias)));
  node.outputs[0] = linearOut;
  graph.addNode({
    name: graph.uniqueName(`${node.name}_bias`),
    opType: 'Add',
    domain: '',
    inputs: [linearOut, biasName],
    outputs: [output],
    attributes: [],
  });
}

/** The constant Add of one value per channel right after a MatMul (a torch Linear's bias), if any. */
function channelBiasAdd(graph: Graph, add: Node | undefined, channels: number): Node | undefined {
  if (add?.opType !== 'Add') return undefined;
  const constant = add.inputs.find((t) => graph.isConstant(t));
  const value = constant ? graph.constantValue(constant) : undefined;
  return value && value.values.length === channels && value.dims[value.dims.length - 1] === channels ? add : undefined;
}

function removeNode(graph: Graph, bn: Node): void {
  graph.rewire(bn.outputs[0], bn.inputs[0], graph.consumers(bn.outputs[0]));
  graph.nodes = graph.nodes.filter((n) => n !== bn);
  graph.invalidate();
}

/** BN after a layer, possibly through a bias Add and a Reshape/Flatten to [tokens, channels]. */
function foldAfter(graph: Graph, bn: Node, k: Float64Array, t: Float64Array, ranks: Ranks): Node | string {
  let tensor = bn.inputs[0];
  const rearranged: Node[] = [];
  for (
    let node = graph.producer(tensor);
    node && REARRANGE.has(node.opType) && singleUse(graph, tensor);
    node = graph.producer(tensor)
  ) {
    rearranged.push(node);
    tensor = node.inputs[0];
  }
  let producer = graph.producer(tensor);
  const biasAdd =
    producer?.opType === 'Add' && singleUse(graph, tensor) ? channelBiasAdd(graph, producer, k.length) : undefined;
  if (biasAdd) {
    tensor = biasAdd.inputs.find((x) => !graph.isConstant(x))!;
    producer = graph.producer(tensor);
  }
  const linear = linearOf(graph, producer);
  if (!linear || !singleUse(graph, tensor)) return 'no Conv, Gemm or MatMul with a constant weight feeds it alone';
  if (linear.outChannels !== k.length)
    return `its ${k.length} channels are not the ${linear.outChannels} outputs of '${linear.node.name}'`;
  // Channels line up through a rearrangement only where both ends keep them on the last axis.
  if (linear.node.opType === 'Conv' ? rearranged.length > 0 || biasAdd : rankOf(graph, bn.inputs[0], ranks) !== 2) {
    return `cannot tell that its channel axis is the output channel axis of '${linear.node.name}'`;
  }
  const folded = Float32Array.from(linear.weight.values);
  for (let o = 0; o < linear.outChannels; o++) {
    const inner = linear.weight.values.length / (linear.outChannels * linear.inChannels);
    for (let i = 0; i < linear.inChannels; i++) for (let j = 0; j < inner; j++) folded[linear.at(o, i) + j] *= k[o];
  }
  const bias = Float64Array.from(t);
  const existing =
    linear.node.opType === 'MatMul'
      ? undefined
      : linear.node.inputs[2]
        ? graph.constantValue(linear.node.inputs[2])!.values
        : undefined;
  const previous = biasAdd ? graph.constantValue(biasAdd.inputs.find((x) => graph.isConstant(x))!)!.values : existing;
  // The old bias b becomes k·b + t; addBias adds to the old one, so it is given (k − 1)·b + t.
  if (previous) for (let o = 0; o < bias.length; o++) bias[o] += (k[o] - 1) * previous[o];
  setConstant(graph, linear.node, 1, linear.weight.dims, folded);
  addBias(graph, linear, bias, biasAdd);
  removeNode(graph, bn);
  return linear.node;
}

/** BN right before a Gemm or MatMul that alone reads it, over [batch, channels]. */
function foldBefore(graph: Graph, bn: Node, k: Float64Array, t: Float64Array, ranks: Ranks): Node | string {
  const consumers = graph.consumers(bn.outputs[0]);
  const linear =
    consumers.length === 1 && !graph.isGraphOutput(bn.outputs[0]) && consumers[0].inputs[0] === bn.outputs[0]
      ? linearOf(graph, consumers[0])
      : undefined;
  if (!linear || linear.node.opType === 'Conv') return 'no Gemm or MatMul with a constant weight reads it alone';
  if (linear.inChannels !== k.length || rankOf(graph, bn.inputs[0], ranks) !== 2)
    return `its channels are not the inputs of '${linear.node.name}'`;
  const folded = Float32Array.from(linear.weight.values);
  const bias = new Float64Array(linear.outChannels);
  const alpha = linear.node.opType === 'Gemm' ? floatAttribute(linear.node, 'alpha', 1) : 1;
  for (let o = 0; o < linear.outChannels; o++) {
    for (let i = 0; i < linear.inChannels; i++) {
      bias[o] += alpha * t[i] * linear.weight.values[linear.at(o, i)];
      folded[linear.at(o, i)] *= k[i];
    }
  }
  const output = linear.node.outputs[0];
  const biasAdd =
    linear.node.opType === 'MatMul' && singleUse(graph, output)
      ? channelBiasAdd(graph, graph.consumers(output)[0], linear.outChannels)
      : undefined;
  setConstant(graph, linear.node, 1, linear.weight.dims, folded);
  addBias(graph, linear, bias, biasAdd);
  removeNode(graph, bn);
  return linear.node;
}

/** Folds every BatchNormalization that can be folded exactly; edits `graph` in place. */
export function foldBatchNorms(graph: Graph): BatchNormFolding {
  const result: BatchNormFolding = { folded: [], kept: [] };
  const ranks = declaredRanks(graph);
  for (const bn of graph.topoOrder().filter((n) => n.opType === 'BatchNormalization')) {
    const affine = affineOf(graph, bn);
    if (typeof affine === 'string') {
      result.kept.push({ node: bn.name, reason: affine });
      continue;
    }
    const after = foldAfter(graph, bn, affine.k, affine.t, ranks);
    const into = typeof after === 'string' ? foldBefore(graph, bn, affine.k, affine.t, ranks) : after;
    if (typeof into === 'string') result.kept.push({ node: bn.name, reason: `${after}; ${into}` });
    else result.folded.push({ node: bn.name, into: into.name, side: typeof after === 'string' ? 'before' : 'after' });
  }
  return result;
}
