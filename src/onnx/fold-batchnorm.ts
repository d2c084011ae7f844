// Folding inference-mode BatchNormalization into the adjacent linear layer (Conv, Gemm, MatMul with a constant
// weight), so the weight that gets quantized is the one a deployed model multiplies by. BN(y) = k·y + t per
// channel, k = γ/√(σ²+ε), t = β − μ·k. This file finds the layer a BatchNorm folds into and proves the channels
// line up; fold-batchnorm-weights.ts rewrites the weight and bias.
import { floatAttribute, intAttribute, type Graph, type Node } from './graph.js';
import { declaredRanks, rankOf, type Ranks } from './static-rank.js';
import { foldIntoInputs, foldIntoOutputs, removeBatchNorm, type Linear } from './fold-batchnorm-weights.js';

export interface BatchNormFolding {
  /** Each folded BatchNormalization and the layer it went into. */
  folded: { node: string; into: string; side: 'after' | 'before' }[];
  /** BatchNormalizations left in the graph, with why. */
  kept: { node: string; reason: string }[];
}

// Ops that only rearrange a tensor: a BatchNorm seen through them still has one value per channel.
const REARRANGE = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

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

/** The constant Add of one value per channel right after a MatMul (a torch Linear's bias), if any. */
function channelBiasAdd(graph: Graph, add: Node | undefined, channels: number): Node | undefined {
  if (add?.opType !== 'Add') return undefined;
  const constant = add.inputs.find((t) => graph.isConstant(t));
  const value = constant ? graph.constantValue(constant) : undefined;
  return value && value.values.length === channels && value.dims[value.dims.length - 1] === channels ? add : undefined;
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
  foldIntoOutputs(graph, linear, biasAdd, k, t);
  removeBatchNorm(graph, bn);
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
  const output = linear.node.outputs[0];
  const biasAdd =
    linear.node.opType === 'MatMul' && singleUse(graph, output)
      ? channelBiasAdd(graph, graph.consumers(output)[0], linear.outChannels)
      : undefined;
  foldIntoInputs(graph, linear, biasAdd, k, t);
  removeBatchNorm(graph, bn);
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
