// --float-layers: layers kept float by hand, by node name or op type (onnxruntime's nodes_to_exclude, ModelOpt's
// op_types_to_exclude). Their weights get no quantizer, and an activation quantizer leaves them out of the nodes it
// feeds (one that feeds only float layers goes).
import type { Graph, Node } from '../onnx/graph.js';
import { ConfigError } from '../errors.js';

/** The nodes `names` name (a node's name, or an op type for every node of it); a name that matches none is an error. */
export function floatLayerNodes(graph: Graph, names: readonly string[]): Set<Node> {
  const nodes = new Set<Node>();
  for (const name of names) {
    const matched = graph.nodes.filter((n) => n.name === name || n.opType === name);
    if (!matched.length)
      throw new ConfigError(
        `--float-layers: "${name}" is neither a node name nor an op type of the model (evolq inspect lists the quantized layers)`,
        '--float-layers',
      );
    for (const node of matched) nodes.add(node);
  }
  return nodes;
}

interface LayerMark {
  kind: string;
  node: Node;
  consumers: Node[];
}

/** The marks without the float layers: their weights dropped, and each other mark's consumers less them. */
export function withoutFloatLayers<M extends LayerMark>(marks: readonly M[], float: ReadonlySet<Node>): M[] {
  if (!float.size) return [...marks];
  const kept: M[] = [];
  for (const mark of marks) {
    if (mark.kind === 'weight') {
      if (!float.has(mark.node)) kept.push(mark);
      continue;
    }
    const consumers = mark.consumers.filter((n) => !float.has(n));
    if (consumers.length) kept.push({ ...mark, consumers });
  }
  return kept;
}
