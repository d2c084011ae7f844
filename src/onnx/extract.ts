// Cutting the part of a graph that lies between given tensors into a model of its own.
import type { Graph } from './graph.js';
import { floatValueInfo } from './proto.js';
import { upstreamNodes } from './walk.js';
import { GraphError } from '../errors.js';

/**
 * The subgraph that computes `outputs` from `inputs`: every node the outputs need, back to the cut, with
 * constants kept as initializers. A needed tensor that is neither cut, constant nor computable is an error;
 * needed graph inputs (parameter feeds) stay inputs.
 */
export function extractSubgraph(graph: Graph, inputs: readonly string[], outputs: readonly string[]): Graph {
  const cut = new Set(inputs);
  const needed = new Set<string>();
  const keep = upstreamNodes(graph, outputs, {
    stopAt: (tensor) => cut.has(tensor) || graph.initializers.has(tensor),
    source: (tensor) => needed.add(tensor),
  });
  const originalInputs = new Map(graph.inputs.map((i) => [i.name ?? '', i]));
  for (const tensor of needed) {
    if (!originalInputs.has(tensor))
      throw new GraphError(`cannot extract: tensor '${tensor}' has no producer and is not an input`, tensor);
  }
  const sub = graph.clone();
  sub.nodes = sub.nodes.filter((_, i) => keep.has(graph.nodes[i]));
  sub.inputs = [
    ...inputs.map((name) => originalInputs.get(name) ?? floatValueInfo(name)),
    ...[...needed].filter((n) => !cut.has(n)).map((n) => originalInputs.get(n)!),
  ];
  const originalOutputs = new Map(graph.outputs.map((o) => [o.name ?? '', o]));
  sub.outputs = outputs.map((name) => originalOutputs.get(name) ?? floatValueInfo(name));
  sub.invalidate();
  return sub;
}
