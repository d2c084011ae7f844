// Edits that put a computation between a node and the readers of its output, and the dead-node sweep.
import { GraphError } from '../errors.js';
import { makeAttribute, type Graph, type Node } from './graph.js';
import { NodeBuilder } from './builder.js';

/** Subtracts `shift` from the layer's output: the layer writes a raw tensor and the Sub takes over its output name, graph output or not. */
export function subtractFromOutput(graph: Graph, node: Node, shift: string): void {
  const output = node.outputs[0];
  const raw = graph.uniqueName(`${output}/uncorrected`);
  node.outputs[0] = raw;
  graph.invalidate();
  // A layer can get more than one (the weight correction's offset, then the output correction): node names must differ too.
  let name = `${node.name}/bias_corrected`;
  for (let k = 1; graph.nodes.some((n) => n.name === name); k++) name = `${node.name}/bias_corrected_${k}`;
  new NodeBuilder(graph).add({ opType: 'Sub', inputs: [raw, shift], output, name });
}

/**
 * Subtracts `shift` ([channels]) from the first token of `tensor` ([batch, tokens, channels]) only: the tensor's
 * producer writes a raw tensor, its first token and the rest are sliced apart, the first takes a Sub, and a Concat
 * puts them back together under the tensor's name.
 */
export function subtractFromFirstToken(graph: Graph, tensor: string, shift: string): void {
  const producer = graph.producer(tensor);
  if (!producer) throw new GraphError(`output correction: '${tensor}' has no producer to correct the first token of`);
  const raw = graph.uniqueName(`${tensor}/before_first_token`);
  producer.outputs[0] = raw;
  graph.invalidate();
  const b = new NodeBuilder(graph, `${tensor}/first_token`, { node: '_', constant: '_' });
  const [zero, one, end, tokens] = [
    b.ints('start', [0]),
    b.ints('split', [1]),
    b.ints('end', [2 ** 31 - 1]),
    b.ints('axis', [1]),
  ];
  const add = (
    opType: string,
    name: string,
    inputs: string[],
    output = graph.uniqueName(`${tensor}/first_token_${name}`),
    attributes: Node['attributes'] = [],
  ) => b.add({ opType, inputs, output, attributes, name: graph.uniqueName(`${output}/node`) });
  const first = add('Sub', 'corrected', [add('Slice', 'first', [raw, zero, one, tokens]), shift]);
  const rest = add('Slice', 'rest', [raw, one, end, tokens]);
  add('Concat', 'concat', [first, rest], tensor, [makeAttribute('axis', 1)]);
}

/** Renames the tensor its producer writes (the caller writes the old name again), returning the new name. */
export function renameProducerOutput(graph: Graph, tensor: string): string {
  const node = graph.producer(tensor)!;
  const raw = graph.uniqueName(`${tensor}/float`);
  node.outputs = node.outputs.map((t) => (t === tensor ? raw : t));
  graph.invalidate();
  return raw;
}

/** Drops nodes none of whose outputs is read (the Constant nodes of weights now stored as integers). */
export function pruneDeadNodes(graph: Graph): void {
  for (let changed = true; changed;) {
    changed = false;
    const before = graph.nodes.length;
    graph.nodes = graph.nodes.filter((n) =>
      n.outputs.some((t) => t && (graph.consumers(t).length > 0 || graph.isGraphOutput(t))),
    );
    if (graph.nodes.length !== before) {
      graph.invalidate();
      changed = true;
    }
  }
}
