// Nodes by name. Names are unique in a Graph (it renames duplicates on load), so a name picks one node.
import type { Graph, Node } from './graph.js';

export function nodeNamed(graph: Graph, name: string): Node | undefined {
  return graph.nodes.find((n) => n.name === name);
}

/** Every node by name, for many lookups in a graph that is not edited meanwhile. */
export function nodesByName(graph: Graph): Map<string, Node> {
  return new Map(graph.nodes.map((n) => [n.name, n]));
}
