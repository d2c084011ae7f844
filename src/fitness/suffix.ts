// Suffix graphs: from a search unit's input to the logits. During a pass the input of every unit depends only
// on units before it, which do not change while later units are searched, so a candidate runs only its suffix.
import type { Graph } from '../onnx/graph.js';
import { downstreamNodes } from '../onnx/walk.js';
import { extractSubgraph } from '../onnx/extract.js';

/**
 * The tensors a suffix starting at `start` must be fed: `start` and any other image-dependent tensor computed
 * before the cut that nodes after it read (a shape, a mask). What depends only on constants and parameter
 * feeds (dequantized weights, 1/s) is recomputed inside the suffix.
 */
export function suffixBoundary(graph: Graph, start: string, imageInput: string): string[] {
  const inside = downstreamNodes(graph, start);
  const imageDependent = downstreamNodes(graph, imageInput);
  const produced = new Set([...inside].flatMap((n) => n.outputs));
  const boundary = [start];
  for (const node of inside) {
    for (const tensor of node.inputs) {
      if (!tensor || produced.has(tensor) || boundary.includes(tensor)) continue;
      const producer = graph.producer(tensor);
      if (tensor === imageInput || (producer && imageDependent.has(producer))) boundary.push(tensor);
    }
  }
  return boundary;
}

/** The suffix model: boundary tensors (and the graph's remaining inputs) in, `outputs` out. */
export function suffixGraph(graph: Graph, boundary: readonly string[], outputs: readonly string[]): Graph {
  return extractSubgraph(graph, boundary, outputs);
}
