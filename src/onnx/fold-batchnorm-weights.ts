// Rewriting a linear layer so it absorbs an inference-mode BatchNormalization BN(y) = k·y + t (per channel).
// After the layer: W' = W·k per output channel, b' = k·b + t. Before it (LeViT's BN_Linear head): W' = k·W per
// input channel, b' = b + t·W. New values go into new initializers, as the old ones may be shared.
import { floatAttribute, type Graph, type Node } from './graph.js';
import { floatTensor } from './proto.js';
import { NodeBuilder } from './builder.js';

export interface Linear {
  node: Node;
  weight: { values: Float32Array; dims: number[] };
  /** Output channels and input channels of the weight, and how to index it. */
  outChannels: number;
  inChannels: number;
  at: (o: number, i: number) => number;
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
  new NodeBuilder(graph).add({
    name: graph.uniqueName(`${node.name}_bias`),
    opType: 'Add',
    inputs: [linearOut, biasName],
    output,
  });
}

/** Takes the folded BatchNormalization out, its readers reading its input. */
export function removeBatchNorm(graph: Graph, bn: Node): void {
  graph.rewire(bn.outputs[0], bn.inputs[0], graph.consumers(bn.outputs[0]));
  graph.nodes = graph.nodes.filter((n) => n !== bn);
  graph.invalidate();
}

/**
 * Folds k·y + t after the layer into its weight and bias; `biasAdd` is the constant per-channel Add right after a
 * MatMul (a torch Linear's bias), if any, which then holds the bias.
 */
export function foldIntoOutputs(
  graph: Graph,
  linear: Linear,
  biasAdd: Node | undefined,
  k: Float64Array,
  t: Float64Array,
): void {
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
}

/** Folds k·x + t before the layer (on its inputs) into its weight and bias; `biasAdd` as for foldIntoOutputs. */
export function foldIntoInputs(
  graph: Graph,
  linear: Linear,
  biasAdd: Node | undefined,
  k: Float64Array,
  t: Float64Array,
): void {
  const folded = Float32Array.from(linear.weight.values);
  const bias = new Float64Array(linear.outChannels);
  const alpha = linear.node.opType === 'Gemm' ? floatAttribute(linear.node, 'alpha', 1) : 1;
  for (let o = 0; o < linear.outChannels; o++) {
    for (let i = 0; i < linear.inChannels; i++) {
      bias[o] += alpha * t[i] * linear.weight.values[linear.at(o, i)];
      folded[linear.at(o, i)] *= k[i];
    }
  }
  setConstant(graph, linear.node, 1, linear.weight.dims, folded);
  addBias(graph, linear, bias, biasAdd);
}
