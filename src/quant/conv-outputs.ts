// --conv-outputs: a quantizer on the output of every Conv that no quantizer reads next (ResNet's convolutions before
// the residual Add, MobileNet's before HardSwish). onnxruntime fuses DequantizeLinear → Conv → QuantizeLinear into
// QLinearConv; without a quantizer after it a Conv runs in float on weights dequantized at every run
// (docs/notes/speed.md). A Conv followed by a ReLU whose output is quantized is fused already (onnxruntime folds
// the ReLU into that quantizer).
import type { Graph, Node } from '../onnx/graph.js';

export interface ConvOutputMark {
  tensor: string;
  /** The Conv that writes it. */
  node: Node;
  consumers: Node[];
}

/** The outputs of the quantized Convs (`convs`) that no quantizer in `quantized` reads next. */
export function convOutputMarks(
  graph: Graph,
  convs: readonly Node[],
  quantized: ReadonlySet<string>,
): ConvOutputMark[] {
  const marks: ConvOutputMark[] = [];
  for (const conv of convs) {
    const out = conv.outputs[0];
    const consumers = graph.consumers(out);
    if (quantized.has(out) || graph.isGraphOutput(out) || !consumers.length) continue;
    const [only] = consumers;
    if (consumers.length === 1 && only.opType === 'Relu' && quantized.has(only.outputs[0])) continue;
    marks.push({ tensor: out, node: conv, consumers });
  }
  return marks;
}
