// Cutting the part of a graph that lies between given tensors into a model of its own.
import { Graph, type Node } from './graph.js';
import { floatValueInfo } from './proto.js';
import { GraphError } from '../errors.js';

/**
 * The subgraph that computes `outputs` from `inputs`: every node the outputs need, back to the cut, with
 * constants kept as initializers. A needed tensor that is neither cut, constant nor computable is an error;
 * needed graph inputs (parameter feeds) stay inputs.
 */
export function extractSubgraph(graph: Graph, inputs: readonly string[], outputs: readonly string[]): Graph {
  const cut = new Set(inputs);
  const keep = new Set<Node>();
  const needed = new Set<string>();
  const stack = [...outputs];
  const visited = new Set<string>();
  while (stack.length) {
    const tensor = stack.pop()!;
    if (visited.has(tensor)) continue;
    visited.add(tensor);
    if (cut.has(tensor) || graph.initializers.has(tensor)) continue;
    const node = graph.producer(tensor);
    if (!node) {
      needed.add(tensor);
      continue;
    }
    if (keep.has(node)) continue;
    keep.add(node);
    for (const t of node.inputs) if (t) stack.push(t);
  }
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
