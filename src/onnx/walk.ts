// The graph's walks over its producer/consumer links: back from tensors to the nodes they are computed from, and
// forward from a tensor to the nodes that depend on it. Passes that need a walk call these.
import type { Graph, Node } from './graph.js';

export interface UpstreamWalk {
  /** Tensors the walk does not go behind (a cut, constants); by default it goes behind every tensor. */
  stopAt?: (tensor: string) => boolean;
  /** Told, once each, the tensors reached that no node produces (graph inputs, initializers). */
  source?: (tensor: string) => void;
  /** Told, once each and in the order reached, every tensor the walk goes behind or stops at a source. */
  reached?: (tensor: string) => void;
}

/**
 * Nodes that `tensors` are computed from, their producers included, in the order a depth-first walk from the last
 * tensor first reaches them.
 */
export function upstreamNodes(graph: Graph, tensors: readonly string[], walk: UpstreamWalk = {}): Set<Node> {
  const nodes = new Set<Node>();
  const stack = [...tensors];
  const visited = new Set<string>();
  while (stack.length) {
    const tensor = stack.pop()!;
    if (visited.has(tensor)) continue;
    visited.add(tensor);
    if (walk.stopAt?.(tensor)) continue;
    walk.reached?.(tensor);
    const node = graph.producer(tensor);
    if (!node) {
      walk.source?.(tensor);
      continue;
    }
    if (nodes.has(node)) continue;
    nodes.add(node);
    for (const t of node.inputs) if (t) stack.push(t);
  }
  return nodes;
}

/** Nodes reachable forward from a tensor. */
export function downstreamNodes(graph: Graph, start: string): Set<Node> {
  const inside = new Set<Node>();
  const stack = [start];
  const seen = new Set<string>();
  while (stack.length) {
    const tensor = stack.pop()!;
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    for (const node of graph.consumers(tensor)) {
      if (inside.has(node)) continue;
      inside.add(node);
      stack.push(...node.outputs);
    }
  }
  return inside;
}
