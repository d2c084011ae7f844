// Layers kept float: by hand (--float-layers, by node name, op type or layer class, as onnxruntime's
// nodes_to_exclude and ModelOpt's op_types_to_exclude), or measured (--float-fallback). Their weights get no
// quantizer, and an activation quantizer leaves them out of the nodes it feeds (one that feeds only float layers goes).
import { intAttribute, type Graph, type Node } from '../onnx/graph.js';
import { ConfigError } from '../errors.js';

/**
 * The class a layer's kernels are profiled by: its op type, but `DepthwiseConv` for a Conv with one input channel
 * per group (onnxruntime runs those with other kernels than dense convolutions, in float and in integers).
 */
export function layerClass(graph: Graph, node: Node): string {
  if (node.opType !== 'Conv' || intAttribute(node, 'group', 1) === 1) return node.opType;
  const weight = graph.constantValue(node.inputs[1]);
  return weight?.dims[1] === 1 ? 'DepthwiseConv' : 'Conv';
}

/**
 * The nodes `names` name: a node's name, an op type or a layer class (every node of it); a name that matches none
 * is an error.
 */
export function floatLayerNodes(graph: Graph, names: readonly string[]): Set<Node> {
  const nodes = new Set<Node>();
  for (const name of names) {
    const matched = graph.nodes.filter((n) => n.name === name || n.opType === name || layerClass(graph, n) === name);
    if (!matched.length)
      throw new ConfigError(
        `--float-layers: "${name}" is neither a node name nor an op type of the model (evolq inspect lists the quantized layers)`,
        '--float-layers',
      );
    for (const node of matched) nodes.add(node);
  }
  return nodes;
}

interface LayerMark<N> {
  kind: string;
  node: N;
  consumers: N[];
  role?: string;
}

/**
 * The marks (or points) without the float layers: their weights and their `--conv-outputs` quantizers (there only
 * so onnxruntime fuses the layer) dropped, each other one's consumers less them.
 */
export function withoutFloatLayers<N, M extends LayerMark<N>>(marks: readonly M[], isFloat: (node: N) => boolean): M[] {
  const kept: M[] = [];
  for (const mark of marks) {
    if (mark.kind === 'weight' || mark.role === 'conv-output') {
      if (!isFloat(mark.node)) kept.push(mark);
      continue;
    }
    const consumers = mark.consumers.filter((n) => !isFloat(n));
    if (consumers.length) kept.push({ ...mark, consumers });
  }
  return kept;
}
