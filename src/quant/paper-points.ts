// The quantizers the Evol-Q code (FQ-ViT's fully quantized ViT) adds beyond evolq's default set, found from
// the graph's structure: attention logits, residual branches, patch embedding, class-token concat, position
// embedding and logits; one quantizer for Q, K and V; and the quantizer after each LayerNorm that its
// integer approximation rounds to.
import type { Graph, Node } from '../onnx/graph.js';
import { LAYOUT_OPS, SELECT_OPS } from '../onnx/layout.js';

/** What an extra quant point is for (default points have no role). */
export type PointRole =
  | 'attention-logits'
  | 'residual-branch'
  | 'patch-embedding'
  | 'token-concat'
  | 'position-embedding'
  | 'logits'
  | 'qkv'
  | 'layernorm-output'
  | 'conv-output';

/** The roles `--extra-points` looks for; a model family may lack some (Swin has no class token). */
export const EXTRA_ROLES: readonly PointRole[] = [
  'attention-logits',
  'residual-branch',
  'patch-embedding',
  'token-concat',
  'position-embedding',
  'logits',
];

/** The extra roles a graph has no tensor for (Swin: no class token or position embedding), to say so. */
export function missingRoles(points: readonly { role?: PointRole }[]): PointRole[] {
  return EXTRA_ROLES.filter((role) => !points.some((p) => p.role === role));
}

export interface ExtraMark {
  role: PointRole;
  tensor: string;
  /** The node that reads the tensor (`reads`) or writes it. */
  node: Node;
  reads: boolean;
  consumers: Node[];
}

/** Shape computations and constants: no image data flows into them. */
export function dataFreeTester(graph: Graph): (tensor: string) => boolean {
  const memo = new Map<string, boolean>();
  const test = (tensor: string): boolean => {
    const known = memo.get(tensor);
    if (known !== undefined) return known;
    memo.set(tensor, false);
    let free: boolean;
    if (graph.isConstant(tensor)) free = true;
    else {
      const node = graph.producer(tensor);
      free =
        Boolean(node) &&
        (node!.opType === 'Shape' || node!.opType === 'Size' || node!.inputs.filter(Boolean).every(test));
    }
    memo.set(tensor, free);
    return free;
  };
  return test;
}

/**
 * Walks back from `tensor` through ops that keep a per-tensor quantizer's grid (layout and selection; with
 * `scaled`, also Mul/Div by a constant, as attention's 1/√d) and returns the tensor it comes from.
 */
export function sourceThrough(graph: Graph, tensor: string, dataFree: (t: string) => boolean, scaled = false): string {
  for (let hops = 0; hops < 16; hops++) {
    const node = graph.producer(tensor);
    if (!node) return tensor;
    if (SELECT_OPS.has(node.opType)) {
      tensor = node.inputs[0];
    } else if (node.opType === 'Concat') {
      // Pieces of one tensor put back together (a roll, as torchvision's Swin exports it).
      const pieces = new Set(
        node.inputs.filter((t) => !dataFree(t)).map((t) => sourceThrough(graph, t, dataFree, scaled)),
      );
      if (pieces.size !== 1) return tensor;
      tensor = [...pieces][0];
    } else if (
      scaled &&
      (node.opType === 'Mul' || node.opType === 'Div') &&
      dataFree(node.inputs[1]) &&
      !dataFree(node.inputs[0])
    ) {
      tensor = node.inputs[0];
    } else if (scaled && node.opType === 'Mul' && dataFree(node.inputs[0]) && !dataFree(node.inputs[1])) {
      tensor = node.inputs[1];
    } else {
      return tensor;
    }
  }
  return tensor;
}

const valueReaders = (graph: Graph, tensor: string) => graph.consumers(tensor).filter((n) => n.opType !== 'Shape');

/** Whether `ancestor` is among the tensors `tensor` is computed from (within `limit` nodes). */
function derivesFrom(graph: Graph, tensor: string, ancestor: string, limit = 2000): boolean {
  const seen = new Set<string>();
  const stack = [tensor];
  while (stack.length && seen.size < limit) {
    const t = stack.pop()!;
    if (t === ancestor) return true;
    if (seen.has(t)) continue;
    seen.add(t);
    const node = graph.producer(t);
    if (node) stack.push(...node.inputs.filter(Boolean));
  }
  return false;
}

/** The tensor a chain of layout ops from `tensor` ends at (following single value readers). */
function forwardThroughLayout(graph: Graph, tensor: string): string {
  for (let hops = 0; hops < 8; hops++) {
    const readers = valueReaders(graph, tensor);
    if (readers.length !== 1 || !LAYOUT_OPS.has(readers[0].opType)) return tensor;
    tensor = readers[0].outputs[0];
  }
  return tensor;
}

/** The Evol-Q code's extra activation quantizers that this graph has. */
export function extraMarks(graph: Graph, outputName: string): ExtraMark[] {
  const marks: ExtraMark[] = [];
  const dataFree = dataFreeTester(graph);
  const topo = graph.topoOrder();
  const hasAttention = topo.some((n) => n.opType === 'Softmax');
  const isLinearOutput = (tensor: string) => {
    let node = graph.producer(tensor);
    if (node?.opType === 'Add' && node.inputs.some((t) => graph.isConstant(t)))
      node = graph.producer(node.inputs.find((t) => !graph.isConstant(t))!);
    return node !== undefined && ['MatMul', 'Gemm', 'Conv'].includes(node.opType);
  };
  for (const node of topo) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    if (node.opType === 'Softmax') {
      marks.push({ role: 'attention-logits', tensor: node.inputs[0], node, reads: true, consumers: [node] });
    } else if (node.opType === 'Add' && node.inputs.length === 2 && !node.inputs.some(dataFree)) {
      // A residual Add: one operand (the stream) is an ancestor of the other (the branch), which ends in a linear layer.
      const [a, b] = node.inputs;
      for (const [stream, branch] of [
        [a, b],
        [b, a],
      ]) {
        if (isLinearOutput(sourceThrough(graph, branch, dataFree)) && derivesFrom(graph, branch, stream)) {
          marks.push({ role: 'residual-branch', tensor: branch, node, reads: true, consumers: [node] });
          break;
        }
      }
    }
  }
  // Patch embedding: a Conv on the image whose output is only rearranged into tokens.
  const image = graph.inputs[0]?.name ?? '';
  const patchConv = hasAttention
    ? topo.find(
        (n) =>
          n.opType === 'Conv' &&
          sourceThrough(graph, n.inputs[0], dataFree) === image &&
          valueReaders(graph, n.outputs[0]).length > 0 &&
          valueReaders(graph, n.outputs[0]).every((r) => LAYOUT_OPS.has(r.opType)),
      )
    : undefined;
  if (patchConv) {
    const tokens = patchConv.outputs[0];
    marks.push({
      role: 'patch-embedding',
      tensor: tokens,
      node: patchConv,
      reads: false,
      consumers: valueReaders(graph, tokens),
    });
    let stream = forwardThroughLayout(graph, tokens);
    const concat = valueReaders(graph, stream).find((n) => n.opType === 'Concat');
    if (concat && valueReaders(graph, stream).length === 1) {
      stream = concat.outputs[0];
      marks.push({
        role: 'token-concat',
        tensor: stream,
        node: concat,
        reads: false,
        consumers: valueReaders(graph, stream),
      });
    }
    const add = valueReaders(graph, stream).find(
      (n) => n.opType === 'Add' && n.inputs.some((t) => t !== stream && graph.isConstant(t)),
    );
    const embedding = add?.inputs.find((t) => t !== stream);
    if (add && embedding && graph.constantValue(embedding)) {
      marks.push({ role: 'position-embedding', tensor: embedding, node: add, reads: true, consumers: [add] });
    }
  }
  const logitsNode = graph.producer(outputName);
  if (logitsNode)
    marks.push({
      role: 'logits',
      tensor: outputName,
      node: logitsNode,
      reads: false,
      consumers: valueReaders(graph, outputName),
    });
  return marks;
}

/**
 * Q, K and V from one tensor: the inputs of activation × activation MatMuls (Q·Kᵀ and attn·V) traced back
 * through layout, selection and constant scaling; a tensor two or more of them come from gets one quantizer.
 */
export function sharedQkvMarks(graph: Graph, softmaxOutputs: ReadonlySet<string>): ExtraMark[] {
  const dataFree = dataFreeTester(graph);
  const readersBySource = new Map<string, number>();
  for (const node of graph.topoOrder()) {
    if (node.opType !== 'MatMul' || node.inputs.some((t) => dataFree(t))) continue;
    for (const input of node.inputs) {
      const source = sourceThrough(graph, input, dataFree, true);
      if (softmaxOutputs.has(sourceThrough(graph, input, dataFree))) continue;
      readersBySource.set(source, (readersBySource.get(source) ?? 0) + 1);
    }
  }
  const marks: ExtraMark[] = [];
  for (const [tensor, readers] of readersBySource) {
    const node = graph.producer(tensor);
    if (readers < 2 || !node) continue;
    marks.push({ role: 'qkv', tensor, node, reads: false, consumers: valueReaders(graph, tensor) });
  }
  return marks;
}

/**
 * The quantizer a LayerNorm's output reaches: following its value readers through selection and layout ops
 * until each path meets a marked tensor. Undefined when the paths meet different ones or an unquantized op.
 */
export function downstreamPoint(graph: Graph, output: string, marked: ReadonlySet<string>): string | undefined {
  const found = new Set<string>();
  const stack = [output];
  const seen = new Set<string>();
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (marked.has(t)) {
      found.add(t);
      continue;
    }
    const readers = valueReaders(graph, t);
    if (!readers.length || graph.isGraphOutput(t)) return undefined;
    for (const r of readers) {
      if (!SELECT_OPS.has(r.opType) || r.inputs[0] !== t) return undefined;
      stack.push(...r.outputs.filter(Boolean));
    }
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/** A subsumed mark: its tensor comes (through `sourceThrough`) from a tensor that already has a quantizer. */
export function subsumedBy(
  graph: Graph,
  tensor: string,
  sources: ReadonlySet<string>,
  dataFree: (t: string) => boolean,
): boolean {
  if (sources.has(tensor)) return false;
  return (
    sources.has(sourceThrough(graph, tensor, dataFree)) || sources.has(sourceThrough(graph, tensor, dataFree, true))
  );
}
