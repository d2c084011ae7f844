// Activations that only ever reach the right operands of MatMuls (K and V in attention) stored as int8: the same
// values, which onnxruntime then multiplies as uint8 × int8.
import type { Graph } from '../onnx/graph.js';
import { DataType, onnx, tensorDims } from '../onnx/proto.js';
import { RIGHT_OPERAND_PATH_OPS } from '../onnx/layout.js';
import { isDefaultDomain } from './integer-kernels.js';

/** Whether a tensor reaches only the right operands of activation × activation MatMuls, through layout ops. */
function onlyRightOperands(graph: Graph, tensor: string): boolean {
  if (graph.isGraphOutput(tensor)) return false;
  const consumers = graph.consumers(tensor);
  return (
    consumers.length > 0 &&
    consumers.every((n) => {
      if (RIGHT_OPERAND_PATH_OPS.has(n.opType) && isDefaultDomain(n) && n.inputs[0] === tensor)
        return onlyRightOperands(graph, n.outputs[0]);
      return n.opType === 'MatMul' && isDefaultDomain(n) && n.inputs[1] === tensor && n.inputs[0] !== tensor;
    })
  );
}

/**
 * The 8-bit activations that are only ever right operands of MatMuls (K and V in attention) are quantized to
 * int8 with zero point − 128: the same values, and onnxruntime then runs QLinearMatMul and
 * MatMulIntegerToFloat as uint8 × int8.
 */
export function signedRightOperands(graph: Graph): number {
  let count = 0;
  for (const q of graph.nodes) {
    if (q.opType !== 'QuantizeLinear' || !isDefaultDomain(q)) continue;
    const zero = graph.initializers.get(q.inputs[2] ?? '');
    if (zero?.dataType !== DataType.UINT8 || tensorDims(zero).length !== 0) continue;
    const dequantizers = graph.consumers(q.outputs[0]);
    if (graph.isGraphOutput(q.outputs[0]) || !dequantizers.length) continue;
    if (
      !dequantizers.every(
        (dq) =>
          dq.opType === 'DequantizeLinear' &&
          dq.inputs[0] === q.outputs[0] &&
          dq.inputs[2] === q.inputs[2] &&
          onlyRightOperands(graph, dq.outputs[0]),
      )
    )
      continue;
    const signed = graph.uniqueName(`${q.inputs[2]}::int8`);
    graph.addInitializer(
      onnx.TensorProto.create({
        name: signed,
        dims: [],
        dataType: DataType.INT8,
        rawData: Uint8Array.of((zero.rawData![0] - 128) & 0xff),
      }),
    );
    q.inputs[2] = signed;
    for (const dq of dequantizers) dq.inputs[2] = signed;
    count++;
  }
  if (count) graph.invalidate();
  return count;
}
